"""Mutation testing of the state machines' Retry and Catch choices (issue 19).

mutmut mutates Python; the workflow's error handling lives in Terraform instead: the
Catch blocks and the place of each Retry in terraform/templates/*.asl.json.tftpl (JSON
with `${...}` interpolations, rendered by templatefile), and the retriers every Task
shares in terraform/workflow.tf's locals (`lambda_retry`, `sns_retry`: HCL turned into
JSON by jsonencode). This makes mutants of those, one change each:

- drop one error name from a retrier's or a catcher's ErrorEquals;
- drop a state's Retry, or one catcher (the whole Catch where it was the only one);
- set a retrier's MaxAttempts to 0; drop one of its optional fields (IntervalSeconds,
  MaxAttempts, BackoffRate, MaxDelaySeconds, JitterStrategy: AWS's defaults apply);
- drop a catcher's ResultPath; point its Next at another state of the same scope: the
  state's own Next (carry on as if the step had worked), another catcher's target, or
  the state its target goes on to (skip the handler's first step).

Each mutant is rendered by terraform the way the deployment renders it
(deployment/asl_render.py) and must give valid JSON that differs from the original
rendering in Retry or Catch elements only, one change (repeated in every state that shares
the element): otherwise it is "invalid", not tested. A valid mutant is applied to a copy of
the repository (`git archive` of HEAD, taken once per run) and the selected tests run
there with `-x`: the rendered-definition checks first, then `terraform test`, then a small
set of deployed-workflow tests on the local cloud (SELECTION). The first failing test
kills it; passing everything, it survived; a skip, a timeout or pytest's own error is
"error" (nothing learnt).

    .venv/bin/python -m benchmarks.mutate_asl                 # every mutant: hours
    .venv/bin/python -m benchmarks.mutate_asl --list          # mutants, rendered and checked
    .venv/bin/python -m benchmarks.mutate_asl --only 'single_image:*' --only ID
    .venv/bin/python -m benchmarks.mutate_asl --resume        # skip mutants already measured
    .venv/bin/python -m benchmarks.mutate_asl --report        # the summary of the last run

Results: benchmarks/results/mutation_asl.json (one record per mutant) and the section
"ASL templates: retry and catch" of benchmarks/results/mutation.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deployment.asl_render import RenderError, render_definitions
from deployment.progress import progress_bar

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = "terraform/templates"
WORKFLOW_TF = "terraform/workflow.tf"
RESULTS_JSON = REPO_ROOT / "benchmarks" / "results" / "mutation_asl.json"
SHARED_ARCHIVE = REPO_ROOT.parent / "shared" / "data" / "cifar-100-scones-dev.tar.gz"

# The tests run against every mutant, fastest first (pytest keeps this order; with -x the
# first failure ends the run, and the local cloud is only started once an integration test
# is reached). Left out on purpose: the drawings' staleness check
# (test_state_machine_diagrams: it fails on any change to a definition, so it would "kill"
# every mutant without checking a behaviour) and the suite's self-test that plants its own
# Retry (test_suite_fails_when_a_named_input_error_is_retried: 2 minutes, same outcome for
# every mutant).
SELECTION = (
    # The definitions rendered by terraform pass asl-validator and the local cloud's
    # CreateStateMachine checks (what AWS would refuse).
    "tests/terraform/test_terraform_asl_validator.py::test_every_deployed_definition_passes_asl_validator",
    "tests/terraform/test_terraform_asl_in_moto.py",
    # Retry and Catch assertions on the rendered definitions (terraform test; both suites
    # run once, in the fixture both tests share).
    "tests/terraform/test_aws_rules.py",
    "tests/terraform/test_terraform_suites.py::test_terraform_test_suite_passes",
    # The deployed workflows on the local cloud (one deployment for all of them): retries of
    # the endpoint's 503s, single image and batch; the single-image Catch -> alert -> Fail
    # with the original error; the Lambda error message kept without its stack trace; batch
    # items recorded as passed / low_confidence / error; the Map states' Catch on bad
    # batch input and a missing bucket; the alert's own Catch when publishing is denied.
    "tests/integration/test_deployed_workflow.py::test_transient_endpoint_failure_is_retried_then_succeeds",
    "tests/integration/test_deployed_workflow.py::test_low_confidence_image_fails_loudly_and_alerts",
    "tests/integration/test_deployed_workflow.py::test_batch_over_a_list_finishes_every_item_with_its_status",
    "tests/integration/test_deployed_nothing_lost.py::test_a_lambda_error_alerts_with_its_message_not_its_stack_trace",
    "tests/integration/test_deployed_nothing_lost.py::test_bad_batch_input_alerts_once_and_fails",
    "tests/integration/test_deployed_nothing_lost.py::test_a_prefix_in_a_missing_bucket_alerts_once_and_fails",
    "tests/integration/test_deployed_nothing_lost.py::test_a_transient_endpoint_outage_mid_batch_is_retried_not_recorded",
    "tests/integration/test_deployed_iam.py::test_single_image_machine_needs_publish_alerts",
    # Written for this tool's survivors, last: a mutant they kill got through all the above.
    # The rendered-definition one runs with the deployed ones; it takes a second.
    "tests/terraform/test_asl_retry_catch.py",
    "tests/integration/test_deployed_retry_catch.py",
)
# Where a killing test sits: the checks of the rendered definitions, `terraform test`, or
# the workflows deployed to the local cloud.
STAGES = (
    ("terraform/tests/", "terraform test"),
    ("tests/integration/", "deployed"),
    ("tests/terraform/test_aws_rules.py", "terraform test"),
    ("tests/terraform/test_terraform_suites.py", "terraform test"),
    ("tests/terraform/", "rendered"),
)
MUTANT_TIMEOUT_S = 45 * 60
RETRIER_FIELDS = (
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
)


class TemplateSyntaxError(ValueError):
    """A template (or workflow.tf's retriers) is not in the shape this tool can mutate."""


# ------------------------------------------------------------------ templates: JSON + ${...}


@dataclass
class Node:
    """A JSON value of a template with its place in the text: `start`..`end` (exclusive).
    kind is object, array, string, number, literal or interpolation (a `${...}` standing
    for a whole value). A string's `raw` is its source text between the quotes."""

    kind: str
    start: int
    end: int
    raw: str = ""
    items: list[Node] = field(default_factory=list)  # array
    members: list[Member] = field(default_factory=list)  # object

    def get(self, key: str) -> Member | None:
        return next((m for m in self.members if m.key == key), None)


@dataclass
class Member:
    key: str  # the key's source text between the quotes
    start: int  # the key's opening quote
    value: Node

    @property
    def end(self) -> int:
        return self.value.end


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def interpolation_end(text: str, start: int, where: str) -> int:
    """The offset after the `}` closing the `${` at `start` (braces in the HCL expression
    balance; quoted strings inside it are skipped, their own `${...}` included)."""
    depth, i = 0, start + 1
    while i < len(text):
        char = text[i]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif char == '"':
            i = hcl_string_end(text, i, where) - 1
        i += 1
    raise TemplateSyntaxError(f"{where}:{line_of(text, start)}: `${{` is never closed")


def hcl_string_end(text: str, start: int, where: str) -> int:
    """The offset after the quote closing the HCL string opened at `start`."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith("$${", i) or text.startswith("%%{", i):
            i += 3
        elif text.startswith("${", i) or text.startswith("%{", i):
            i = interpolation_end(text, i, where)
        elif text[i] == '"':
            return i + 1
        else:
            i += 1
    raise TemplateSyntaxError(f"{where}:{line_of(text, start)}: a string is never closed")


class TemplateParser:
    """A JSON parser that keeps every value's place in the template text. `${...}` may
    stand for a whole value or sit inside a string; a `%{...}` directive is refused (it
    could add or remove JSON structure, so no text edit could be known to be one change)."""

    def __init__(self, text: str, where: str) -> None:
        self.text, self.where, self.i = text, where, 0

    def fail(self, what: str) -> TemplateSyntaxError:
        return TemplateSyntaxError(f"{self.where}:{line_of(self.text, self.i)}: {what}")

    def parse(self) -> Node:
        node = self.value()
        self.space()
        if self.i != len(self.text):
            raise self.fail("text after the top-level value")
        return node

    def space(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t\r\n":
            self.i += 1

    def directive_check(self) -> None:
        if self.text.startswith("%{", self.i):
            raise self.fail(
                "a %{ } template directive: mutate_asl mutates JSON structure and cannot see "
                "through directives; write the structure as plain JSON or extend the parser"
            )

    def value(self) -> Node:
        self.space()
        self.directive_check()
        start, text = self.i, self.text
        if text.startswith("${", start):
            self.i = interpolation_end(text, start, self.where)
            return Node("interpolation", start, self.i)
        char = text[start : start + 1]
        if char == "{":
            return self.container("object", "}")
        if char == "[":
            return self.container("array", "]")
        if char == '"':
            return self.string()
        match = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null").match(text, start)
        if not match:
            raise self.fail(f"expected a JSON value, found {text[start : start + 20]!r}")
        self.i = match.end()
        return Node("number" if char not in "tfn" else "literal", start, self.i)

    def string(self) -> Node:
        start, text = self.i, self.text
        i = start + 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
            elif text.startswith("$${", i) or text.startswith("%%{", i):
                i += 3
            elif text.startswith("${", i):
                i = interpolation_end(text, i, self.where)
            elif text.startswith("%{", i):
                self.i = i
                self.directive_check()
            elif text[i] == '"':
                self.i = i + 1
                return Node("string", start, self.i, raw=text[start + 1 : i])
            else:
                i += 1
        raise self.fail("a string is never closed")

    def container(self, kind: str, closer: str) -> Node:
        node = Node(kind, self.i, -1)
        self.i += 1
        self.space()
        if self.text.startswith(closer, self.i):
            self.i += 1
            node.end = self.i
            return node
        while True:
            self.space()
            if kind == "object":
                self.directive_check()
                if not self.text.startswith('"', self.i):
                    raise self.fail("expected a quoted key")
                key = self.string()
                self.space()
                if not self.text.startswith(":", self.i):
                    raise self.fail("expected ':' after a key")
                self.i += 1
                node.members.append(Member(key.raw, key.start, self.value()))
            else:
                node.items.append(self.value())
            self.space()
            if self.text.startswith(",", self.i):
                self.i += 1
            elif self.text.startswith(closer, self.i):
                self.i += 1
                node.end = self.i
                return node
            else:
                raise self.fail(f"expected ',' or '{closer}'")


# ------------------------------------------------------------------ the mutants


@dataclass(frozen=True)
class Mutant:
    """One change: `text[start:end]` of `path` (relative to the repository) replaced.
    `state` is the template's name of the state it changes (None: every state using a
    shared retrier); `element` where, e.g. ("Catch", 0, "Next")."""

    id: str
    path: str
    kind: str
    description: str
    start: int
    end: int
    replacement: str
    state: str | None = None
    element: tuple = ()

    def apply(self, text: str) -> str:
        return text[: self.start] + self.replacement + text[self.end :]


def removal(text: str, siblings: list[tuple[int, int]], index: int) -> tuple[int, int]:
    """The span to delete to remove sibling `index` (spans of the items or members of one
    JSON container) with its separating comma, keeping the others' layout."""
    start, end = siblings[index]
    if index + 1 < len(siblings):
        return start, siblings[index + 1][0]  # the item, its comma and the space after it
    if index > 0:
        return siblings[index - 1][1], end  # the comma before the last item, and the item
    raise ValueError("an only item is replaced, not removed")


