#!/usr/bin/python3
"""Crash test: SIGKILL reportd daemons at random while they deliver, restart them, and count at the relay.

N signups are queued with the producer's SQL INSERT; D `build/reportd run`
daemons deliver them to a relay on loopback (tests/faultsmtp.py, answering
each end-of-DATA after 2-15 ms, like a real relay, and recording every
message it accepted with its Message-ID). K times, once the relay has
accepted a randomly chosen number of messages, a random daemon gets SIGKILL
a few milliseconds later and is started again at once. When the queue has
settled the daemons are stopped and a final `reportd run --drain` runs.

Pass: nothing lost (every signup delivered, or held when queue.uncertain is
hold); with hold, nothing duplicated, every held signup held for "outcome
unknown after a crash" and listed by `reportd list --state held`; with
resend, no more duplicates than kills times connections (what a kill finds
in flight), each carrying the first delivery's Message-ID. Every signup
recorded `sent` was accepted by the relay with the Message-ID recorded in
its row.

    tests/crash/crash_test.py [--signups 300] [--kills 10] [--daemons 1 3]
                              [--uncertain resend hold] [--backend sqlite pg] [--seed S] [--keep]

On PostgreSQL (--backend pg) the queue is a database on a throwaway server
(tests/integration/pg.py), the producer's INSERT comes through psycopg2, and
each daemon slot runs as if on a host of its own (its own hostname, in a UTS
namespace, when run as root): a daemon's claims are then recovered by its
restarted successor at once, and by the others only when its lease ends.

Prints one line per run: signups, kills, delivered, lost, duplicated, held.
Exits 1 when a run fails. tests/integration/test_crash.py runs the short form
in `make check`; `make crash-test` runs the long one.
"""
import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from faultsmtp import FaultServer  # noqa: E402

REPORTD = REPO / os.environ.get("REPORTD_BIN", "build/reportd")
# SMTP connections per daemon (check.sh also runs the short form with 4 and 16).
CONNECTIONS = int(os.environ.get("REPORTD_TEST_CONNECTIONS", "1"))
ROLE, LEVEL = "backend-developer", "mid"
UNCERTAIN_REASON = "outcome unknown after a crash"
# A relay's time to accept a message after the final dot, as measured on real relays.
RELAY_LATENCY = (0.002, 0.015)
# The kill lands this long after the relay accepted the chosen message: somewhere
# in the next message's render, send, wait for 250, or the record of its outcome.
KILL_JITTER = (0.0, 0.015)
# No progress at the relay for this long means the daemons are stuck: the run fails.
STUCK_SECONDS = 60
# After the kills: how long the queue may take to settle before the daemons are stopped.
SETTLE_SECONDS = 120
UNSETTLED = ("queued", "sending", "deferred")


@dataclass
class Result:
    signups: int
    daemons: int
    uncertain: str
    backend: str = "sqlite"
    kills: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    held: int = 0
    seconds: float = 0.0
    problems: list = field(default_factory=list)
    workdir: str = ""

    def line(self):
        return (f"backend={self.backend} daemons={self.daemons} uncertain={self.uncertain} "
                f"signups={self.signups} "
                f"kills={self.kills} delivered={self.delivered} lost={self.lost} "
                f"duplicated={self.duplicated} held={self.held} seconds={self.seconds:.1f}")


def clean_env():
    env = dict(os.environ)
    for k in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "REPORTD_CONFIG", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(k, None)
    return env


class Queue:
    """The queue as a producer and an auditor see it: a SQLite file or a PostgreSQL database."""

    def __init__(self, wd: Path, backend: str, pg=None):
        self.backend = backend
        self.db = wd / "queue.db"
        self.pg = pg
        self.pg_db = pg.create_db() if backend == "pg" else None

    def config_line(self):
        return f"url: {self.pg.url(self.pg_db)}" if self.pg else f"path: {self.db}"

    def connect(self):
        if self.pg:
            import psycopg2
            return psycopg2.connect(self.pg.dsn(self.pg_db))
        con = sqlite3.connect(self.db, timeout=30)
        con.execute("PRAGMA busy_timeout = 5000")
        return con

    def query(self, sql, params=()):
        con = self.connect()
        try:
            cur = con.cursor()
            cur.execute(sql.replace("?", "%s") if self.pg else sql, params)
            rows = cur.fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def insert(self, emails):
        con = self.connect()
        try:
            cur = con.cursor()
            mark = "%s" if self.pg else "?"
            cur.executemany(f"INSERT INTO signups (email, role, level) VALUES ({mark}, {mark}, {mark})",
                            [(e, ROLE, LEVEL) for e in emails])
            con.commit()
        finally:
            con.close()

    def close(self):
        if self.pg_db:
            self.pg.drop_db(self.pg_db)


