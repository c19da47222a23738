"""The crash test's short form (tests/crash/crash_test.py): 300 signups, 10 random
SIGKILLs of 1 and of 3 daemons, under both queue.uncertain policies, every
message counted at a relay on loopback; and 3 daemons, each as if on a host of
its own, on one PostgreSQL queue. `make crash-test` runs the long form."""
import sys

import pytest

from conftest import BACKENDS, REPO

sys.path.insert(0, str(REPO / "tests" / "crash"))
from crash_test import run_crash  # noqa: E402

SIGNUPS = 300
KILLS = 10

RUNS = [("sqlite", d, u) for d in (1, 3) for u in ("resend", "hold")]
if "pg" in BACKENDS:
    RUNS += [("pg", 3, u) for u in ("resend", "hold")]


@pytest.mark.parametrize("queue_backend,daemons,uncertain", RUNS)
def test_random_kills_lose_nothing_and_duplicate_only_as_the_policy_allows(queue_backend, daemons,
                                                                           uncertain, tmp_path,
                                                                           request):
    pg = request.getfixturevalue("pg_server") if queue_backend == "pg" else None
    res = run_crash(SIGNUPS, KILLS, daemons, uncertain, workdir=tmp_path / "crash",
                    out=sys.stdout, backend=queue_backend, pg=pg)
    # Fewer kills would prove less: the run must have gone through all of them.
    assert res.kills == KILLS, res.line()
    assert res.problems == [], res.line() + "\n" + "\n".join(res.problems)
    assert res.lost == 0
    if uncertain == "hold":
        assert res.duplicated == 0
