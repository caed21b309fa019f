"""The member the fuzz modules share (started once for the session; a module that needs
another cluster defines its own `member`), the check that it still serves after every batch,
and the number of cases each door took, printed at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.fuzzed_member import CASES, FuzzedMember, fuzzed_member


@pytest.fixture(scope="session")
def member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzedMember]:
    with fuzzed_member(tmp_path_factory.mktemp("fuzzed")) as started:
        yield started


@pytest.fixture(autouse=True)
def still_serving_after_the_batch(request: pytest.FixtureRequest) -> Iterator[None]:
    member = request.getfixturevalue("member")
    yield
    member.assert_still_serving()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if CASES:
        counts = ", ".join(f"{door} {count}" for door, count in sorted(CASES.items()))
        terminalreporter.write_line(f"fuzz cases per door: {counts}")