def remove_item(text: str, container: Node, index: int) -> tuple[int, int, str]:
    siblings = [(n.start, n.end) for n in container.items] or [
        (m.start, m.end) for m in container.members
    ]
    if len(siblings) == 1:  # the container stays, empty
        return container.start + 1, container.end - 1, ""
    start, end = removal(text, siblings, index)
    return start, end, ""


def remove_member(text: str, container: Node, key: str) -> tuple[int, int, str]:
    index = next(i for i, m in enumerate(container.members) if m.key == key)
    if len(container.members) == 1:
        return container.start + 1, container.end - 1, ""
    start, end = removal(text, [(m.start, m.end) for m in container.members], index)
    return start, end, ""


def states_of(root: Node) -> Node:
    """The States object of a template: its "States" member, or the template itself for a
    fragment of states (failure_alert.asl.json.tftpl is merged into each machine)."""
    member = root.get("States")
    return member.value if member else root


def template_name(path: Path) -> str:
    return path.name.removesuffix(".asl.json.tftpl")


@dataclass
class Scope:
    """The states a template state can go to, in the template's own spelling: `names`,
    the targets of the scope's other catchers, and where each state goes next."""

    names: set[str]
    catch_targets: set[str]
    successor: dict[str, str]


def name_pattern(raw: str) -> re.Pattern[str]:
    """A regex for what a state name with `${...}` in it renders to."""
    parts = re.split(r"(\$\{[^}]*\})", raw)
    return re.compile("".join("(.*?)" if p.startswith("${") else re.escape(p) for p in parts if p))