def write_config(path: Path, queue: Queue, url: str, uncertain: str):
    path.write_text(f"""\
queue:
  {queue.config_line()}
  poll_interval: 100ms
  retry_min: 1s
  retry_max: 2s
  lease: 30s
  uncertain: {uncertain}
roles_dir: {REPO / 'config' / 'roles'}
templates_dir: {REPO / 'templates'}
sender:
  from: reports@reportd.test
smtp:
  url: {url}
  tls: none
  connect_timeout: 3s
  timeout: 10s
  connections: {CONNECTIONS}
""")


def reportd(config: Path, *args, timeout=120):
    p = subprocess.run([str(REPORTD), "-c", str(config), *map(str, args)], capture_output=True,
                       env=clean_env(), timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def queue_signups(config: Path, db: Queue, n: int):
    """The producer contract's INSERT, after reportd created the schema."""
    # An empty queue: the drain creates the schema and ends without a word to the relay.
    rc, _, err = reportd(config, "run", "--drain")
    if rc != 0:
        raise RuntimeError(f"reportd run --drain: {err}")
    db.insert([f"crash{i}@example.com" for i in range(n)])
    return [r[0] for r in db.query("SELECT email FROM signups ORDER BY id")]


def rows(db: Queue):
    return db.query("SELECT id, email, state, reason, message_id FROM signups")


def unsettled(db: Queue):
    return db.query("SELECT count(*) FROM signups WHERE state IN (?, ?, ?)", UNSETTLED)[0][0]


def as_host(name):
    """argv prefix running a command with its own hostname, as if on another host (root only)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return []
    return ["unshare", "--uts", "sh", "-c", f'hostname "{name}" && exec "$@"', "sh"]


class Daemons:
    """D `reportd run` processes, each restartable; stderr appended to one log per slot."""

    def __init__(self, config: Path, workdir: Path, n: int, hosts=False):
        self.config = config
        self.hosts = hosts
        self.logs = [workdir / f"daemon-{i}.log" for i in range(n)]
        self.procs = [None] * n
        self.offsets = [0] * n  # where each slot's current daemon began to log
        for i in range(n):
            self.start(i)

    def start(self, i):
        self.offsets[i] = self.logs[i].stat().st_size if self.logs[i].exists() else 0
        with open(self.logs[i], "ab") as log:
            prefix = as_host(f"crash-host-{i}") if self.hosts else []
            self.procs[i] = subprocess.Popen([*prefix, str(REPORTD), "-c", str(self.config), "run"],
                                             stdout=subprocess.DEVNULL, stderr=log,
                                             env=clean_env())

    def kill(self, i):
        p = self.procs[i]
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.start(i)

    def revive(self):
        """A daemon that exited on its own is a failure; it is restarted to go on counting."""
        died = []
        for i, p in enumerate(self.procs):
            if p.poll() is not None:
                died.append((i, p.returncode))
                self.start(i)
        return died

    def started(self, i):
        """The slot's current daemon is past its start-up (it said so)."""
        with open(self.logs[i], "rb") as log:
            log.seek(self.offsets[i])
            return b"daemon: started" in log.read()

    def stop(self, timeout=30):
        # A daemon restarted a moment ago may not have reached its main yet: a
        # SIGTERM then ends the process before reportd runs. Stop what has started.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
                self.started(i) or p.poll() is not None for i, p in enumerate(self.procs)):
            time.sleep(0.02)
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = []
        for p in self.procs:
            try:
                codes.append(p.wait(timeout))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                codes.append("hung")
        return codes


def held_listed(config: Path):
    rc, out, err = reportd(config, "list", "--state", "held")
    if rc != 0:
        raise RuntimeError(f"reportd list --state held: exit {rc}: {err}")
    return {int(line.split("\t")[0]) for line in out.splitlines() if line.strip()}


