"""Running `python -m etl.eda` in this process, and reading its page back."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from etl.eda import main


@dataclass(frozen=True)
class Page:
    code: int
    stdout: str
    stderr: str
    path: Path

    @property
    def html(self) -> str:
        return self.path.read_text(encoding="utf-8")


def run_cli(*argv: str | Path) -> Page:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    args = [str(a) for a in argv]
    path = Path(args[args.index("--out") + 1]) if "--out" in args else Path("reports/eda.html")
    return Page(code, out.getvalue(), err.getvalue(), path)


class _Tables(HTMLParser):
    """Every table with an id: its rows as {"attrs": <tr attributes>, "cells": [text]}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "id" in attrs:
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append({"attrs": attrs, "cells": []})
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1]["cells"].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[dict]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def number(text: str) -> int:
    return int(text.replace(",", ""))
