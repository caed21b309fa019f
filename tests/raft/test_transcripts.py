"""Replays every raft transcript in testdata/ and compares what raft printed with the file.

After an intended change in raft (or in node/raft/describe.py), regenerate the files with
`REWRITE=1 .venv/bin/python -m pytest tests/raft/test_transcripts.py` and read the diff.
"""

import difflib
import os
from pathlib import Path

import pytest

from tests.raft.transcript import parse, render, run_transcript

TESTDATA = Path(__file__).parent / "testdata"
TRANSCRIPTS = sorted(TESTDATA.glob("*.txt"))


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_raft_does_what_the_transcript_says(path: Path) -> None:
    expected = path.read_text()
    actual = run_transcript(expected)
    if os.environ.get("REWRITE") == "1":
        path.write_text(actual)
        return
    if actual != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True),
            fromfile=f"{path.name} (expected)", tofile=f"{path.name} (actual)",
        ))
        pytest.fail(f"raft no longer does what {path.name} says (REWRITE=1 regenerates it):\n"
                    f"{diff}", pytrace=False)


def test_every_transcript_starts_with_an_explanation() -> None:
    assert TRANSCRIPTS, "no transcripts found"
    for path in TRANSCRIPTS:
        assert path.read_text().startswith("#"), f"{path.name} does not start with a # comment"


def test_a_transcript_renders_back_to_its_own_text() -> None:
    text = "# what it shows\nadd-nodes 1 voters=(1)\n----\n1: ok\n\ncampaign 1\n----\nok\n"
    assert render(parse(text)) == text


def test_a_command_without_its_separator_is_an_error() -> None:
    with pytest.raises(ValueError, match="not followed by"):
        parse("campaign 1\nok\n")