def machine_scopes(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every States object of the rendered machines (each machine, each Map's processor)."""
    scopes = []

    def walk(definition: dict[str, Any]) -> None:
        scopes.append(definition["States"])
        for state in definition["States"].values():
            for key in ("ItemProcessor", "Iterator"):
                if key in state:
                    walk(state[key])
            for branch in state.get("Branches", []):
                walk(branch)

    for text in rendered.values():
        walk(json.loads(text))
    return scopes


def template_scopes(own: list[str], rendered: dict[str, str]) -> list[tuple[dict, tuple]]:
    """The rendered States objects that hold a template's states (all of them, with the
    same values of the names' interpolations): one for a machine's template, one per Map
    for the item template, one per machine for a fragment merged into each."""
    holders = []
    for states in machine_scopes(rendered):
        for name in states:
            found = name_pattern(own[0]).fullmatch(name)
            if found and all(
                any(
                    (m := name_pattern(o).fullmatch(n)) and m.groups() == found.groups()
                    for n in states
                )
                for o in own
            ):
                holders.append((states, found.groups()))
                break
    return holders


def scope_for(own: list[str], rendered: dict[str, str]) -> Scope:
    """The scope of a template's states, from the original rendering, with the names
    spelt as the template spells them (`${name_prefix}RecordError`); for a fragment merged
    into several machines, what all of them have."""
    holders = template_scopes(own, rendered)
    if not holders:
        raise TemplateSyntaxError(f"the states {own} are in no rendered definition together")

    def spelt(rendered_name: str, groups: tuple[str, ...]) -> str:
        for name in own:  # a state of the same template, with the same interpolations
            found = name_pattern(name).fullmatch(rendered_name)
            if found and found.groups() == groups:
                return name
        return rendered_name  # a state merged in from another template: a plain name

    views = []
    for states, groups in holders:
        targets = {spelt(c["Next"], groups) for s in states.values() for c in s.get("Catch", [])}
        successor = {
            spelt(n, groups): spelt(s.get("Next") or s.get("Default"), groups)
            for n, s in states.items()
            if s.get("Next") or s.get("Default")
        }
        views.append(Scope({spelt(n, groups) for n in states}, targets, successor))
    names = set.intersection(*(v.names for v in views))
    return Scope(
        names,
        set.intersection(*(v.catch_targets for v in views)) & names,
        {
            n: t
            for n, t in views[0].successor.items()
            if all(v.successor.get(n) == t for v in views)
        },
    )


def retrier_mutants(
    path: str, text: str, retriers: Node, name: str, state: str | None
) -> list[Mutant]:
    """Mutants of a JSON array of retriers (a template's literal Retry)."""
    mutants = []
    for r, retrier in enumerate(retriers.items):
        label = f"{name}[{r}]"
        errors = retrier.get("ErrorEquals")
        for e, error in enumerate(errors.value.items if errors else []):
            mutants.append(
                Mutant(
                    f"{label}:-{error.raw}",
                    path,
                    "retry-error",
                    f"{label}: {error.raw} dropped from ErrorEquals",
                    *remove_item(text, errors.value, e),
                    state,
                    ("Retry", r, "ErrorEquals"),
                )
            )
        attempts = retrier.get("MaxAttempts")
        if attempts:
            mutants.append(
                Mutant(
                    f"{label}:MaxAttempts=0",
                    path,
                    "retry-max-attempts-0",
                    f"{label}: MaxAttempts {text[attempts.value.start : attempts.value.end]} -> 0",
                    attempts.value.start,
                    attempts.value.end,
                    "0",
                    state,
                    ("Retry", r, "MaxAttempts"),
                )
            )
        for key in RETRIER_FIELDS:
            if retrier.get(key):
                mutants.append(
                    Mutant(
                        f"{label}:-{key}",
                        path,
                        f"retry-drop-{key}",
                        f"{label}: {key} dropped (AWS's default applies)",
                        *remove_member(text, retrier, key),
                        state,
                        ("Retry", r, key),
                    )
                )
    return mutants


def template_mutants(path: Path, rendered: dict[str, str], root: Path = REPO_ROOT) -> list[Mutant]:
    """The mutants of one template's Retry and Catch fields."""
    rel = path.relative_to(root).as_posix()
    text = path.read_text(encoding="utf-8")
    states = states_of(TemplateParser(text, rel).parse())
    own = [m.key for m in states.members]
    prefix = template_name(path)
    scope = scope_for(own, rendered)
    mutants = []
    for member in states.members:
        state, name = member.value, member.key
        label = f"{prefix}:{name}"
        retry = state.get("Retry")
        if retry:
            mutants.append(
                Mutant(
                    f"{label}:-Retry",
                    rel,
                    "drop-retry",
                    f"{label}: its Retry dropped",
                    *remove_member(text, state, "Retry"),
                    name,
                    ("Retry",),
                )
            )
            if retry.value.kind == "array":
                mutants += retrier_mutants(rel, text, retry.value, f"{label}:Retry", name)
        catch = state.get("Catch")
        if not catch:
            continue
        catchers = catch.value.items
        for c, catcher in enumerate(catchers):
            where = f"{label}:Catch[{c}]"
            errors = catcher.get("ErrorEquals")
            for e, error in enumerate(errors.value.items):
                mutants.append(
                    Mutant(
                        f"{where}:-{error.raw}",
                        rel,
                        "catch-error",
                        f"{where}: {error.raw} dropped from ErrorEquals",
                        *remove_item(text, errors.value, e),
                        name,
                        ("Catch", c, "ErrorEquals"),
                    )
                )
            if len(catchers) > 1:
                span = remove_item(text, catch.value, c)
                what = f"{where}: the catcher dropped"
            else:
                span = remove_member(text, state, "Catch")
                what = f"{where}: the only catcher dropped (no Catch)"
            mutants.append(
                Mutant(f"{where}:-catcher", rel, "drop-catcher", what, *span, name, ("Catch", c))
            )
            if catcher.get("ResultPath"):
                mutants.append(
                    Mutant(
                        f"{where}:-ResultPath",
                        rel,
                        "catch-drop-ResultPath",
                        f"{where}: ResultPath dropped (the error replaces the input)",
                        *remove_member(text, catcher, "ResultPath"),
                        name,
                        ("Catch", c, "ResultPath"),
                    )
                )
            target = catcher.get("Next").value
            own_next = state.get("Next")
            alternatives = set(scope.catch_targets)
            if own_next and own_next.value.kind == "string":
                alternatives.add(own_next.value.raw)
            if target.raw in scope.successor:
                alternatives.add(scope.successor[target.raw])
            for other in sorted((alternatives & scope.names) - {target.raw, name}):
                mutants.append(
                    Mutant(
                        f"{where}:Next={other}",
                        rel,
                        "catch-next",
                        f"{where}: Next {target.raw} -> {other}",
                        target.start,
                        target.end,
                        f'"{other}"',
                        name,
                        ("Catch", c, "Next"),
                    )
                )
    return mutants


# ------------------------------------------------------------------ workflow.tf: HCL retriers


@dataclass
class HclItem:
    start: int
    end: int
    text: str


def hcl_expression_end(text: str, start: int, where: str) -> int:
    """The end of the HCL expression starting at `start`: the end of its line, with
    brackets, braces and parentheses balanced across lines."""
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char == '"':
            i = hcl_string_end(text, i, where)
            continue
        if char in "[{(":
            depth += 1
        elif char in "]})":
            if depth == 0:
                return i
            depth -= 1
        elif char == "\n" and depth == 0:
            return i
        i += 1
    return i


def hcl_list(text: str, start: int, end: int, where: str) -> list[HclItem]:
    """The string items of the HCL list literal text[start:end] (`[` ... `]`)."""
    if text[start] != "[" or text[end - 1] != "]":
        raise TemplateSyntaxError(f"{where}:{line_of(text, start)}: expected a list literal")
    items, i = [], start + 1
    while True:
        while i < end - 1 and text[i] in " \t\r\n,":
            i += 1
        if i >= end - 1:
            return items
        if text[i] != '"':
            raise TemplateSyntaxError(
                f"{where}:{line_of(text, i)}: ErrorEquals must list quoted error names"
            )
        close = hcl_string_end(text, i, where)
        items.append(HclItem(i, close, text[i + 1 : close - 1]))
        i = close


def hcl_line_span(text: str, start: int, end: int, where: str) -> tuple[int, int]:
    """The whole line(s) of an attribute or list item written alone on its line, with its
    trailing comma: deleting them removes it cleanly."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    if text[line_start:start].strip() or text[end:line_end].strip() not in ("", ","):
        raise TemplateSyntaxError(f"{where}:{line_of(text, start)}: expected it alone on its line")
    return line_start, line_end + 1


def hcl_local(text: str, name: str, where: str) -> tuple[int, int]:
    """The span of the expression of `name = ...` in a locals block (the definition, not a
    reference such as `x = local.name`)."""
    found = [
        m
        for m in re.finditer(rf"^[ \t]*{re.escape(name)}[ \t]*=[ \t]*", text, re.MULTILINE)
        if not text.startswith(f"local.{name}", m.end())
    ]
    if len(found) != 1:
        raise TemplateSyntaxError(f"{where}: expected one local `{name} = ...`, found {len(found)}")
    start = found[0].end()
    return start, hcl_expression_end(text, start, where)


def workflow_retrier_mutants(root: Path = REPO_ROOT) -> list[Mutant]:
    """Mutants of the retriers workflow.tf defines (`x = jsonencode([{ ... }])`) for the
    templates' `"Retry": ${x}`."""
    path = root / WORKFLOW_TF
    text = path.read_text(encoding="utf-8")
    names = sorted(
        {
            name
            for template in sorted((root / TEMPLATES).glob("*.asl.json.tftpl"))
            for name in re.findall(
                r'"Retry"\s*:\s*\$\{\s*(\w+)\s*\}', template.read_text(encoding="utf-8")
            )
        }
    )
    mutants = []
    for name in names:
        start, end = hcl_local(text, name, WORKFLOW_TF)
        body = re.fullmatch(r"jsonencode\(\[\{(.*)\}\]\)", text[start:end], re.DOTALL)
        if not body:
            raise TemplateSyntaxError(
                f"{WORKFLOW_TF}: {name} is not `jsonencode([{{ ... }}])` (one retrier)"
            )
        body_start = start + body.start(1)
        attributes = {}
        for found in re.finditer(r"^[ \t]*(\w+)[ \t]*=[ \t]*", body.group(1), re.MULTILINE):
            value_start = body_start + found.end()
            value_end = hcl_expression_end(text, value_start, WORKFLOW_TF)
            attributes[found.group(1)] = (body_start + found.start(1), value_start, value_end)
        if "ErrorEquals" not in attributes:
            raise TemplateSyntaxError(f"{WORKFLOW_TF}: {name} has no ErrorEquals")
        label = f"workflow:{name}[0]"
        _, value_start, value_end = attributes["ErrorEquals"]
        reference = re.fullmatch(r"local\.(\w+)", text[value_start:value_end].strip())
        if reference:
            value_start, value_end = hcl_local(text, reference.group(1), WORKFLOW_TF)
        items = hcl_list(text, value_start, value_end, WORKFLOW_TF)
        multiline = "\n" in text[value_start:value_end]
        for index, item in enumerate(items):
            if multiline:
                span = hcl_line_span(text, item.start, item.end, WORKFLOW_TF)
            else:
                siblings = [(i.start, i.end) for i in items]
                span = removal(text, siblings, index) if len(items) > 1 else (item.start, item.end)
            mutants.append(
                Mutant(
                    f"{label}:-{item.text}",
                    WORKFLOW_TF,
                    "retry-error",
                    f"{name}: {item.text} dropped from ErrorEquals",
                    *span,
                    "",
                    None,
                    ("Retry", 0, "ErrorEquals"),
                )
            )
        if "MaxAttempts" in attributes:
            _, value_start, value_end = attributes["MaxAttempts"]
            mutants.append(
                Mutant(
                    f"{label}:MaxAttempts=0",
                    WORKFLOW_TF,
                    "retry-max-attempts-0",
                    f"{name}: MaxAttempts {text[value_start:value_end].strip()} -> 0",
                    value_start,
                    value_end,
                    "0",
                    None,
                    ("Retry", 0, "MaxAttempts"),
                )
            )
        for key in RETRIER_FIELDS:
            if key in attributes:
                key_start, _, value_end = attributes[key]
                mutants.append(
                    Mutant(
                        f"{label}:-{key}",
                        WORKFLOW_TF,
                        f"retry-drop-{key}",
                        f"{name}: {key} {text[attributes[key][1] : value_end].strip()} dropped "
                        "(AWS's default applies)",
                        *hcl_line_span(text, key_start, value_end, WORKFLOW_TF),
                        "",
                        None,
                        ("Retry", 0, key),
                    )
                )
    return mutants


def generate(root: Path, rendered: dict[str, str]) -> list[Mutant]:
    """Every mutant of the repository at `root`; `rendered` is its original rendering
    ({machine: definition JSON}), which gives each state its scope."""
    mutants = workflow_retrier_mutants(root)
    for template in sorted((root / TEMPLATES).glob("*.asl.json.tftpl")):
        mutants += template_mutants(template, rendered, root)
    ids = Counter(m.id for m in mutants)
    duplicated = [i for i, n in ids.items() if n > 1]
    if duplicated:
        raise TemplateSyntaxError(f"mutant ids are not unique: {duplicated}")
    return mutants


# ------------------------------------------------------------------ rendering and checking


def terraform_env() -> dict[str, str]:
    """The caller's environment without the Terraform settings a shell may carry."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TF_VAR_", "TF_WORKSPACE", "TF_DATA_DIR", "TF_CLI_ARGS"))
    }
    env["CHECKPOINT_DISABLE"] = "1"
    return env


def render(
    terraform_dir: Path, work: Path, targets: dict[str, list[str]] | None = None
) -> dict[str, dict[str, str]]:
    """{target: {machine: definition}} as the deployment renders them (every target of
    asl_render.RENDER_TARGETS unless `targets` says); a definition that is not JSON is a
    RenderError."""
    rendered = render_definitions(work, terraform_env(), targets, terraform_dir)
    for target, definitions in rendered.items():
        for machine, definition in definitions.items():
            try:
                json.loads(definition)
            except json.JSONDecodeError as exc:
                raise RenderError(f"{target}/{machine} renders to invalid JSON: {exc}") from exc
    return rendered


MISSING = "<missing>"


def differences(before: Any, after: Any, path: tuple = ()) -> list[tuple[tuple, Any, Any]]:
    """(path, before, after) for each difference; a list whose length changed is one
    difference at the list's path, a key only on one side one at the key's path."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after)):
            found += differences(before.get(key, MISSING), after.get(key, MISSING), (*path, key))
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for d in differences(b, a, (*path, i))
        ]
    return [] if before == after else [(path, before, after)]


def state_changes(before: dict[str, str], after: dict[str, str]) -> set[tuple[str, tuple]]:
    """{(state, path inside the state)} of every difference between two renderings of the
    machines: `state` as rendered (with its Map prefix); a difference outside a state is
    a TemplateSyntaxError."""
    changes = set()
    for machine in sorted(set(before) | set(after)):
        for path, _, _ in differences(
            json.loads(before.get(machine, "null")), json.loads(after.get(machine, "null")), ()
        ):
            # The innermost "States" key of the path: the state is the key after it.
            positions = [i for i, key in enumerate(path[:-1]) if key == "States"]
            if not positions or positions[-1] + 2 > len(path):
                raise TemplateSyntaxError(f"{machine}: a change outside any state at {path}")
            at = positions[-1]
            changes.add((path[at + 1], path[at + 2 :]))
    return changes


def check_change(mutant: Mutant, before: dict[str, str], after: dict[str, str]) -> str | None:
    """None when the renderings differ in the mutant's one Retry/Catch element only;
    otherwise what is wrong."""
    changes = state_changes(before, after)
    if not changes:
        return "renders exactly as the original"
    inside = {inner for _, inner in changes}
    if any(not inner or inner[0] not in ("Retry", "Catch") for inner in inside):
        return f"changes more than Retry/Catch: {sorted(inside, key=str)}"
    if len(inside) != 1:
        return f"more than one change: {sorted(inside, key=str)}"
    if mutant.state is not None:
        pattern = name_pattern(mutant.state)
        strays = sorted(s for s, _ in changes if not pattern.fullmatch(s))
        if strays:
            return f"changes states other than {mutant.state}: {strays}"
    return None


def validate(
    mutant: Mutant,
    root: Path,
    base: dict[str, dict[str, str]],
    work: Path,
    targets: dict[str, list[str]] | None = None,
) -> str | None:
    """None when the mutant renders to valid JSON that differs from `base` in its one
    element, for every target (of `targets`, default all); otherwise why it is invalid."""
    scratch = work / "terraform"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(
        root / "terraform", scratch, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*")
    )
    target = work / mutant.path
    target.write_text(mutant.apply(target.read_text(encoding="utf-8")), encoding="utf-8")
    try:
        rendered = render(scratch, work / "render", targets)
    except RenderError as exc:
        return f"does not render: {str(exc).strip().splitlines()[-1][:300]}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for target_name in sorted(rendered):
        problem = check_change(mutant, base[target_name], rendered[target_name])
        if problem:
            return f"{target_name}: {problem}"
    return None


# ------------------------------------------------------------------ running the tests


@dataclass
class Outcome:
    id: str
    kind: str
    description: str
    status: str  # killed | survived | invalid | error
    commit: str = ""
    killed_by: str = ""
    stage: str = ""
    detail: str = ""
    seconds: float = 0.0


def prepare_snapshot(run_dir: Path) -> tuple[Path, str]:
    """HEAD as a plain tree (the copy every mutant starts from), with what git does not
    hold but the selected tests need: asl-validator's node_modules and the cached test
    model (build/test-model, else every deployment would train one)."""
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    snapshot = run_dir / "snapshot"
    shutil.rmtree(snapshot, ignore_errors=True)
    snapshot.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=REPO_ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(snapshot)], input=archive.stdout, check=True)
    modules = REPO_ROOT / "scripts" / "asl" / "node_modules"
    if not modules.is_dir():
        sys.exit("error: scripts/asl/node_modules is missing: run `make asl-validator` first")
    (snapshot / "scripts" / "asl" / "node_modules").symlink_to(modules)
    models = REPO_ROOT / "build" / "test-model"
    cache = run_dir / "test-model"
    if models.is_dir() and not cache.exists():
        shutil.copytree(models, cache, ignore=shutil.ignore_patterns("work"))
    cache.mkdir(exist_ok=True)
    return snapshot, commit


