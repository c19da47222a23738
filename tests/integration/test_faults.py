"""Fault tests: the real build/reportd against a relay on loopback that misbehaves
(tests/faultsmtp.py), a queue database that is locked, full, read-only, and
daemons whose clocks jump or run ahead (libfaketime). Each test counts the
messages the relay accepted: nothing lost, nothing sent twice."""
import errno
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import CONNECTIONS, REPO, REPORTD, readable_data, wait_until

sys.path.insert(0, str(REPO / "tests"))
from faultsmtp import FaultServer  # noqa: E402

ROLE, LEVEL = "backend-developer", "mid"
UNSETTLED = ("queued", "sending", "deferred")
# A stop during a relay stall must end within smtp.timeout plus this.
STOP_MARGIN_S = 3
# SQLite's busy timeout in reportd (daemon/queue.h QUEUE_BUSY_TIMEOUT_MS), 5 s: a lock
# held more than twice as long outlasts any wait for it, and the short claim below.
# (The daemon before issue 6 gave up recording after about 26 s; it failed this test at
# 12 s now and then, through a claim taken over at the lock's release, and always at
# REPORTD_TEST_LOCK_SECONDS=30.)
LOCK_SECONDS = float(os.environ.get("REPORTD_TEST_LOCK_SECONDS", "12"))
# Small batches: both daemons hold claims in flight all the time.
SMALL_BATCH = 5
# A relay's time to accept a message: slow enough that faults land mid-delivery.
SLOW_RELAY = (0.02, 0.04)
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
# A clock this far ahead makes every other daemon's lease look long expired.
CLOCK_AHEAD = "+600"
# An unprivileged user for what root would be allowed anyway (writing a read-only file).
NOBODY, NOGROUP = 65534, 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOGROUP}", "--clear-groups", "--"]


def clean_env(extra=None):
    env = dict(os.environ)
    for k in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "REPORTD_CONFIG", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(k, None)
    env.update(extra or {})
    return env


