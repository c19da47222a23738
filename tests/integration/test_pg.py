"""The PostgreSQL queue beyond what the parametrized suite covers: several daemons, each as if
on a host of its own, draining one queue while producers insert from psql and from Python; one
report per address held by the database; the schema's guards; the password kept out of the URL.
Real servers only: the session's PostgreSQL (tests/integration/pg.py) and aiosmtpd."""
import collections
import json
import subprocess
import threading
import time

import psycopg2
import pytest

from conftest import REPO, REPORTD, wait_until

ROLE, LEVEL = "backend-developer", "mid"
EX_IOERR = 74


@pytest.fixture
def pgq(tmp_path, pg_server):
    """A fresh PostgreSQL database, a config for it, and helpers."""
    q = PgQueue(tmp_path, pg_server)
    yield q
    q.close()


class PgQueue:
    def __init__(self, tmp, pg):
        self.tmp = tmp
        self.pg = pg
        self.db = pg.create_db()
        self.config = tmp / "reportd.yaml"
        self.procs = []
        self.write_config("smtp://127.0.0.1:9")

    def write_config(self, smtp_url, url=None, extra_queue="", poll="200ms"):
        self.config.write_text(f"""\
queue:
  url: {url or self.pg.url(self.db)}
  poll_interval: {poll}
  retry_min: 1s
  retry_max: 2s
  lease: 30s
{extra_queue}roles_dir: {REPO / 'config' / 'roles'}
templates_dir: {REPO / 'templates'}
sender:
  from: reports@reportd.test
smtp:
  url: {smtp_url}
  tls: none
  connect_timeout: 3s
  timeout: 10s
""")

    def run(self, *args, env=None, timeout=60):
        p = subprocess.run([str(REPORTD), "-c", str(self.config), *map(str, args)],
                           capture_output=True, text=True, timeout=timeout, env=env)
        return p

    def start(self, host):
        """A daemon with its own hostname (a UTS namespace), as if on another host."""
        log = open(self.tmp / f"{host}.log", "ab")
        p = subprocess.Popen(["unshare", "--uts", "sh", "-c", f'hostname "{host}" && exec "$@"',
                              "sh", str(REPORTD), "-c", str(self.config), "run"],
                             stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append(p)
        return p

    def sql(self, query, params=()):
        con = psycopg2.connect(self.pg.dsn(self.db))
        try:
            with con, con.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []
        finally:
            con.close()

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                p.wait(20)
        self.pg.drop_db(self.db)


def test_three_daemons_drain_one_queue_while_producers_insert(pgq, capture):
    srv = capture()
    pgq.write_config(srv.url)
    assert pgq.run("run", "--drain").returncode == 0  # the schema
    daemons = [pgq.start(f"host-{i}") for i in range(3)]
    n_psql, n_py = 60, 90
    # From psql: one INSERT statement per signup, as a shell script would.
    psql_sql = "".join(
        f"INSERT INTO signups (email, role, level) VALUES ('psql{i}@example.com', '{ROLE}', "
        f"'{LEVEL}');\n" for i in range(n_psql))
    psql = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", pgq.pg.dsn(pgq.db)],
                            stdin=subprocess.PIPE, text=True)
    # From Python, at the same time: a web application's connection, one commit per signup.
    con = psycopg2.connect(pgq.pg.dsn(pgq.db))
    with con.cursor() as cur:
        for i in range(n_py):
            cur.execute("INSERT INTO signups (email, name, role, level, tasks) VALUES "
                        "(%s, %s, %s, %s, %s)", (f"py{i}@example.com", "Py", ROLE, LEVEL, "[]"))
            con.commit()
    con.close()
    psql.communicate(psql_sql, timeout=60)
    assert psql.returncode == 0
    total = n_psql + n_py
    assert wait_until(lambda: len(srv.raw_messages()) >= total, timeout=60)
    time.sleep(1)  # anything more would be a duplicate: give it the time to show
    for d in daemons:
        d.terminate()
        assert d.wait(20) == 0
    got = collections.Counter(m["To"].addresses[0].addr_spec for m in srv.messages())
    want = {f"psql{i}@example.com" for i in range(n_psql)} | {f"py{i}@example.com"
                                                              for i in range(n_py)}
    assert set(got) == want
    assert max(got.values()) == 1
    assert pgq.sql("SELECT state, count(*) FROM signups GROUP BY state") == [("sent", total)]
    # Each daemon claimed under its own owner name, and more than one did work.
    owners = {r[0].split(":")[0] for r in pgq.sql(
        "SELECT detail FROM signup_events WHERE to_state = 'sending'")}
    assert owners <= {f"claimed by host-{i}" for i in range(3)} and len(owners) >= 2