def copy_of(snapshot: Path, run_dir: Path, name: str) -> Path:
    copy = run_dir / "copies" / re.sub(r"[^\w.-]+", "_", name)[:80]
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(snapshot, copy, symlinks=True)
    (copy / "build").mkdir(exist_ok=True)
    (copy / "build" / "test-model").symlink_to(run_dir / "test-model")
    return copy


def end_strays(copy: Path) -> None:
    """Ends processes a timed-out run left behind (the local cloud runs in its own process
    group): those whose working directory is inside this copy, which only this run's
    pytest started. By process id, one at a time."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd == str(copy) or cwd.startswith(f"{copy}/"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def stage_of(test: str) -> str:
    return next((stage for prefix, stage in STAGES if test.startswith(prefix)), "other")


def read_junit(report: Path) -> tuple[str, str, str, list[str]]:
    """(first failing test, "failure" or "error" (in a fixture), its message, skipped tests)
    from pytest's JUnit XML."""
    if not report.is_file():
        return "", "", "", []
    skipped = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/") + ".py"
        test = f"{path}::{case.get('name')}"
        for child in case:
            if child.tag in ("failure", "error"):
                message = (child.get("message") or child.text or "").strip().splitlines()
                return test, child.tag, message[0][:300] if message else "", skipped
            if child.tag == "skipped":
                skipped.append(f"{test}: {child.get('message', '')}")
    return "", "", "", skipped


