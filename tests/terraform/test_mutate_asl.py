"""The mutant generator of benchmarks/mutate_asl.py: it reads the templates as JSON with
`${...}` interpolations (and refuses what it cannot read), and every mutant it makes of
the real templates and workflow.tf renders through terraform, as the deployment renders
it, to valid JSON that differs from the original in one Retry or Catch element."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.mutate_asl import (
    TemplateParser,
    TemplateSyntaxError,
    check_change,
    generate,
    remove_item,
    remove_member,
    validate,
)
from tests.terraform.helpers import REPO_ROOT

TEMPLATE = """{
  "Retry": ${lambda_retry},
  "Resource": "arn:${partition}:states:::lambda:invoke",
  "Odd": "${jsonencode({a = "}"})} and $${not_an_interpolation}",
  "Catch": [
    {"ErrorEquals": ["A", "B"], "ResultPath": "$.error", "Next": "${name_prefix}Done"}
  ]
}"""


def test_the_parser_keeps_every_value_in_its_place_in_the_text():
    root = TemplateParser(TEMPLATE, "t").parse()

    def text(node) -> str:
        return TEMPLATE[node.start : node.end]

    assert [m.key for m in root.members] == ["Retry", "Resource", "Odd", "Catch"]
    assert root.get("Retry").value.kind == "interpolation"
    assert text(root.get("Retry").value) == "${lambda_retry}"
    assert root.get("Resource").value.raw == "arn:${partition}:states:::lambda:invoke"
    assert root.get("Odd").value.raw == '${jsonencode({a = "}"})} and $${not_an_interpolation}'
    [catcher] = root.get("Catch").value.items
    assert [text(e) for e in catcher.get("ErrorEquals").value.items] == ['"A"', '"B"']
    assert catcher.get("Next").value.raw == "${name_prefix}Done"


def test_removals_keep_the_json_valid():
    plain = '{"a": [1, 2, 3], "b": {"x": 1, "y": 2}, "c": [4]}'
    root = TemplateParser(plain, "t").parse()
    edits = [remove_item(plain, root.get("a").value, i) for i in range(3)]
    edits += [remove_member(plain, root.get("b").value, k) for k in ("x", "y")]
    edits += [remove_item(plain, root.get("c").value, 0), remove_member(plain, root, "b")]

    results = [json.loads(plain[:start] + new + plain[end:]) for start, end, new in edits]

    assert [r["a"] for r in results[:3]] == [[2, 3], [1, 3], [1, 2]]
    assert [r["b"] for r in results[3:5]] == [{"y": 2}, {"x": 1}]
    assert results[5]["c"] == []  # an only item leaves the array, empty
    assert results[6] == {"a": [1, 2, 3], "c": [4]}


@pytest.mark.parametrize(
    "text",
    [
        '{\n  "a": %{ if x }1%{ else }2%{ endif }\n}',
        '{\n  "a": "%{ for s in xs }${s}%{ endfor }"\n}',
    ],
    ids=["value", "in-string"],
)
def test_a_template_directive_is_refused_with_its_line(text):
    with pytest.raises(TemplateSyntaxError, match=r"^t:2: a %\{ \} template directive"):
        TemplateParser(text, "t").parse()


def test_an_unclosed_interpolation_is_refused_with_its_line():
    with pytest.raises(TemplateSyntaxError, match=r"^t:2: `\$\{` is never closed"):
        TemplateParser('{\n  "a": ${oops\n', "t").parse()


@pytest.fixture(scope="module")
def mutants(state_machine_definitions):
    return generate(REPO_ROOT, state_machine_definitions["aws"])


@pytest.mark.terraform
def test_mutants_cover_every_retrier_and_catcher(mutants):
    ids = {m.id for m in mutants}

    # The bug issue 19 found: the batch item no longer retrying the endpoint's 503s.
    assert "workflow:lambda_retry[0]:-EndpointUnavailableError" in ids
    assert "workflow:sns_retry[0]:MaxAttempts=0" in ids
    assert "single_image:SerializeImageData:-Retry" in ids
    assert "batch_item:${name_prefix}FilterLowConfidence:Catch[1]:-catcher" in ids
    assert "failure_alert:PublishFailureAlert:Catch[0]:-ResultPath" in ids
    assert "single_image:ClassifyImage:Catch[0]:Next=FilterLowConfidence" in ids
    kinds = {m.kind for m in mutants}
    assert {"retry-error", "retry-max-attempts-0", "retry-drop-JitterStrategy"} <= kinds
    assert {"drop-retry", "catch-error", "drop-catcher"} <= kinds
    assert {"catch-drop-ResultPath", "catch-next"} <= kinds


@pytest.mark.terraform
@pytest.mark.slow
def test_every_mutant_renders_and_differs_in_one_retry_or_catch_element(
    mutants, state_machine_definitions, tmp_path: Path
):
    base = {"aws": state_machine_definitions["aws"]}

    problems = {
        m.id: validate(m, REPO_ROOT, base, tmp_path / "work", targets={"aws": []}) for m in mutants
    }

    assert {i: p for i, p in problems.items() if p} == {}


@pytest.mark.terraform
def test_a_change_outside_one_retry_or_catch_element_is_refused(mutants, state_machine_definitions):
    mutant = mutants[0]  # one of workflow.tf's retriers: any state may show it
    before = state_machine_definitions["aws"]
    single = json.loads(before["single_image"])
    single["States"]["SerializeImageData"]["Next"] = "FilterLowConfidence"
    moved = {**before, "single_image": json.dumps(single)}
    single["States"]["ClassifyImage"]["Catch"][0]["Next"] = "FailWithOriginalError"
    single["States"]["SerializeImageData"]["Next"] = "ClassifyImage"
    single["States"]["FilterLowConfidence"]["Catch"][0]["ResultPath"] = "$.other"
    two = {**before, "single_image": json.dumps(single)}

    assert check_change(mutant, before, before) == "renders exactly as the original"
    assert check_change(mutant, before, moved).startswith("changes more than Retry/Catch")
    assert check_change(mutant, before, two).startswith("more than one change")
