"""`reportd run --drain` under valgrind's memcheck: a few hundred signups
through a real SMTP server on loopback (tests/smtpd.py, aiosmtpd), with no
memory error and no definite leak, and every message counted at the server."""
import collections
import json
import shutil
import subprocess

import pytest

from conftest import REPORTD

# SQLite only: memcheck is about reportd's C, the same whichever database answers.
pytestmark = pytest.mark.sqlite_only

SIGNUPS = 300
ROLE = "backend-developer"
LEVELS = ["junior", "mid", "senior", "lead"]
TASKS = ["write-production-code", "review-code", "design-systems", "mentor-engineers"]
SKILLS = ["python", "sql", "mentoring", "system-design"]


def signups():
    """Varied people: with and without names, tasks, shares, skills and years."""
    out = []
    for i in range(SIGNUPS):
        s = {"email": f"person{i}@example.org", "role": ROLE, "level": LEVELS[i % 4]}
        if i % 3:
            s["name"] = f"Person {i} Zoë" if i % 2 else f"Person {i}"
        if i % 5:
            s["tasks"] = [{"id": TASKS[i % 4], "share": 60}, TASKS[(i + 1) % 4]]
        if i % 7:
            s["skills"] = [SKILLS[i % 4], SKILLS[(i + 2) % 4]]
        if i % 2:
            s["years"] = i % 30
        out.append(s)
    return out


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_drain_under_memcheck_sends_each_message_once(env, capture, tmp_path):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    people = signups()
    f = tmp_path / "signups.json"
    f.write_text(json.dumps(people))
    p = env.run("enqueue", "--file", f)
    assert p.returncode == 0, p.err

    vlog = tmp_path / "valgrind.log"
    argv = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--error-exitcode=99", f"--log-file={vlog}",
            str(REPORTD), "-c", str(env.config), "run", "--drain"]
    run = subprocess.run(argv, capture_output=True, timeout=600)
    report = vlog.read_text()
    assert run.returncode == 0, report[-4000:] + run.stderr.decode(errors="replace")[-2000:]
    assert "ERROR SUMMARY: 0 errors" in report, report[-4000:]
    assert "definitely lost: 0 bytes" in report or "All heap blocks were freed" in report, \
        report[-4000:]

    msgs = srv.messages()
    rcpts = collections.Counter(m["To"].addresses[0].addr_spec for m in msgs)
    assert set(rcpts) == {s["email"] for s in people}
    assert [a for a, n in rcpts.items() if n != 1] == []
    assert len(msgs) == SIGNUPS
    assert len({m["Message-ID"] for m in msgs}) == SIGNUPS
    assert env.count("state = 'sent'") == SIGNUPS