# `terraform test` names the run that failed in its error ("on tests/x.tftest.hcl line 7, in
# run "y"") and in its progress lines (`tests/x.tftest.hcl... in progress`, `run "y"...
# fail`); the test's message may have kept only part of the output.
FAILED_RUN = re.compile(r'in run "(\w+)"|run "(\w+)"\.\.\. fail')
SUITE = re.compile(r"tests/(\w+\.tftest\.hcl)")


def credited_test(test: str, log: str) -> str:
    """The test to credit with a kill. test_aws_rules and test_terraform_suites read one
    `terraform test` output, where the first failing run makes the rest skip: the first
    pytest test to notice is often another rule's; the run that failed is named instead."""
    if stage_of(test) != "terraform test":
        return test
    rule = re.search(r"test_aws_rule_holds\[(\w+)\]", test)
    if rule and "assert 'fail' == 'pass'" in log:  # the rule's own run failed
        return f"terraform/tests/deployment.tftest.hcl run {rule.group(1)}"
    run, suite = FAILED_RUN.search(log), SUITE.search(log)
    if not run or not suite:
        return test
    return f"terraform/tests/{suite.group(1)} run {run.group(1) or run.group(2)}"


def selection_in(root: Path) -> tuple[list[str], list[str]]:
    """(the SELECTION entries whose file `root` has, those it lacks): the tests written for
    this tool's survivors only exist from the commit that added them."""
    present, missing = [], []
    for entry in SELECTION:
        (present if (root / entry.split("::")[0]).is_file() else missing).append(entry)
    return present, missing


