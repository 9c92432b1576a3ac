"""The fuzz suite's report: how many generated cases ran (issue 13 asks for >= 10,000 per run)."""

from __future__ import annotations

import pytest

from tests.fuzz.support import CASES

_FUZZ_TESTS: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.nodeid.startswith("tests/fuzz/"):
        _FUZZ_TESTS.add(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FUZZ_TESTS:
        terminalreporter.write_line(
            f"fuzz suite: {CASES['cases']:,} generated cases in {len(_FUZZ_TESTS)} tests"
        )
