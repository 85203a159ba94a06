"""Each module's README lists exactly its inputs, and every input has a description.

The READMEs are written by hand: terraform-docs, which would generate them, is a Go
binary released on GitHub only (no PyPI, npm or Debian package), out of reach here. This
test keeps the hand-written tables honest instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

MODULES_DIR = Path(__file__).resolve().parents[2] / "terraform" / "modules"
MODULES = sorted(p.name for p in MODULES_DIR.iterdir() if (p / "variables.tf").is_file())
VARIABLE = re.compile(r'^variable\s+"(?P<name>[A-Za-z0-9_-]+)"\s*\{', re.M)
DESCRIPTION = re.compile(
    r'^\s*description\s*=\s*(?:"(?P<text>(?:[^"\\]|\\.)*)"|<<-?(?P<heredoc>\w+))', re.M
)


def variables(module: Path) -> dict[str, str | None]:
    """{name: description or None} of every variable in the module's .tf files."""
    found: dict[str, str | None] = {}
    for tf in sorted(module.glob("*.tf")):
        text = tf.read_text(encoding="utf-8")
        starts = [m for m in VARIABLE.finditer(text)]
        for i, match in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
            body = text[match.end() : end]
            # only the variable's own top-level description, not one in a nested block
            described = next(
                (d for d in DESCRIPTION.finditer(body) if not _nested(body, d.start())), None
            )
            text_value = None
            if described:
                text_value = (described.group("text") or described.group("heredoc") or "").strip()
            found[match.group("name")] = text_value or None
    return found


def _nested(body: str, position: int) -> bool:
    """Whether `position` in a variable's body lies inside a nested block."""
    before = body[:position]
    return before.count("{") - before.count("}") > 0


def readme_inputs(readme: Path) -> list[str]:
    """The names in the first column of the README's inputs table (the table whose
    header's first cell is `input`); a cell may list several names."""
    names: list[str] = []
    in_table = False
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = (
            [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        )
        if not cells:
            in_table = False
            continue
        if cells[0].lower() == "input":
            in_table = True
            continue
        if in_table and not set(cells[0]) <= set("-: "):
            names += re.findall(r"`([^`]+)`", cells[0])
    return names


@pytest.mark.parametrize("module", MODULES)
def test_every_module_variable_has_a_description(module: str):
    undescribed = sorted(n for n, d in variables(MODULES_DIR / module).items() if d is None)

    assert not undescribed, (
        f"terraform/modules/{module}: give these variables a description in variables.tf: "
        f"{', '.join(undescribed)}"
    )


@pytest.mark.parametrize("module", MODULES)
def test_module_readme_lists_exactly_the_modules_inputs(module: str):
    readme = MODULES_DIR / module / "README.md"
    assert readme.is_file(), (
        f"terraform/modules/{module} has no README.md: write one with its inputs table"
    )
    declared = set(variables(MODULES_DIR / module))
    listed = readme_inputs(readme)

    duplicated = sorted({n for n in listed if listed.count(n) > 1})
    missing, unknown = sorted(declared - set(listed)), sorted(set(listed) - declared)
    problems = [
        f"add rows for {', '.join(missing)} (declared in variables.tf)" if missing else "",
        f"remove {', '.join(unknown)} (no such variable)" if unknown else "",
        f"list {', '.join(duplicated)} once" if duplicated else "",
    ]
    assert not any(problems), f"terraform/modules/{module}/README.md inputs table: " + "; ".join(
        p for p in problems if p
    )