def run_tests(copy: Path, log_dir: Path, name: str, timeout: float) -> tuple[str, str, str]:
    """Runs SELECTION in `copy`: ("killed", test, message), ("survived", "", "") or
    ("error", "", why)."""
    report = log_dir / f"{name}.xml"
    log = log_dir / f"{name}.log"
    report.unlink(missing_ok=True)
    env = terraform_env()
    env.setdefault("SCONES_SHARED_ARCHIVE", str(SHARED_ARCHIVE))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *selection_in(copy)[0],
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
    ]
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            command, cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            end_strays(copy)
            return "error", "", f"timed out after {timeout:.0f} s (log: {log})"
    end_strays(copy)
    failed, how, message, skipped = read_junit(report)
    # Only a test's own failure kills: a fixture that fails (a deployment whose `terraform
    # apply` hit a conflict on the loaded machine) says nothing about the mutant. A mutant
    # the cloud would refuse fails the definition checks first, without a fixture.
    if code == 1 and how == "failure":
        return "killed", credited_test(failed, log.read_text(encoding="utf-8")), message
    if how == "error":
        return "error", failed, f"a fixture failed (log: {log}): {message}"
    if skipped:
        return "error", "", f"skipped, so nothing was checked: {skipped[0][:300]}"
    if code == 0:
        return "survived", "", ""
    return "error", "", f"pytest exit code {code} (log: {log})"


