"""Guard rails on the shape of the code (the design step, issue #14), checked with every test run: no block
of adapter/ is rated D or worse for cyclomatic complexity (radon), and no function is longer than 60
lines. ruff (C901 at 12, PL rules) and `mypy --strict` run in `make lint`; these two have no ruff rule."""

from __future__ import annotations

import ast
from pathlib import Path

from radon.complexity import cc_rank, cc_visit

from adapter.config import PROJECT_ROOT

ADAPTER = PROJECT_ROOT / "adapter"
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return sorted(p for p in ADAPTER.rglob("*.py") if "migrations" not in p.parts)


def test_no_block_is_rated_d_or_worse() -> None:
    too_complex = [
        f"{path.relative_to(PROJECT_ROOT)}:{block.lineno} {block.name} {cc_rank(block.complexity)}"
        for path in _sources()
        for block in cc_visit(path.read_text(encoding="utf-8"))
        if cc_rank(block.complexity) not in "ABC"
    ]
    assert too_complex == [], "split these by meaning:\n" + "\n".join(too_complex)


def test_no_function_is_longer_than_60_lines() -> None:
    too_long = [
        f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name}"
        for path in _sources()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert too_long == [], "split these:\n" + "\n".join(too_long)


def test_the_checks_see_the_code() -> None:
    """The two checks above walk the real package (an empty walk would pass them vacuously)."""
    sources = _sources()
    assert len(sources) > 50 and ADAPTER / "workflows" / "intake.py" in sources
    assert any(cc_visit((ADAPTER / "workflows" / "intake.py").read_text(encoding="utf-8")))