def uncertain_count(config: Path):
    """`reportd status --json`'s count of uncertain signups, or None when it has none."""
    rc, out, err = reportd(config, "status", "--json")
    if rc != 0:
        raise RuntimeError(f"reportd status --json: exit {rc}: {err}")
    st = json.loads(out)
    value = st.get("uncertain")
    if isinstance(value, dict):  # {"held": n, ...} would do as well
        value = value.get("held", sum(v for v in value.values() if isinstance(v, int)))
    return value


def kill_points(rng, signups, kills):
    """Relay counts at which to kill: spread over the run, one per kill."""
    top = max(2, int(signups * 0.9) - kills)
    if kills >= top:
        return sorted(rng.choice(range(1, top)) for _ in range(kills))
    return sorted(rng.sample(range(1, top), kills))


def run_crash(signups=300, kills=10, daemons=1, uncertain="resend", seed=None, workdir=None,
              keep=False, out=None, backend="sqlite", pg=None):
    """One crash run. Returns a Result; result.problems is empty when it passed. On PostgreSQL
    it uses the server pg, or starts one of its own."""
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    wd = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="reportd-crash-"))
    wd.mkdir(parents=True, exist_ok=True)
    res = Result(signups=signups, daemons=daemons, uncertain=uncertain, backend=backend,
                 workdir=str(wd))
    own_pg = None
    if backend == "pg" and pg is None:
        from pg import PgServer
        pg = own_pg = PgServer()
    db, config = Queue(wd, backend, pg), wd / "reportd.yaml"
    relay = FaultServer(latency=RELAY_LATENCY, seed=seed)
    started = time.monotonic()
    procs = None
    try:
        write_config(config, db, relay.url, uncertain)
        emails = queue_signups(config, db, signups)
        procs = Daemons(config, wd, daemons, hosts=backend == "pg")
        # Progress is what has settled (sent, held, failed), not only what the
        # relay took: with hold, each kill holds what was in flight, and with
        # many connections that can be more than the last tenth of the run.
        def progress():
            return relay.count() if uncertain == "resend" else signups - unsettled(db)

        for point in kill_points(rng, signups, kills):
            last, last_change = progress(), time.monotonic()
            while progress() < point:
                if progress() != last:
                    last, last_change = progress(), time.monotonic()
                elif time.monotonic() - last_change > 0.5:
                    # No progress for a while: a dead daemon, or (with hold) nothing left.
                    died = procs.revive()
                    if died:
                        res.problems.append(f"daemon(s) exited on their own: {died}")
                    if unsettled(db) == 0 or time.monotonic() - last_change > STUCK_SECONDS:
                        break
                    time.sleep(0.1)
                time.sleep(0.002 if uncertain == "resend" else 0.02)
            if progress() < point:
                break
            time.sleep(rng.uniform(*KILL_JITTER))
            procs.kill(rng.randrange(daemons))
            res.kills += 1
        deadline = time.monotonic() + SETTLE_SECONDS
        while unsettled(db) and time.monotonic() < deadline:
            died = procs.revive()
            if died:
                res.problems.append(f"daemon(s) exited on their own: {died}")
            time.sleep(0.1)
        codes = procs.stop()
        procs = None
        if any(c != 0 for c in codes):
            res.problems.append(f"daemons stopped by SIGTERM exited {codes}")
        # The final drain: whatever is still due (a retry's backoff) is sent now.
        deadline = time.monotonic() + 30
        while True:
            rc, _, err = reportd(config, "run", "--drain")
            if rc != 0:
                res.problems.append(f"final run --drain exited {rc}: {err[-300:]}")
                break
            if unsettled(db) == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        res.seconds = time.monotonic() - started
        check(res, config, db, emails, relay)
    finally:
        if procs:
            procs.stop()
        relay.stop()
        db.close()
        if own_pg:
            own_pg.stop()
    if out:
        print(res.line(), file=out, flush=True)
        for p in res.problems:
            print(f"  FAIL: {p}", file=out, flush=True)
        if res.problems:
            print(f"  seed={seed} workdir={wd} (daemon logs there)", file=out, flush=True)
    if not res.problems and not keep:
        shutil.rmtree(wd, ignore_errors=True)
    return res