class World:
    """A queue, a config pointing at the relay, and reportd processes with their logs."""

    def __init__(self, tmp: Path, relay: FaultServer, db=None, timeout="10s", lease="30s",
                 retry_min="1s", retry_max="2s", config=None, batch_size=50, roles=None,
                 templates=None):
        self.tmp = tmp
        self.relay = relay
        self.db = db or tmp / "queue.db"
        self.config = config or tmp / "reportd.yaml"
        self.procs = []
        self.prefix = []  # e.g. setpriv, to run reportd as another user
        self.config.write_text(f"""\
queue:
  path: {self.db}
  poll_interval: 200ms
  retry_min: {retry_min}
  retry_max: {retry_max}
  lease: {lease}
  batch_size: {batch_size}
roles_dir: {roles or REPO / 'config' / 'roles'}
templates_dir: {templates or REPO / 'templates'}
sender:
  from: reports@reportd.test
smtp:
  url: {relay.url}
  tls: none
  connect_timeout: 2s
  timeout: {timeout}
  connections: {CONNECTIONS}
""")

    def reportd(self, *args, timeout=60, env=None):
        p = subprocess.run([*self.prefix, str(REPORTD), "-c", str(self.config), *map(str, args)],
                           capture_output=True, env=clean_env(env), timeout=timeout)
        p.out = p.stdout.decode(errors="replace")
        p.err = p.stderr.decode(errors="replace")
        return p

    def queue(self, n, prefix="fault"):
        """n signups by the producer contract's INSERT; their addresses."""
        # An empty queue: the drain creates the schema and ends without a word to the relay.
        p = self.reportd("run", "--drain")
        assert p.returncode == 0, p.err
        emails = [f"{prefix}{i}@example.com" for i in range(n)]
        con = sqlite3.connect(self.db, timeout=10)
        with con:
            con.executemany("INSERT INTO signups (email, role, level) VALUES (?, ?, ?)",
                            [(e, ROLE, LEVEL) for e in emails])
        con.close()
        return emails

    def start(self, name="daemon", env=None):
        log = self.tmp / f"{name}.log"
        with open(log, "ab") as f:
            p = subprocess.Popen([*self.prefix, str(REPORTD), "-c", str(self.config), "run"],
                                 stdout=subprocess.DEVNULL, stderr=f, env=clean_env(env))
        p.log = log
        self.procs.append(p)
        return p

    def stop(self, p, timeout=30):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise AssertionError(f"reportd did not stop within {timeout}s of SIGTERM")
        return p.returncode

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def rows(self):
        con = sqlite3.connect(self.db, timeout=30)
        con.row_factory = sqlite3.Row
        # A producer may have written bytes that are not UTF-8.
        con.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
        try:
            return [dict(r) for r in con.execute("SELECT * FROM signups ORDER BY id")]
        finally:
            con.close()

    def events(self):
        con = sqlite3.connect(self.db, timeout=30)
        try:
            return con.execute("SELECT signup_id, from_state, to_state, detail "
                               "FROM signup_events ORDER BY id").fetchall()
        finally:
            con.close()

    def settled(self):
        return all(r["state"] not in UNSETTLED for r in self.rows())

    def drain_until_settled(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            p = self.reportd("run", "--drain")
            assert p.returncode == 0, p.err[-2000:]
            if self.settled() or time.monotonic() > deadline:
                return
            time.sleep(0.3)

    def logs(self):
        return "".join(p.log.read_text(errors="replace") for p in self.procs)

    def assert_each_delivered_once(self, emails):
        got = self.relay.by_recipient()
        lost = [e for e in emails if not got.get(e)]
        dups = {e: ids for e, ids in got.items() if len(ids) > 1}
        assert not lost, f"lost {len(lost)}: {lost[:5]}"
        assert not dups, f"duplicated {sum(len(v) - 1 for v in dups.values())}: {list(dups)[:5]}"
        assert set(got) == set(emails)
        states = {r["email"]: r["state"] for r in self.rows()}
        assert {e: s for e, s in states.items() if s != "sent"} == {}


@pytest.fixture
def relay():
    servers = []

    def make(**kw):
        s = FaultServer(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def world(tmp_path):
    worlds = []

    def make(relay, **kw):
        w = World(tmp_path, relay, **kw)
        worlds.append(w)
        return w

    yield make
    for w in worlds:
        w.stop_all()


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")


@pytest.fixture
def tmpfs(tmp_path):
    """A small tmpfs of its own, mounted as root; unmounted at the end."""
    mounts = []

    def make(size):
        need_root()
        d = tmp_path / f"fs{len(mounts)}"
        d.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(d)],
                       check=True)
        mounts.append(d)
        return d

    yield make
    for d in reversed(mounts):
        subprocess.run(["umount", "-l", str(d)], check=False)


def faketime_env(**kw):
    if not LIBFAKETIME.exists():
        pytest.skip(f"{LIBFAKETIME} is missing (Debian package libfaketime)")
    # A real clock jump leaves CLOCK_MONOTONIC alone; libfaketime fakes it unless told not to.
    env = {"LD_PRELOAD": str(LIBFAKETIME), "DONT_FAKE_MONOTONIC": "1"}
    env.update(kw)
    return env


# --- the database cannot be written ----------------------------------------------------


