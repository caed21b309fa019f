"""After every fuzz batch the module's member must still serve; the session ends with the
number of cases each door took."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.fuzzed_member import CASES


@pytest.fixture(autouse=True)
def still_serving_after_the_batch(request: pytest.FixtureRequest) -> Iterator[None]:
    member = request.getfixturevalue("member")
    yield
    member.assert_still_serving()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if CASES:
        counts = ", ".join(f"{door} {count}" for door, count in sorted(CASES.items()))
        terminalreporter.write_line(f"fuzz cases per door: {counts}")
