"""`reportd enqueue --file` on long files: read as a stream and queued in
batches inside one transaction, so its memory stays flat, and one bad signup
anywhere still writes nothing."""
import subprocess

from conftest import REPORTD

EX_DATAERR = 65
ROLE = "backend-developer"
# The target for enqueue --file of 100,000 signups (the most a file may hold).
PEAK_RSS_LIMIT_KB = 16 * 1024
# Growth allowed from 10,000 to 100,000 signups: SQLite's page cache (2 MiB by default) and the
# ids kept for the output (8 bytes each).  Holding the document took about 3 KB per signup.
GROWTH_LIMIT_KB = 4 * 1024
# A sanitizer build keeps freed memory in quarantine: its peak RSS says nothing about reportd's.
# It runs the same paths (many batches, a rollback after them) on a tenth of the signups, at
# several times the cost of each.
SANITIZED = b"__asan_init" in REPORTD.read_bytes()
SCALE = 10 if SANITIZED else 1
LINES_PER_SIGNUP = 7
TIME = "/usr/bin/time"  # Debian's time package (scripts/deps.sh test)


def signup_yaml(i, share=40, years="12"):
    text = (f"- email: user{i}@example.com\n"
            f"  name: User {i}\n"
            f"  role: {ROLE}\n"
            f"  level: senior\n"
            f"  tasks: [write-production-code, {{id: review-code, share: {share}}}]\n"
            f"  skills: [sql, system-design]\n"
            f"  years: {years}\n")
    assert text.count("\n") == LINES_PER_SIGNUP
    return text


def write_signups(path, n, bad=None, start=0):
    bad = bad or {}
    with open(path, "w") as f:
        for i in range(start, start + n):
            f.write(signup_yaml(i, **bad.get(i, {})))


def run_measured(env, *args):
    """Runs reportd to the end; its exit status, output, errors and peak RSS in KB.

    GNU time's %M, because a child of this process starts with the test's own peak: Linux
    carries the forked copy of pytest's memory into the child's maximum RSS across exec."""
    rss = env.tmp / "rss.txt"
    p = subprocess.run([TIME, "-f", "%M", "-o", str(rss), str(REPORTD), "-c", str(env.config)]
                       + [str(a) for a in args], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=120)
    return (p.returncode, p.stdout.decode(), p.stderr.decode(),
            int(rss.read_text().split()[-1]))


def test_long_file_is_queued_with_flat_memory(env, tmp_path):
    short, long = tmp_path / "short.yaml", tmp_path / "long.yaml"
    n = 100000 // SCALE
    write_signups(short, n // 10, start=n)
    write_signups(long, n)
    rc, out, err, rss_short = run_measured(env, "enqueue", "--file", short)
    assert rc == 0, err
    rc, out, err, rss_long = run_measured(env, "enqueue", "--file", long)
    assert rc == 0, err
    ids = [int(x) for x in out.split()]
    assert len(ids) == n
    # Printed in file order, each the row of that signup.
    rows = env.sql("SELECT id, email FROM signups WHERE id > ? ORDER BY id", (max(ids) - n,))
    assert [r[0] for r in rows] == ids
    assert [r[1] for r in rows] == [f"user{i}@example.com" for i in range(n)]
    if not SANITIZED:
        assert rss_long < PEAK_RSS_LIMIT_KB, (rss_short, rss_long)
        assert rss_long - rss_short < GROWTH_LIMIT_KB, (rss_short, rss_long)


def test_bad_signups_deep_in_a_long_file_write_nothing(env, tmp_path):
    # Batches before the first bad signup were inserted in the transaction, then rolled back;
    # reading goes on, so the second bad signup is reported too.
    f = tmp_path / "deep.yaml"
    first, second = 50000 // SCALE - 1, 50000 // SCALE + 10
    write_signups(f, second + 10, bad={first: {"share": 150}, second: {"years": "ten"}})
    rc, out, err, _ = run_measured(env, "enqueue", "--file", f)
    assert rc == EX_DATAERR, err
    assert out == ""
    assert env.count() == 0
    # Found by validation: at the signup.  Found reading the file: at the field.
    assert (f"{f}:{first * LINES_PER_SIGNUP + 1}:3: signups[{first}].tasks[1].share: must be "
            "between 0 and 100, got 150" in err), err
    years_line = second * LINES_PER_SIGNUP + LINES_PER_SIGNUP
    assert (f"{f}:{years_line}:10: signups[{second}].years: expected a number >= 0, "
            f'got "ten"' in err), err
    assert err.count("signups[") == 2, err


def test_duplicates_across_batches(env, tmp_path):
    f = tmp_path / "dups.yaml"
    before = env.enqueue("user5@example.com")
    with open(f, "w") as out:
        for i in range(600):
            out.write(signup_yaml(i))
        # Far apart: the earlier one was inserted with another batch.
        out.write(signup_yaml(3).replace("user3@example.com", "user3@EXAMPLE.com"))
    rc, out, err, _ = run_measured(env, "enqueue", "--file", f)
    assert rc == 0, err
    ids = [int(x) for x in out.split()]
    assert len(ids) == 599
    assert env.count() == 600
    assert f"user5@example.com: already has a report (signup {before})" in err, err
    first3 = env.sql("SELECT id FROM signups WHERE email = 'user3@example.com'")[0][0]
    assert f"user3@EXAMPLE.com: already has a report (signup {first3})" in err, err
