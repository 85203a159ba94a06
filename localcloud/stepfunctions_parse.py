"""Each state machine definition, and each JSONPath in it, is parsed once.

moto 5.2.5 parses the definition's text with its ANTLR grammar at every StartExecution
(`ExecutionWorker._get_evaluation_entrypoint` -> `AmazonStateLanguageParser.parse`): about
a tenth of the server's CPU in the single-image workflow, more than any state's own work
(profile in benchmarks/results/localcloud_profile.md). The parse tree depends only on the
text, so it is kept per text; the evaluation components are still built fresh from it for
every execution (they are where an execution's state lives), exactly as moto builds them.
A definition with syntax errors is never cached: it raises every time, as before.

The same holds for JSONPaths: moto evaluates `InputPath`, `ItemsPath`, `"key.$"` and the
rest through `jsonpath_ng.ext.parse`, and `ResultPath` through `jsonpath_ng.parse`, each
of which builds a new PLY parser (yacc reflection included) for every evaluation: the
ResultPath parse alone was a tenth of the server's CPU in a Map batch of 200 images
(four per child execution). A parsed path is immutable (`update_or_create` changes the
data, not the path), so it is kept per text.
"""

from __future__ import annotations

import functools

import moto.stepfunctions.parser.asl.component.common.path.result_path as result_path
import moto.stepfunctions.parser.asl.utils.json_path as json_path
from antlr4 import CommonTokenStream, InputStream, ParserRuleContext
from moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer import ASLLexer
from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.parse.asl_parser import (
    AmazonStateLanguageParser,
    ASLParserException,
    SyntaxErrorListener,
)
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

from .stepfunctions_map import as_moto_parses_it

# Definitions kept: a deployment has a handful (tests create more, each used a few times).
CACHED_DEFINITIONS = 64
CACHED_JSON_PATHS = 1024


@functools.lru_cache(maxsize=CACHED_DEFINITIONS)
def parse_tree(definition: str) -> ParserRuleContext:
    """moto's own parse of the text (its lexer, parser and error listener)."""
    errors = SyntaxErrorListener()
    parser = ASLParser(CommonTokenStream(ASLLexer(InputStream(definition))))
    parser.removeErrorListeners()
    parser.addErrorListener(errors)
    tree = parser.state_machine()
    if errors.errors:
        raise ASLParserException(errors=errors.errors)
    return tree


def parse(definition: str) -> tuple[EvalComponent, ParserRuleContext]:
    """What AmazonStateLanguageParser.parse returns: fresh components, the (shared) tree."""
    tree = parse_tree(as_moto_parses_it(definition))
    return Preprocessor().visit(tree), tree


def _memoized_json_path(original):
    parsed = functools.lru_cache(maxsize=CACHED_JSON_PATHS)(original)

    def parse(path: str, debug: bool | None = None) -> object:
        return parsed(path) if debug is None else original(path, debug)

    parse.__wrapped__ = original  # type: ignore[attr-defined]
    return parse


def install() -> None:
    parse.__wrapped__ = AmazonStateLanguageParser.parse  # type: ignore[attr-defined]
    AmazonStateLanguageParser.parse = staticmethod(parse)
    json_path.parse = _memoized_json_path(json_path.parse)
    result_path.parse = _memoized_json_path(result_path.parse)
