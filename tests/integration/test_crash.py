"""The crash test's short form (tests/crash/crash_test.py): 300 signups, 10 random
SIGKILLs of 1 and of 3 daemons, under both queue.uncertain policies, every
message counted at a relay on loopback. `make crash-test` runs the long form."""
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "crash"))
from crash_test import run_crash  # noqa: E402

SIGNUPS = 300
KILLS = 10


@pytest.mark.parametrize("uncertain", ["resend", "hold"])
@pytest.mark.parametrize("daemons", [1, 3])
def test_random_kills_lose_nothing_and_duplicate_only_as_the_policy_allows(daemons, uncertain,
                                                                           tmp_path):
    res = run_crash(SIGNUPS, KILLS, daemons, uncertain, workdir=tmp_path / "crash",
                    out=sys.stdout)
    # Fewer kills would prove less: the run must have gone through all of them.
    assert res.kills == KILLS, res.line()
    assert res.problems == [], res.line() + "\n" + "\n".join(res.problems)
    assert res.lost == 0
