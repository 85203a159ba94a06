"""The semantic checks Step Functions runs on a definition, beyond what moto's parser does.

Pure Python over the definition's JSON; each problem is a diagnostic with AWS's code:
- DUPLICATE_STATE_NAME: state names are unique within the whole state machine, nested
  Map ItemProcessor/Iterator and Parallel branches included (States Language spec,
  "States": "state names MUST be unique within the scope of the whole state machine");
  AWS: "Duplicate State name: <name> at <path>".
- MISSING_TRANSITION_TARGET: a StartAt, Next, Default, Choice or Catch target that is not a
  state of the same scope ("Missing 'Next' target: <name> at <path>"), and a state that
  nothing reaches from StartAt ('State "<name>" is not reachable. at <path>'), the wording
  CreateStateMachine answers with (reproduced against AWS in localstack/localstack#12487).
CreateStateMachine/UpdateStateMachine refuse the definition with InvalidDefinition
"Invalid State Machine Definition: '<CODE>: <message>, <CODE>: <message>'".
"""

from __future__ import annotations

from typing import Any


def _diagnostic(code: str, message: str, location: str) -> dict[str, str]:
    return {
        "severity": "ERROR",
        "code": code,
        "message": f"{message} at {location}",
        "location": location,
    }


def _targets(state: dict[str, Any], path: str) -> list[tuple[str, str, str]]:
    """(field label, target, location) for every transition out of a state."""
    found = []
    if isinstance(state.get("Next"), str):
        found.append(("Next", state["Next"], f"{path}/Next"))
    if isinstance(state.get("Default"), str):
        found.append(("Default", state["Default"], f"{path}/Default"))
    for index, choice in enumerate(state.get("Choices") or []):
        if isinstance(choice, dict) and isinstance(choice.get("Next"), str):
            found.append(("Next", choice["Next"], f"{path}/Choices[{index}]/Next"))
    for index, catcher in enumerate(state.get("Catch") or []):
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            found.append(("Next", catcher["Next"], f"{path}/Catch[{index}]/Next"))
    return found


def _check_scope(
    machine: dict[str, Any], path: str, seen: dict[str, str], out: list[dict[str, str]]
) -> None:
    states = machine.get("States")
    if not isinstance(states, dict):
        return
    start_at = machine.get("StartAt")
    for name in states:
        location = f"{path}/States/{name}"
        if name in seen:
            message = f"Duplicate State name: {name}"
            out.append(_diagnostic("DUPLICATE_STATE_NAME", message, location))
        else:
            seen[name] = location
    if isinstance(start_at, str) and start_at not in states:
        message = f"Missing 'StartAt' target: {start_at}"
        out.append(_diagnostic("MISSING_TRANSITION_TARGET", message, f"{path}/StartAt"))
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        for label, target, location in _targets(state, f"{path}/States/{name}"):
            if target not in states:
                out.append(
                    _diagnostic(
                        "MISSING_TRANSITION_TARGET", f"Missing '{label}' target: {target}", location
                    )
                )
    reachable: set[str] = set()
    pending = [start_at] if start_at in states else []
    while pending:
        name = pending.pop()
        if name in reachable:
            continue
        reachable.add(name)
        state = states[name]
        if isinstance(state, dict):
            pending.extend(t for _, t, _ in _targets(state, "") if t in states)
    if start_at in states:
        for name in states:
            if name not in reachable:
                out.append(
                    _diagnostic(
                        "MISSING_TRANSITION_TARGET",
                        f'State "{name}" is not reachable.',
                        f"{path}/States/{name}",
                    )
                )
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        state_path = f"{path}/States/{name}"
        for field in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(field), dict):
                _check_scope(state[field], f"{state_path}/{field}", seen, out)
        for index, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, dict):
                _check_scope(branch, f"{state_path}/Branches[{index}]", seen, out)


def check_definition(document: Any) -> list[dict[str, str]]:
    """AWS's semantic diagnostics for a parsed definition (empty when there are none)."""
    out: list[dict[str, str]] = []
    if isinstance(document, dict):
        _check_scope(document, "", {}, out)
    return out


def invalid_definition_message(diagnostics: list[dict[str, str]]) -> str:
    joined = ", ".join(f"{d['code']}: {d['message']}" for d in diagnostics)
    return f"Invalid State Machine Definition: '{joined}'"
