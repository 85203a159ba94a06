"""Step Functions: moto's ASL interpreter switched on, plus the calls the AWS provider needs.

- `execute_state_machine` must be set before the first state machine is created: the
  responses pick the interpreter's backend per request from that flag.
- `ValidateStateMachineDefinition` and `ListStateMachineVersions` are not in moto 5.2.5;
  the first really parses the definition with moto's ASL parser; both it and
  CreateStateMachine/UpdateStateMachine run AWS's semantic checks (asl_checks.py).
- `StartExecution` without a name gets a fresh UUID, as in AWS (moto reuses `None`), and
  an input over 262144 UTF-8 bytes (the StartExecution API reference's length constraint)
  is refused.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.core.config import default_user_config
from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult
from moto.stepfunctions.exceptions import InvalidExecutionInput
from moto.stepfunctions.parser.api import InvalidDefinition as ParserInvalidDefinition
from moto.stepfunctions.parser.asl.parse.asl_parser import (
    AmazonStateLanguageParser,
    ASLParserException,
)
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

from .asl_checks import check_definition, invalid_definition_message
from .stepfunctions_map import as_moto_parses_it


def diagnose_definition(definition: str) -> list[dict[str, str]]:
    """AWS's diagnostics for a definition: empty when it parses."""
    try:
        document = json.loads(definition)
    except (TypeError, ValueError) as exc:
        return [{"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": str(exc)}]
    try:
        AmazonStateLanguageParser.parse(as_moto_parses_it(definition))
    except ASLParserException as exc:
        return [{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": str(exc)}]
    except Exception as exc:  # the parser raises plain errors for semantic problems
        message = f"{type(exc).__name__}: {exc}"
        return [{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": message}]
    return check_definition(document)


class InvalidDefinition(AWSError):
    """moto's parser raises its own InvalidDefinition, which reaches clients without a code."""

    TYPE = "InvalidDefinition"


def _wrap_validate_definition(original: Any) -> Any:
    """CreateStateMachine/UpdateStateMachine: AWS's semantic checks, then moto's parser."""

    def _validate_definition(definition: str) -> None:
        try:
            document = json.loads(definition)
        except (TypeError, ValueError):
            document = None
        diagnostics = check_definition(document)
        if diagnostics:
            raise InvalidDefinition(invalid_definition_message(diagnostics))
        try:
            original(definition)
        except ParserInvalidDefinition as exc:
            raise InvalidDefinition(str(exc)) from exc

    _validate_definition.__wrapped__ = original  # type: ignore[attr-defined]
    return staticmethod(_validate_definition)


def validate_state_machine_definition(self: StepFunctionResponse) -> ActionResult:
    diagnostics = diagnose_definition(self._get_param("definition"))
    return ActionResult(
        {"result": "FAIL" if diagnostics else "OK", "diagnostics": diagnostics, "truncated": False}
    )


def list_state_machine_versions(self: StepFunctionResponse) -> ActionResult:
    machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
    versions = sorted(getattr(machine, "versions", {}).values(), key=lambda v: -v.version)
    items = [{"stateMachineVersionArn": v.arn, "creationDate": v.creation_date} for v in versions]
    return ActionResult({"stateMachineVersions": items})


# StartExecution API reference, `input`: "Length Constraints: Maximum length of 262144",
# bytes in UTF-8 encoding.
MAX_EXECUTION_INPUT_BYTES = 262144


def _wrap_start_execution(original: Any) -> Any:
    def start_execution(
        self: StepFunctionsParserBackend, state_machine_arn: str, name: str | None = None, *a: Any
    ) -> Any:
        execution_input = a[0] if a else None
        if execution_input is not None:
            size = len(execution_input.encode("utf-8"))
            if size > MAX_EXECUTION_INPUT_BYTES:
                raise InvalidExecutionInput(
                    f"Input of {size} bytes exceeds the maximum of {MAX_EXECUTION_INPUT_BYTES} "
                    "bytes (UTF-8)"
                )
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *a)

    start_execution.__wrapped__ = original  # type: ignore[attr-defined]
    return start_execution


def install() -> None:
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    StepFunctionResponse.validate_state_machine_definition = validate_state_machine_definition
    StepFunctionResponse.list_state_machine_versions = list_state_machine_versions
    StepFunctionsParserBackend._validate_definition = _wrap_validate_definition(
        StepFunctionsParserBackend._validate_definition
    )
    StepFunctionsParserBackend.start_execution = _wrap_start_execution(
        StepFunctionsParserBackend.start_execution
    )