def check(res: Result, config: Path, db: Queue, emails, relay: FaultServer):
    got = relay.by_recipient()
    table = rows(db)
    by_email = {r[1]: r for r in table}
    strangers = set(got) - set(emails)
    if strangers:
        res.problems.append(f"the relay got mail for addresses never queued: {sorted(strangers)[:5]}")
    held_ids = {r[0] for r in table if r[2] == "held"}
    res.held = len(held_ids)
    res.delivered = sum(1 for e in emails if got.get(e))
    res.duplicated = sum(len(got[e]) - 1 for e in emails if len(got.get(e, [])) > 1)
    lost = [e for e in emails if not got.get(e) and by_email[e][2] != "held"]
    res.lost = len(lost)
    if lost:
        states = {}
        for e in lost:
            states[by_email[e][2]] = states.get(by_email[e][2], 0) + 1
        res.problems.append(f"lost {len(lost)} (neither delivered nor held; states {states}), "
                            f"e.g. {lost[:3]}")
    others = [(r[0], r[2]) for r in table if r[2] not in ("sent", "held")]
    if others:
        res.problems.append(f"signups neither sent nor held at the end: {others[:5]}")
    for sid, email, state, reason, msgid in table:
        ids = got.get(email, [])
        if state == "sent" and msgid not in ids:
            res.problems.append(f"signup {sid} is sent with Message-ID {msgid}, the relay got {ids}")
        if len(set(ids)) > 1:
            res.problems.append(f"signup {sid} was delivered with different Message-IDs: {ids}")
    # A kill leaves uncertain at most the messages whose outcome was not yet
    # committed: per connection, one whose reply had arrived and the next one,
    # which a relay answering at once can finish before that commit.
    in_flight_max = res.kills * CONNECTIONS * 2
    if res.uncertain == "resend":
        if res.duplicated > in_flight_max:
            res.problems.append(f"duplicated {res.duplicated} > kills {res.kills} x "
                                f"{CONNECTIONS} connection(s) x 2")
        if held_ids:
            res.problems.append(f"resend held {len(held_ids)} signups")
    else:
        if res.duplicated:
            dups = [e for e in emails if len(got.get(e, [])) > 1]
            res.problems.append(f"duplicated {res.duplicated} with queue.uncertain: hold, "
                                f"e.g. {dups[:3]}")
        wrong = [(r[0], r[3]) for r in table if r[2] == "held" and r[3] != UNCERTAIN_REASON]
        if wrong:
            res.problems.append(f"held without the reason {UNCERTAIN_REASON!r}: {wrong[:5]}")
        # With hold nothing waits in the transport and a connection's next
        # message follows the record of its last: one per connection and kill.
        if len(held_ids) > res.kills * CONNECTIONS:
            res.problems.append(f"held {len(held_ids)} > kills {res.kills} x {CONNECTIONS} "
                                f"connection(s): only a kill makes an outcome unknown")
        listed = held_listed(config)
        if listed != held_ids:
            res.problems.append(f"reportd list --state held shows {sorted(listed)}, "
                                f"held are {sorted(held_ids)}")
        count = uncertain_count(config)
        if count is not None and count != len(held_ids):
            res.problems.append(f"reportd status --json says uncertain {count}, "
                                f"held are {len(held_ids)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signups", type=int, default=300)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--daemons", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--uncertain", nargs="+", default=["resend", "hold"],
                    choices=["resend", "hold"])
    ap.add_argument("--backend", nargs="+", default=["sqlite"], choices=["sqlite", "pg"])
    ap.add_argument("--seed", type=int)
    ap.add_argument("--workdir", help="keep the run's files here (one subdirectory per run)")
    ap.add_argument("--keep", action="store_true", help="keep the files of passing runs too")
    args = ap.parse_args()
    if not REPORTD.exists():
        print(f"{REPORTD} is missing: run make first", file=sys.stderr)
        return 2
    failed = runs = 0
    pg = None
    try:
        for backend in args.backend:
            if backend == "pg" and pg is None:
                from pg import PgServer
                pg = PgServer()
            for policy in args.uncertain:
                for d in args.daemons:
                    wd = Path(args.workdir) / f"{backend}-{policy}-{d}" if args.workdir else None
                    res = run_crash(args.signups, args.kills, d, policy, args.seed, wd, args.keep,
                                    out=sys.stdout, backend=backend, pg=pg)
                    failed += bool(res.problems)
                    runs += 1
    finally:
        if pg:
            pg.stop()
    print(f"crash test: {failed} of {runs} runs failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