def test_two_signups_for_one_address_at_the_same_instant_get_one_report(pgq, capture):
    srv = capture()
    pgq.write_config(srv.url)
    assert pgq.run("run", "--drain").returncode == 0
    [pgq.start(f"host-{i}") for i in range(3)]
    pairs = 20
    cons = [psycopg2.connect(pgq.pg.dsn(pgq.db)) for _ in range(2)]
    for i in range(pairs):
        # Both transactions hold their row before either commits; the commits race.
        barrier = threading.Barrier(2)

        def insert(con, email):
            with con.cursor() as cur:
                cur.execute("INSERT INTO signups (email, role, level) VALUES (%s, %s, %s)",
                            (email, ROLE, LEVEL))
                barrier.wait(10)
            con.commit()

        threads = [threading.Thread(target=insert, args=(cons[0], f"twice{i}@example.com")),
                   threading.Thread(target=insert, args=(cons[1], f"twice{i}@EXAMPLE.com"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    for c in cons:
        c.close()
    settled = ("SELECT count(*) FROM signups WHERE state IN ('sent', 'rejected')")
    assert wait_until(lambda: pgq.sql(settled)[0][0] == 2 * pairs, timeout=60)
    time.sleep(1)
    got = collections.Counter(m["To"].addresses[0].addr_spec.lower() for m in srv.messages())
    assert got == {f"twice{i}@example.com": 1 for i in range(pairs)}
    rejected = pgq.sql("SELECT reason FROM signups WHERE state = 'rejected'")
    assert len(rejected) == pairs and all("duplicate" in r[0] for r in rejected)


def test_the_database_refuses_a_second_report_in_flight(pgq):
    assert pgq.run("enqueue", "--email", "one@example.com", "--role", ROLE, "--level",
                   LEVEL).returncode == 0
    pgq.sql("INSERT INTO signups (email, role, level) VALUES ('one@EXAMPLE.com', %s, %s)",
            (ROLE, LEVEL))
    pgq.sql("UPDATE signups SET state = 'sent' WHERE id = 1")
    # Whatever a daemon's (or an operator's) mistake, the second cannot be in flight too.
    with pytest.raises(psycopg2.errors.UniqueViolation):
        pgq.sql("UPDATE signups SET state = 'sending' WHERE id = 2")


def test_a_batch_claim_takes_the_rest_when_the_index_refuses_one(pgq):
    """reportd_claim_many() claims a batch in one call: the one signup whose address another
    daemon has just taken (the one-report index refuses it) stays due, and the others are
    claimed with their history, in the same transaction."""
    for addr in ("a@example.com", "b@example.com", "c@example.com"):
        assert pgq.run("enqueue", "--email", addr, "--role", ROLE, "--level",
                       LEVEL).returncode == 0
    pgq.sql("INSERT INTO signups (email, role, level) VALUES ('b@EXAMPLE.com', %s, %s)",
            (ROLE, LEVEL))
    pgq.sql("UPDATE signups SET state = 'sending', claimed_by = 'other:1' WHERE id = 2")
    taken = pgq.sql("SELECT reportd_claim_many(ARRAY[1, 4, 3]::bigint[],"
                    " ARRAY['queued', 'queued', 'queued'], 1000, 'me:1', 2000, 'claimed by me:1')")
    assert sorted(r[0] for r in taken) == [1, 3]
    assert pgq.sql("SELECT id, state, claimed_by, claim_until FROM signups ORDER BY id") == [
        (1, "sending", "me:1", 2000), (2, "sending", "other:1", None),
        (3, "sending", "me:1", 2000), (4, "queued", None, None)]
    assert pgq.sql("SELECT signup_id, from_state, detail FROM signup_events"
                   " WHERE to_state = 'sending' ORDER BY signup_id") == [
        (1, "queued", "claimed by me:1"), (3, "queued", "claimed by me:1")]


def test_a_version_1_queue_is_migrated_and_drained(pgq, capture):
    """A queue made by a reportd of schema version 1 (without the claim's functions and index
    of version 2) is migrated by the daemon at its start, signups waiting in it included."""
    srv = capture()
    pgq.write_config(srv.url)
    assert pgq.run("run", "--drain").returncode == 0  # the schema, then back to version 1
    pgq.sql("DROP FUNCTION reportd_due(bigint, integer);"
            " DROP FUNCTION reportd_claim_many(bigint[], text[], bigint, text, bigint, text);"
            " DROP INDEX signups_waiting; UPDATE reportd_schema SET version = 1")
    for i in range(3):
        pgq.sql("INSERT INTO signups (email, role, level) VALUES (%s, %s, %s)",
                (f"m{i}@example.com", ROLE, LEVEL))
    p = pgq.run("-v", "run", "--drain")
    assert p.returncode == 0, p.stderr
    assert "schema migrated from version 1 to 2" in p.stderr
    assert pgq.sql("SELECT version FROM reportd_schema") == [(2,)]
    assert pgq.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 'signups_waiting'") == [(1,)]
    assert sorted(m["To"].addresses[0].addr_spec for m in srv.messages()) == \
        [f"m{i}@example.com" for i in range(3)]


def test_a_newer_schema_is_refused_and_left_as_it_was(pgq):
    """A queue a newer reportd has migrated past this one's schema: the daemon refuses to
    start on it (it would not know the columns), and a reader refuses to read it."""
    assert pgq.run("run", "--drain").returncode == 0
    (known,), = pgq.sql("SELECT version FROM reportd_schema")
    pgq.sql("UPDATE reportd_schema SET version = %s", (known + 1,))
    p = pgq.run("run", "--drain")
    assert p.returncode == EX_IOERR
    assert f"schema version {known + 1} is newer than this reportd knows ({known})" in p.stderr
    p = pgq.run("status")
    assert p.returncode == EX_IOERR
    assert f"schema version {known + 1}, this reportd's is {known}" in p.stderr
    assert pgq.sql("SELECT version FROM reportd_schema") == [(known + 1,)]


def test_a_producer_may_not_set_reportds_columns(pgq):
    assert pgq.run("run", "--drain").returncode == 0
    for col, value in [("state", "sent"), ("attempts", 3), ("claimed_by", "x:1"),
                       ("message_id", "<m@x>")]:
        with pytest.raises(psycopg2.errors.CheckViolation):
            pgq.sql(f"INSERT INTO signups (email, role, level, {col}) VALUES (%s, %s, %s, %s)",
                    ("p@example.com", ROLE, LEVEL, value))
    # Nor the id, which the database gives.
    with pytest.raises(psycopg2.errors.GeneratedAlways):
        pgq.sql("INSERT INTO signups (id, email, role, level) VALUES (7, %s, %s, %s)",
                ("p@example.com", ROLE, LEVEL))
    assert pgq.sql("SELECT count(*) FROM signups") == [(0,)]
    # The website's view of its signups: the columns of SQLite's, in their order.
    cols = [r[0] for r in pgq.sql("SELECT column_name FROM information_schema.columns"
                                  " WHERE table_name = 'signup_status' ORDER BY ordinal_position")]
    assert cols == ["id", "email", "state", "reason", "sent_at", "message_id", "created_at"]


def test_read_only_commands_never_create_the_schema(pgq):
    p = pgq.run("status")
    assert p.returncode == EX_IOERR and "start the daemon" in p.stderr
    assert pgq.sql("SELECT to_regclass('signups') IS NULL") == [(True,)]


def test_password_from_a_file_or_the_credentials_directory_never_in_the_url(pgq, tmp_path):
    url = pgq.pg.tcp_url(pgq.db)
    pgq.pg.psql(f"GRANT ALL ON DATABASE \"{pgq.db}\" TO reportd_pw", db=pgq.db)
    pgq.pg.psql("GRANT ALL ON SCHEMA public TO reportd_pw", db=pgq.db)
    pw = tmp_path / "pg-password"
    pw.write_text(pgq.pg.password + "\n")
    pgq.write_config("smtp://127.0.0.1:9", url=url, extra_queue=f"  password_file: {pw}\n")
    p = pgq.run("run", "--drain")
    assert p.returncode == 0, p.stderr
    assert pgq.pg.password not in p.stderr
    # systemd's LoadCredential=: a bare name is looked up in $CREDENTIALS_DIRECTORY.
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "queue-password").write_text(pgq.pg.password)
    pgq.write_config("smtp://127.0.0.1:9", url=url, extra_queue="  password_file: queue-password\n")
    p = pgq.run("status", env={"CREDENTIALS_DIRECTORY": str(creds), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    # A wrong one is refused by the server, and not repeated.
    (creds / "queue-password").write_text("Wr0ng-Pa55")
    p = pgq.run("status", env={"CREDENTIALS_DIRECTORY": str(creds), "PATH": "/usr/bin:/bin"})
    assert p.returncode == EX_IOERR and "password authentication failed" in p.stderr
    assert "Wr0ng-Pa55" not in p.stderr


def sqlite_config(tmp, smtp_url):
    db = tmp / "site.db"
    config = tmp / "sqlite.yaml"
    config.write_text(f"""\
queue:
  path: {db}
  poll_interval: 200ms
roles_dir: {REPO / 'config' / 'roles'}
templates_dir: {REPO / 'templates'}
sender:
  from: reports@reportd.test
smtp:
  url: {smtp_url}
  tls: none
""")
    return db, config


def reportd(config, *args, env=None):
    return subprocess.run([str(REPORTD), "-c", str(config), *map(str, args)], capture_output=True,
                          text=True, timeout=60, env=env)


def test_queue_copy_moves_states_and_history_into_postgresql(pgq, capture, tmp_path):
    import sqlite3
    srv = capture()
    db, sq = sqlite_config(tmp_path, srv.url)
    ids = [int(reportd(sq, "enqueue", "--email", f"move{i}@example.com", "--role", ROLE,
                       "--level", LEVEL, "--task", "write-production-code=40").stdout) for i in range(4)]
    assert reportd(sq, "run", "--drain").returncode == 0  # all four sent
    assert reportd(sq, "purge", ids[0]).returncode == 0  # sent: scrubbed, its hash kept
    later = [int(reportd(sq, "enqueue", "--email", f"wait{i}@example.com", "--role", ROLE,
                         "--level", LEVEL).stdout) for i in range(3)]
    assert reportd(sq, "hold", later[0]).returncode == 0
    before_list = reportd(sq, "list").stdout
    before_show = [reportd(sq, "show", i).stdout for i in ids + later]
    # A daemon's claim in the file: the copy is refused, and copies nothing.
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE signups SET state = 'sending', claimed_by = 'other:1', "
                    "claim_until = ? WHERE id = ?", (int(time.time() * 1000) + 60000, later[1]))
    url = pgq.pg.url(pgq.db)
    p = reportd(sq, "queue", "copy", "--to", url)
    assert p.returncode == EX_IOERR and "holds claims" in p.stderr
    with con:
        con.execute("UPDATE signups SET state = 'queued', claimed_by = NULL, claim_until = NULL"
                    " WHERE id = ?", (later[1],))
    con.close()
    p = reportd(sq, "queue", "copy", "--to", url)
    assert p.returncode == 0, p.stderr
    assert f"copied {len(ids) + len(later)} signups" in p.stdout
    # Into a queue that has signups: refused.
    p = reportd(sq, "queue", "copy", "--to", url)
    assert p.returncode == EX_IOERR and "already has signups" in p.stderr
    pgq.write_config(srv.url)
    assert pgq.run("list").stdout == before_list
    assert [pgq.run("show", i).stdout for i in ids + later] == before_show
    # The scrubbed address is still served (the hash key came along); new ids follow on.
    p = pgq.run("enqueue", "--email", "move0@example.com", "--role", ROLE, "--level", LEVEL)
    assert p.returncode == 0 and f"(signup {ids[0]}); not queued again" in p.stderr
    p = pgq.run("enqueue", "--email", "new@example.com", "--role", ROLE, "--level", LEVEL)
    assert p.returncode == 0 and int(p.stdout) == max(ids + later) + 1
    # And the PostgreSQL queue delivers what was waiting, and only that.
    sent_before = len(srv.raw_messages())
    assert pgq.run("run", "--drain").returncode == 0
    assert len(srv.raw_messages()) == sent_before + 3  # wait1, wait2, new; wait0 is held


def test_a_claim_loads_its_batch_as_show_loads_one_signup(pgq, capture):
    """The claim reads its whole batch, lists included, in two queries (pg_load_many); `show`
    reads one signup with a query per list (pg_load). Both must make the same record: every
    list a producer can write, good and bad, gets the same verdict from both."""
    srv = capture()
    pgq.write_config(srv.url)
    assert pgq.run("run", "--drain").returncode == 0  # the schema
    too_many = json.dumps(["write-tests"] * 129)  # ROLE_MAX_TASKS is 128
    lists = [
        ("[]", "[]"),
        ('["write-tests", {"id": "debug-defects", "share": 40}]', '["python", "sql"]'),
        ('[{"id": "review-code"}, "develop-apis"]', None),
        (None, '["python"]'),
        ('[{"id": "write-tests", "share": 40, "colour": "red"}]', "[]"),
        ("[1]", '["python"]'),
        ('{"a": 1}', "[]"),
        (too_many, "[]"),
        ('["write-tests"]', "[null]"),
        ('["write-tests", 2]', '{"b": 2}'),
        ('[{"share": 10}]', '["python", {"id": 3}]'),
    ]
    ids = []
    for i, (tasks, skills) in enumerate(lists):
        ids.append(pgq.sql("INSERT INTO signups (email, role, level, tasks, skills) VALUES "
                           "(%s, %s, %s, %s, %s) RETURNING id",
                           (f"l{i}@example.com", ROLE, LEVEL, tasks, skills))[0][0])
    shown = {}
    for sid in ids:
        p = pgq.run("show", sid, "--json")
        assert p.returncode == 0, p.stderr
        shown[sid] = json.loads(p.stdout)
    assert pgq.run("run", "--drain").returncode == 0
    got = {r[0]: r[1:] for r in pgq.sql("SELECT id, state, reason FROM signups")}
    bad = [sid for sid in ids if shown[sid]["load_error"] is not None]
    assert 0 < len(bad) < len(ids)  # both kinds are in the batch
    for sid in ids:
        if sid in bad:
            assert got[sid] == ("rejected", shown[sid]["load_error"])
        else:
            assert got[sid][0] == "sent"
    sent = {m["To"].addresses[0].addr_spec for m in srv.messages()}
    assert sent == {shown[sid]["email"] for sid in ids if sid not in bad}
