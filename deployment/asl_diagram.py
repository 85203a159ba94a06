"""Draws each state machine from its rendered definition as a Mermaid state diagram.

    python -m deployment.asl_diagram [--out docs/state-machines.md] [--check]

(`make diagrams`.) The definitions are those `terraform apply` creates for AWS
(deployment/asl_render.py: the templates in terraform/templates/ through workflow.tf's
locals), so the drawing shows what runs, shared failure states and Map item processors
included. Each is drawn as a Mermaid `stateDiagram-v2`, which GitHub renders in Markdown
(https://docs.github.com/en/get-started/writing-on-github/working-with-advanced-formatting/creating-diagrams):
`Next` and `End` as arrows, a Choice's rules and Default as labelled arrows, each Catch as
an arrow labelled with its errors, Map and Parallel states as composite states holding
their item processor or branches. Retry policies are not drawn (they loop on one state).

--check compares instead of writing and exits 1 when the file is not what the templates
give (tests/terraform/test_state_machine_diagrams.py does the same in `make test`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from deployment.asl_render import RenderError, render_definitions
from deployment.outputs import TERRAFORM_DIR

DOC = TERRAFORM_DIR.parent / "docs" / "state-machines.md"
INDENT = "    "
# Operators of the States Language's Choice rules (https://states-language.net/spec.html
# #choice-state), as the drawing writes them; a `...Path` variant compares with a path.
OPERATORS = {
    "Equals": "==",
    "GreaterThan": ">",
    "GreaterThanEquals": ">=",
    "LessThan": "<",
    "LessThanEquals": "<=",
    "Matches": "matches",
}
TYPE_CHECKS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")
STYLES = {
    "Choice": "fill:#fff3cd,stroke:#b58900",
    "Fail": "fill:#f8d7da,stroke:#c0392b",
    "Succeed": "fill:#d4edda,stroke:#2e7d32",
    "Pass": "fill:#eeeeee,stroke:#777777",
}


def condition(rule: dict) -> str:
    """A Choice rule as short text: `$.images present`, `$.error > 0`, `a and b`."""
    if "Condition" in rule:  # JSONata
        return str(rule["Condition"]).removeprefix("{%").removesuffix("%}").strip()
    if "And" in rule or "Or" in rule:
        joiner = " and " if "And" in rule else " or "
        return joiner.join(condition(r) for r in rule.get("And", rule.get("Or", [])))
    if "Not" in rule:
        return f"not ({condition(rule['Not'])})"
    variable = rule.get("Variable", "?")
    for check in TYPE_CHECKS:
        if check in rule:
            word = check.removeprefix("Is").lower()
            if check == "IsPresent":
                return f"{variable} {'present' if rule[check] else 'absent'}"
            return f"{variable} is {'' if rule[check] else 'not '}{word}"
    for key, value in rule.items():
        for suffix, symbol in OPERATORS.items():
            base = key.removesuffix("Path")
            if base.endswith(suffix) and key != "Variable":
                shown = (
                    value if key.endswith("Path") or not isinstance(value, str) else f"'{value}'"
                )
                return f"{variable} {symbol} {shown}"
    return "rule"


def successors(state: dict) -> list[str]:
    """The states a state can go to, in the order the drawing lists its arrows."""
    rules = [rule["Next"] for rule in state.get("Choices", [])]
    catches = [catch["Next"] for catch in state.get("Catch", [])]
    default = [state["Default"]] if "Default" in state else []
    following = [state["Next"]] if "Next" in state else []
    return [*rules, *default, *following, *catches]


def flow_order(machine: dict) -> list[str]:
    """State names breadth first from StartAt (Terraform's jsonencode sorts the keys),
    then any state nothing reaches."""
    order, queue = [], [machine["StartAt"]]
    while queue:
        name = queue.pop(0)
        if name in order or name not in machine["States"]:
            continue
        order.append(name)
        queue.extend(successors(machine["States"][name]))
    return order + [name for name in machine["States"] if name not in order]


def label(text: str) -> str:
    """Text Mermaid takes after `:` on a transition (no `;`, `#`, or double quotes)."""
    return text.replace('"', "'").replace(";", ",").replace("#", "no. ").strip()


class Diagram:
    def __init__(self) -> None:
        self.lines = ["stateDiagram-v2"]
        self.ids: dict[str, str] = {}
        self.types: dict[str, str] = {}

    def id(self, name: str) -> str:
        if name not in self.ids:
            base = "s_" + re.sub(r"\W", "_", name)
            candidate, n = base, 1
            while candidate in self.ids.values():
                n += 1
                candidate = f"{base}_{n}"
            self.ids[name] = candidate
        return self.ids[name]

    def scope(self, machine: dict, depth: int) -> None:
        """Draws one StartAt/States scope (the machine, an item processor, a branch)."""
        pad = INDENT * depth
        self.lines.append(f"{pad}[*] --> {self.id(machine['StartAt'])}")
        for name in flow_order(machine):
            state = machine["States"][name]
            sid, kind = self.id(name), state["Type"]
            self.types[sid] = kind
            if kind == "Map":
                processor = state.get("ItemProcessor") or state.get("Iterator")
                mode = (processor.get("ProcessorConfig") or {}).get("Mode", "INLINE")
                title = "Distributed Map" if mode == "DISTRIBUTED" else "Map"
                self.lines.append(f'{pad}state "{name} ({title})" as {sid} {{')
                self.scope(processor, depth + 1)
                self.lines.append(f"{pad}}}")
            elif kind == "Parallel":
                self.lines.append(f'{pad}state "{name} (Parallel)" as {sid} {{')
                for index, branch in enumerate(state["Branches"]):
                    if index:
                        self.lines.append(f"{pad}{INDENT}--")
                    self.scope(branch, depth + 1)
                self.lines.append(f"{pad}}}")
            else:
                self.lines.append(f'{pad}state "{name}" as {sid}')
            self.transitions(state, sid, pad)

    def transitions(self, state: dict, sid: str, pad: str) -> None:
        arrow = f"{pad}{sid} -->"
        for rule in state.get("Choices", []):
            self.lines.append(f"{arrow} {self.id(rule['Next'])} : {label(condition(rule))}")
        if "Default" in state:
            self.lines.append(f"{arrow} {self.id(state['Default'])} : otherwise")
        if "Next" in state:
            self.lines.append(f"{arrow} {self.id(state['Next'])}")
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            self.lines.append(f"{arrow} [*]")
        for catch in state.get("Catch", []):
            errors = ", ".join(catch.get("ErrorEquals", []))
            self.lines.append(f"{arrow} {self.id(catch['Next'])} : {label('catch ' + errors)}")

    def text(self) -> str:
        for kind, style in STYLES.items():
            self.lines.append(f"{INDENT}classDef {kind.lower()} {style}")
        for sid, kind in self.types.items():
            if kind in STYLES:
                self.lines.append(f"{INDENT}class {sid} {kind.lower()}")
        return "\n".join(self.lines) + "\n"


def mermaid(definition: dict) -> str:
    diagram = Diagram()
    diagram.scope(definition, 1)
    return diagram.text()


def document(definitions: dict[str, str]) -> str:
    """docs/state-machines.md: one section and diagram per state machine."""
    parts = [
        "# The state machines, drawn from their definitions\n",
        "Generated by `make diagrams` (`python -m deployment.asl_diagram`): do not edit. Each",
        "diagram is the definition `terraform apply` creates for AWS, rendered from",
        "`terraform/templates/*.asl.json.tftpl` through `terraform/workflow.tf`'s locals",
        "(`deployment/asl_render.py`). `tests/terraform/test_state_machine_diagrams.py` fails",
        "when a template changes and this file was not regenerated.\n",
        "Arrows: `Next`/`End`; a Choice's rules (labelled with the condition) and its default",
        "(`otherwise`); a `Catch` (labelled with its errors). Map states hold their item",
        "processor. Colours: Choice yellow, Pass grey, Fail red, Succeed green, Task white.",
        "Retry policies are not drawn: see the template.\n",
    ]
    for name, text in sorted(definitions.items()):
        definition = json.loads(text)
        parts.append(f"## `{name}`\n")
        if definition.get("Comment"):
            parts.append(f"{definition['Comment']}\n")
        parts.append(f"```mermaid\n{mermaid(definition)}```\n")
    return "\n".join(parts)


def rendered_document() -> str:
    with tempfile.TemporaryDirectory() as work:
        return document(render_definitions(Path(work), dict(os.environ), {"aws": []})["aws"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deployment.asl_diagram", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=DOC)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if --out differs (nothing written)"
    )
    args = parser.parse_args(argv)
    try:
        text = rendered_document()
    except RenderError as error:
        print(f"python -m deployment.asl_diagram: {error}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date: run `make diagrams`", file=sys.stderr)
            return 1
        print(f"{args.out} matches the templates")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({text.count('```mermaid')} state machines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
