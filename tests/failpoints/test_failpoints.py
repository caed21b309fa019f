"""The crash-point registry: gofail's terms, GOFAIL_FAILPOINTS, counts, and what each action
does where the member passes an armed point."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from node import failpoints
from node.failpoints import FailpointError


@pytest.fixture(autouse=True)
def nothing_armed():
    failpoints.disarm_all()
    yield
    failpoints.disarm_all()


def test_a_disarmed_point_does_nothing():
    failpoints.hit("raftBeforeSave")
    assert failpoints.armed() == {}


def test_return_raises_at_the_point_with_its_value():
    failpoints.arm("beforeCommit", "return(disk gone)")
    with pytest.raises(FailpointError, match="failpoint beforeCommit: disk gone"):
        failpoints.hit("beforeCommit")
    failpoints.hit("afterCommit")  # only the armed point fires


def test_a_count_prefix_fires_that_many_times_then_disarms():
    failpoints.arm("afterCommit", "2*return")
    for _ in range(2):
        with pytest.raises(FailpointError):
            failpoints.hit("afterCommit")
    failpoints.hit("afterCommit")
    assert failpoints.armed() == {}


def test_sleep_stalls_for_its_milliseconds():
    failpoints.arm("raftAfterSave", "1*sleep(50)")
    started = time.monotonic()
    failpoints.hit("raftAfterSave")
    assert time.monotonic() - started >= 0.05


def test_off_disarms_and_armed_lists_the_terms_as_given():
    failpoints.arm("raftBeforeSave", "1*panic")
    failpoints.arm("defragBeforeCopy", "sleep(10)")
    assert failpoints.armed() == {"defragBeforeCopy": "sleep(10)", "raftBeforeSave": "1*panic"}
    failpoints.arm("raftBeforeSave", "off")
    assert failpoints.armed() == {"defragBeforeCopy": "sleep(10)"}


@pytest.mark.parametrize(
    ("name", "terms", "says"),
    [
        ("noSuchPoint", "panic", "unknown failpoint 'noSuchPoint'"),
        ("raftBeforeSave", "explode", "bad failpoint terms 'explode'"),
        ("raftBeforeSave", "sleep(soon)", "sleep takes milliseconds"),
        ("raftBeforeSave", "0*panic", "the count must be at least 1"),
    ],
)
def test_bad_names_and_terms_are_refused_with_what_is_wrong(name, terms, says):
    with pytest.raises(ValueError, match=says):
        failpoints.arm(name, terms)
    assert failpoints.armed() == {}


def test_the_environment_arms_every_named_point():
    failpoints.arm_from_environment(
        {"GOFAIL_FAILPOINTS": "raftBeforeSave=1*panic; beforeCommit=sleep(5);"}
    )
    assert failpoints.armed() == {"beforeCommit": "sleep(5)", "raftBeforeSave": "1*panic"}
    with pytest.raises(ValueError, match="is not name=terms"):
        failpoints.arm_from_environment({"GOFAIL_FAILPOINTS": "raftBeforeSave"})


def test_panic_ends_the_process_at_once_without_cleanup():
    script = (
        "import atexit\n"
        "from node import failpoints\n"
        "atexit.register(lambda: print('cleaned up'))\n"
        "failpoints.arm('raftBeforeSave', 'panic')\n"
        "failpoints.hit('raftBeforeSave')\n"
        "print('survived')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == failpoints.PANIC_EXIT_STATUS
    assert done.stdout == ""
    assert "panic: failpoint raftBeforeSave (panic)" in done.stderr


def test_a_member_refuses_to_start_with_a_bad_gofail_variable(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "node", f"--data-dir={tmp_path / 'm'}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"GOFAIL_FAILPOINTS": "raftBeforeSav=panic", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert "unknown failpoint 'raftBeforeSav'" in done.stderr