def test_write_lock_held_longer_than_any_retry_budget(relay, world):
    """Another process holds the write lock for longer than SQLite's busy timeout
    twice over and longer than the claims' lease: the outcomes of the messages in
    flight are kept until they can be recorded, nothing new goes out meanwhile,
    and the live daemons' claims are not taken over by each other."""
    r = relay(latency=SLOW_RELAY)
    # The shortest lease the config allows for this timeout (more than timeout + 5s).
    w = world(r, timeout="2s", lease="8s", batch_size=SMALL_BATCH)
    emails = w.queue(40)
    daemons = [w.start("a"), w.start("b")]
    assert wait_until(lambda: r.count() >= 5, timeout=20)
    con = sqlite3.connect(w.db, timeout=30, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    at_lock = r.count()
    time.sleep(LOCK_SECONDS)
    during = r.count() - at_lock
    con.execute("ROLLBACK")
    con.close()
    # Only what was already in the transport when the lock was taken may complete:
    # per connection, the message on it and the one waiting for it, both marked.
    assert during <= len(daemons) * CONNECTIONS * 2, \
        f"{during} messages went out while nothing could be recorded"
    assert wait_until(w.settled, timeout=60)
    for p in daemons:
        assert w.stop(p) == 0
    w.assert_each_delivered_once(emails)


def test_filesystem_fills_during_sending_and_is_freed(relay, world, tmpfs):
    """The queue's filesystem fills up while messages go out: no outcome is
    forgotten, sending stops while nothing can be written, and resumes by itself
    once space is freed."""
    fs = tmpfs("4m")
    r = relay(latency=SLOW_RELAY)
    w = world(r, db=fs / "queue.db", timeout="2s", lease="8s")
    emails = w.queue(40)
    daemon = w.start()
    assert wait_until(lambda: r.count() >= 5, timeout=20)
    filler = fs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    at_full = r.count()
    time.sleep(4)
    during = r.count() - at_full
    filler.unlink()
    # The fault was hit: the daemon found it could not write (SQLite: "database or disk is full").
    assert re.search(r"full|no space", daemon.log.read_text(errors="replace"), re.I)
    # At most what the transport held: per connection, the message on it and the one waiting.
    assert during <= CONNECTIONS * 2, f"{during} messages went out while the disk was full"
    assert wait_until(w.settled, timeout=60)
    assert w.stop(daemon) == 0
    w.assert_each_delivered_once(emails)


def sent_count(w):
    p = w.reportd("status", "--json")
    return json.loads(p.out)["counts"]["sent"] if p.returncode == 0 else None


def test_read_only_database_made_writable_again(relay, world, tmp_path):
    """The daemon starts on a database file it may only read (SQLite then opens
    it read-only without a word): it says so, sends nothing, keeps running, and
    delivers by itself (no SIGHUP) once the file is made writable. Read-only
    commands work on the read-only file. reportd runs as nobody: root ignores
    file modes."""
    need_root()
    home = Path(tempfile.mkdtemp(prefix="reportd-ro-"))
    try:
        os.chown(home, NOBODY, NOGROUP)
        os.chmod(home, 0o755)
        r = relay()
        roles, templates = readable_data(home)
        w = world(r, db=home / "queue.db", config=home / "reportd.yaml", roles=roles,
                  templates=templates)
        emails = w.queue(20)
        for f in home.iterdir():
            os.chown(f, NOBODY, NOGROUP)
        os.chmod(w.db, 0o444)
        w.prefix = AS_NOBODY
        daemon = w.start()
        time.sleep(3)
        status = w.reportd("status", "--json")
        alive = daemon.poll() is None
        sent_while_ro = r.count()
        os.chmod(w.db, 0o644)
        assert alive, f"reportd exited {daemon.returncode} on a read-only database"
        assert sent_while_ro == 0, "messages went out while no outcome could be recorded"
        assert status.returncode == 0, status.err
        assert json.loads(status.out)["counts"]["queued"] == len(emails)
        log = daemon.log.read_text(errors="replace")
        said = [line for line in log.splitlines()
                if re.search(r"read.?only|not writable|cannot be written", line, re.I)]
        assert said, "no error says the database is read-only:\n" + log[-2000:]
        # One clear error, not one per poll.
        assert len(said) <= 3, "\n".join(said[:10])
        # Watched as nobody: a root reader would create SQLite's -shm and -wal files
        # owned by root, which the daemon could not write.
        assert wait_until(lambda: sent_count(w) == len(emails), timeout=30, interval=0.5), \
            "not delivered after the database became writable:\n" + \
            daemon.log.read_text(errors="replace")[-3000:]
        assert w.stop(daemon) == 0
        w.assert_each_delivered_once(emails)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_read_only_commands_do_not_wait_for_the_write_lock(relay, world):
    """A website holding a long write transaction does not stop `reportd status`,
    `list` or `show`."""
    r = relay()
    w = world(r)
    w.queue(3)
    con = sqlite3.connect(w.db, timeout=30, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    try:
        for args in (("status", "--json"), ("list",), ("show", "1")):
            t = time.monotonic()
            p = w.reportd(*args)
            took = time.monotonic() - t
            assert p.returncode == 0, f"reportd {' '.join(args)}: {p.err}"
            assert took < 2, f"reportd {' '.join(args)} waited {took:.1f}s for the write lock"
    finally:
        con.execute("ROLLBACK")
        con.close()


# --- clocks ----------------------------------------------------------------------------


def test_clock_jump_forward_takes_over_no_live_claim(relay, world, tmp_path):
    """One of two daemons sees its wall clock jump 600 s forward mid-delivery: the
    other one's claims look expired to it, but their owner is alive on this host."""
    clock = tmp_path / "faketime"
    clock.write_text("+0\n")
    env = faketime_env(FAKETIME_TIMESTAMP_FILE=str(clock), FAKETIME_NO_CACHE="1")
    r = relay(latency=SLOW_RELAY)
    w = world(r, batch_size=SMALL_BATCH)
    emails = w.queue(100)
    jumper = w.start("jumper", env=env)
    other = w.start("other")
    assert wait_until(lambda: r.count() >= 5, timeout=20)
    clock.write_text(CLOCK_AHEAD + "\n")
    assert wait_until(w.settled, timeout=60)
    assert w.stop(jumper) == 0
    assert w.stop(other) == 0
    w.assert_each_delivered_once(emails)


def test_daemon_whose_clock_runs_ahead_takes_over_no_live_claim(relay, world):
    """Two daemons, one with its wall clock 600 s ahead from the start."""
    env = faketime_env(FAKETIME=CLOCK_AHEAD)
    r = relay(latency=SLOW_RELAY)
    w = world(r, batch_size=SMALL_BATCH)
    emails = w.queue(60)
    ahead = w.start("ahead", env=env)
    other = w.start("other")
    assert wait_until(w.settled, timeout=60)
    assert w.stop(ahead) == 0
    assert w.stop(other) == 0
    w.assert_each_delivered_once(emails)


# --- the relay -------------------------------------------------------------------------


def test_stop_during_a_relay_stall_is_bounded_by_smtp_timeout(relay, world):
    """SIGTERM while the relay never answers the end of DATA: reportd gives up
    the transfer at smtp.timeout and does not wait again for a reply to QUIT.
    A later run delivers the rest, each signup once."""
    timeout_s = 4
    r = relay(stall_on=3)  # forever
    w = world(r, timeout=f"{timeout_s}s")
    emails = w.queue(10)
    daemon = w.start()
    assert r.stalled.wait(20)
    t = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    try:
        rc = daemon.wait(timeout_s * 3 + 10)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
        raise
    took = time.monotonic() - t
    assert rc == 0
    assert took <= timeout_s + STOP_MARGIN_S, f"stop took {took:.1f}s with smtp.timeout {timeout_s}s"
    r.stall_on = None
    w.drain_until_settled()
    w.assert_each_delivered_once(emails)


def test_relay_down_for_a_while_charges_no_attempt(relay, world):
    """Nothing listens on the relay's port for a while: the sender pauses, no
    signup is charged an attempt or deferred; once the relay is up every signup
    is delivered once, on its first attempt."""
    r = relay(listening=False)
    w = world(r, retry_min="1s", retry_max="2s")
    emails = w.queue(20)
    daemon = w.start()
    time.sleep(5)
    down = w.rows()
    r.listen()
    assert daemon.poll() is None
    assert [(x["id"], x["attempts"]) for x in down if x["attempts"]] == []
    assert {x["state"] for x in down} <= {"queued", "sending"}
    assert wait_until(w.settled, timeout=30)
    assert w.stop(daemon) == 0
    w.assert_each_delivered_once(emails)
    # Each was transmitted once, and that one attempt is the only one counted.
    assert {x["attempts"] for x in w.rows()} == {1}
    assert [e for e in w.events() if e[2] == "deferred"] == []


# --- reasons ---------------------------------------------------------------------------


def reason_of(w, email):
    return next(x["reason"] for x in w.rows() if x["email"] == email)


def test_stall_in_data_records_the_timeout_and_sent_keeps_no_stale_reason(relay, world):
    r = relay(stall_on=1)  # forever
    w = world(r, timeout="2s")
    (email,) = w.queue(1)
    p = w.reportd("run", "--drain")
    assert p.returncode == 0, p.err
    assert r.faulted == [("stall", [email])]
    row = w.rows()[0]
    assert row["state"] == "deferred"
    assert row["reason"] and not row["reason"].startswith("3"), row["reason"]
    assert re.search(r"time(d)?[ -]?out", row["reason"], re.I), row["reason"]
    r.stall_on = None
    w.drain_until_settled()
    w.assert_each_delivered_once([email])
    assert not reason_of(w, email)


def test_drop_in_data_records_the_dropped_connection(relay, world):
    r = relay(drop_on=1)
    w = world(r, timeout="2s")
    (email,) = w.queue(1)
    p = w.reportd("run", "--drain")
    assert p.returncode == 0, p.err
    assert r.faulted == [("drop", [email])]
    row = w.rows()[0]
    assert row["state"] == "deferred"
    assert row["reason"] and not row["reason"].startswith("3"), row["reason"]
    assert re.search(r"connection|closed|dropped|reset|peer|recv|receiv", row["reason"], re.I), \
        row["reason"]
    w.drain_until_settled()
    w.assert_each_delivered_once([email])
    assert not reason_of(w, email)


def test_throttled_hand_back_records_the_reply(relay, world):
    r = relay(throttle=1)
    w = world(r, retry_min="3s", retry_max="3s")
    (email,) = w.queue(1)
    daemon = w.start()
    # Handed back after the 421, and waiting out the pause.
    assert wait_until(lambda: r.throttle == 0 and w.rows()[0]["state"] == "queued", timeout=10)
    row = w.rows()[0]
    assert row["attempts"] == 0
    assert row["reason"] and r.throttle_reply in row["reason"], row["reason"]
    assert wait_until(w.settled, timeout=20)
    assert w.stop(daemon) == 0
    w.assert_each_delivered_once([email])
    assert not reason_of(w, email)


# --- the shipped unit ------------------------------------------------------------------


def systemd_seconds(span):
    """A systemd time span ("90s", "1min 30s", "2min", "90") in seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
    total, rest = 0.0, span.replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", rest):
        return float(rest)
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)([a-z]+)", rest):
        total += float(num) * units[unit]
    assert re.fullmatch(r"(\d+(\.\d+)?[a-z]+)+", rest), span
    return total


def config_duration(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d)", text))


def test_unit_stop_timeout_outlasts_a_stop_during_a_stall():
    """systemd must not SIGKILL reportd in the middle of a send: TimeoutStopSec
    exceeds the longest stop, smtp.timeout plus the margin the stall test allows."""
    unit = (REPO / "systemd" / "reportd.service").read_text()
    stop = [systemd_seconds(v.strip()) for v in re.findall(r"^TimeoutStopSec=(.+)$", unit, re.M)]
    assert len(stop) == 1
    shipped = (REPO / "config" / "reportd.yaml").read_text()
    smtp = shipped.split("\nsmtp:", 1)[1]
    timeout = re.search(r"^\s+timeout:\s*(\S+)", smtp, re.M)
    assert timeout, "config/reportd.yaml has no smtp.timeout"
    timeout_s = config_duration(timeout.group(1))
    readme = (REPO / "README.md").read_text()
    default = re.search(r"^\| `smtp\.timeout` \| `([^`]+)` \|", readme, re.M)
    assert default, "README's configuration reference lists no smtp.timeout default"
    longest = max(timeout_s, config_duration(default.group(1)))
    assert stop[0] >= longest + STOP_MARGIN_S, (stop[0], longest)


# --- the log ---------------------------------------------------------------------------


def test_invalid_byte_in_a_producer_row_is_escaped_in_the_log(relay, world):
    """A producer's row with an address that is not UTF-8 is rejected, its
    neighbours are delivered once, and the byte reaches the log escaped."""
    r = relay()
    w = world(r)
    emails = w.queue(2)
    con = sqlite3.connect(w.db, timeout=10)
    with con:
        con.execute("INSERT INTO signups (email, role, level) VALUES (CAST(? AS TEXT), ?, ?)",
                    (b"x\xff@example.com", ROLE, LEVEL))
    con.close()
    p = subprocess.run([str(REPORTD), "-c", str(w.config), "run", "--drain"], capture_output=True,
                       env=clean_env(), timeout=60)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    got = r.by_recipient()
    assert sorted(got) == sorted(emails) and all(len(v) == 1 for v in got.values()), got
    bad = [x for x in w.rows() if x["email"] not in emails]
    assert [x["state"] for x in bad] == ["rejected"]
    assert b"\xff" not in p.stderr
    assert b"\\xff" in p.stderr, p.stderr.decode(errors="replace")[-1500:]