def load_results() -> dict[str, dict]:
    if not RESULTS_JSON.is_file():
        return {}
    return {r["id"]: r for r in json.loads(RESULTS_JSON.read_text(encoding="utf-8"))["mutants"]}


def record(outcome: dict | None, keep: set[str], selection: list[str]) -> dict[str, dict]:
    """Adds `outcome` to the results file, drops results of mutants not in `keep` (HEAD no
    longer makes them) and returns them all. Under a lock, re-reading the file: the shards
    of a run (--shard) share it."""
    lock_path = REPO_ROOT / "build" / "mutate-asl" / "results.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        outcomes = {i: o for i, o in load_results().items() if i in keep}
        if outcome is not None:
            outcomes[outcome["id"]] = outcome
            text = json.dumps(
                {"selection": selection, "mutants": list(outcomes.values())}, indent=2
            )
            scratch = RESULTS_JSON.with_suffix(".json.tmp")
            scratch.write_text(text + "\n", encoding="utf-8")
            scratch.replace(RESULTS_JSON)
    return outcomes


# ------------------------------------------------------------------ the report


def summary(outcomes: list[dict]) -> str:
    """A markdown table per kind of mutant, then the survivors and errors."""
    kinds = sorted({o["kind"] for o in outcomes})
    statuses = ("killed", "survived", "invalid", "error")
    lines = [
        "| mutant kind | mutants | killed | survived | invalid | error |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for kind in [*kinds, None]:
        rows = [o for o in outcomes if kind is None or o["kind"] == kind]
        counts = Counter(o["status"] for o in rows)
        label = f"`{kind}`" if kind else "**all**"
        lines.append(
            f"| {label} | {len(rows)} | " + " | ".join(str(counts[s]) for s in statuses) + " |"
        )
    killers = Counter(o["killed_by"] for o in outcomes if o["status"] == "killed")
    lines += ["", "| killed by | mutants |", "|---|--:|"]
    lines += [f"| `{test}` | {n} |" for test, n in killers.most_common()]
    for status in ("survived", "invalid", "error"):
        rows = [o for o in outcomes if o["status"] == status]
        if rows:
            lines += ["", f"{status.capitalize()}:", ""]
            lines += [f"- `{o['id']}`: {o['description']} {o['detail']}".rstrip() for o in rows]
    return "\n".join(lines)


def shard(text: str) -> tuple[int, int]:
    """K/N (1 <= K <= N) for --shard."""
    found = re.fullmatch(r"(\d+)/(\d+)", text)
    if not found or not 1 <= int(found.group(1)) <= int(found.group(2)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, got {text!r}")
    return int(found.group(1)), int(found.group(2))


def selected(mutant_id: str, pattern: str) -> bool:
    """The id itself (ids hold brackets, which fnmatch reads as a class), or a pattern."""
    return mutant_id == pattern or fnmatch.fnmatchcase(mutant_id, pattern)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ID",
        help="mutant ids or fnmatch patterns (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="generate and check; no tests")
    parser.add_argument("--resume", action="store_true", help="skip mutants already measured")
    parser.add_argument("--report", action="store_true", help="print the last run's summary")
    parser.add_argument(
        "--timeout",
        type=float,
        default=MUTANT_TIMEOUT_S,
        help="seconds per mutant's tests (default %(default)s)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip running the selection on the unchanged copy first",
    )
    parser.add_argument("--work-dir", type=Path, help="where copies go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the copies (debugging)")
    parser.add_argument(
        "--shard",
        type=shard,
        metavar="K/N",
        help="every N-th mutant from the K-th (N side by side)",
    )
    args = parser.parse_args(argv)

    if args.report:
        outcomes = list(load_results().values())
        if not outcomes:
            sys.exit(f"error: no results in {RESULTS_JSON}: run the mutants first")
        print(summary(outcomes))
        return 0
    if shutil.which("terraform") is None:
        sys.exit("error: terraform is not on PATH: it renders the templates (see README)")

    started = time.monotonic()
    run_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="mutate-asl-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir = REPO_ROOT / "build" / "mutate-asl"
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        snapshot, commit = prepare_snapshot(run_dir)
        base = render(snapshot / "terraform", run_dir / "render-base")
        mutants = generate(snapshot, base["aws"])
        if args.only:
            mutants = [m for m in mutants if any(selected(m.id, p) for p in args.only)]
            if not mutants:
                sys.exit(f"error: no mutant matches {args.only}; `--list` shows them")
        if args.shard:
            part, parts = args.shard
            mutants = mutants[part - 1 :: parts]
        print(f"{len(mutants)} mutants of HEAD {commit[:12]} (copies in {run_dir})", flush=True)

        # Earlier results stay (a run of some mutants updates theirs); results of mutants
        # this HEAD no longer makes are dropped.
        ids = {m.id for m in generate(snapshot, base["aws"])}
        selection, missing = selection_in(snapshot)
        for entry in missing:
            print(f"note: {entry} is not in HEAD {commit[:12]}: not run", flush=True)
        outcomes = record(None, ids, selection)
        if not args.list and not args.no_baseline:
            copy = copy_of(snapshot, run_dir, "baseline")
            print("baseline: the selection on the unchanged copy ...", flush=True)
            status, test, message = run_tests(copy, log_dir, "baseline", args.timeout)
            if not args.keep:
                shutil.rmtree(copy, ignore_errors=True)
            if status != "survived":
                sys.exit(
                    f"error: the selection fails without any mutant ({status}): {test} {message}"
                )

        counts: Counter[str] = Counter()
        bar = progress_bar(mutants, desc="mutants", unit="mutant")
        for mutant in bar:
            if args.resume and mutant.id in outcomes:
                counts[outcomes[mutant.id]["status"]] += 1
                continue
            began = time.monotonic()
            outcome = Outcome(mutant.id, mutant.kind, mutant.description, "invalid", commit)
            problem = validate(mutant, snapshot, base, run_dir / "validate")
            if problem:
                outcome.detail = problem
            elif args.list:
                outcome.status = "valid"
            else:
                copy = copy_of(snapshot, run_dir, mutant.id)
                changed = copy / mutant.path
                changed.write_text(
                    mutant.apply(changed.read_text(encoding="utf-8")), encoding="utf-8"
                )
                name = re.sub(r"[^\w.-]+", "_", mutant.id)
                status, test, message = run_tests(copy, log_dir, name, args.timeout)
                if status == "error":  # once more: the machine, not the mutant, may be at fault
                    status, test, message = run_tests(copy, log_dir, name, args.timeout)
                outcome.status, outcome.killed_by, outcome.detail = status, test, message
                outcome.stage = stage_of(test) if test else ""
                if not args.keep:
                    shutil.rmtree(copy, ignore_errors=True)
            outcome.seconds = round(time.monotonic() - began, 1)
            counts[outcome.status] += 1
            bar.set_postfix_str(" ".join(f"{k} {v}" for k, v in sorted(counts.items())))
            if args.list:
                print(f"{outcome.status:8} {mutant.id}  {outcome.detail}", flush=True)
            else:
                outcomes = record(asdict(outcome), ids, selection)
        bar.close()
    finally:
        if not args.keep and args.work_dir is None:
            shutil.rmtree(run_dir, ignore_errors=True)
    wall = time.monotonic() - started
    print(
        f"\n{sum(counts.values())} mutants in {wall / 60:.1f} min: "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    )
    if not args.list:
        print(f"results: {RESULTS_JSON.relative_to(REPO_ROOT)}; logs: {log_dir}")
        print(summary([o for o in outcomes.values() if o["id"] in {m.id for m in mutants}]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
