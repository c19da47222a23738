"""The producer contract, from the website's side: producers in Python (sqlite3), PHP (PDO
sqlite) and Node (better-sqlite3) insert concurrently into the queue of a running build/reportd,
read back through the signup_status view, and are refused reportd's columns by the database;
the file's mode whatever the umask; Unicode domains."""
import collections
import json
import os
import signal
import stat
import subprocess

import pytest

from conftest import REPO, wait_until

# The producers here are SQLite clients; PostgreSQL's producers (psql, psycopg2) are
# tests/integration/test_pg.py's.
pytestmark = pytest.mark.sqlite_only

PRODUCERS = REPO / "tests" / "producers"
# The three languages' producers, each run as a website would run it.
COMMANDS = {
    "python": ["/usr/bin/python3", str(PRODUCERS / "producer.py")],
    "php": ["php", str(PRODUCERS / "producer.php")],
    "node": ["node", str(PRODUCERS / "producer.js")],
}
# Per producer: enough that the three overlap, and that every variant (NULL lists, lists left
# out, lists given) comes up many times.
PER_PRODUCER = 30
EX_DATAERR = 65


def producer(lang, db, *args, check=True):
    p = subprocess.run([*COMMANDS[lang], str(db), *map(str, args)], capture_output=True,
                       text=True, timeout=120)
    if check:
        assert p.returncode == 0, f"{lang}: {p.stderr}"
    return p


def start_daemon(env):
    """A running daemon that has created the schema, as a website finds it."""
    d = env.start("run")
    assert wait_until(lambda: env.db.exists() and env.sql("PRAGMA user_version")[0][0] == 7,
                      timeout=20), "the daemon did not create the queue"
    return d


def stop(d):
    d.send_signal(signal.SIGTERM)
    assert d.wait(30) == 0


def recipients(srv):
    return [m["To"].addresses[0].addr_spec for m in srv.messages()]


def test_three_languages_insert_concurrently_and_each_signup_is_sent_once(env, capture):
    srv = capture("--quiet")
    env.write_config(smtp_url=srv.url)
    d = start_daemon(env)
    try:
        procs = {lang: subprocess.Popen([*cmd, str(env.db), "insert", lang, str(PER_PRODUCER)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for lang, cmd in COMMANDS.items()}
        ids = {}
        for lang, p in procs.items():
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, f"{lang}: {err}"
            ids[lang] = [int(x) for x in out.split()]
            assert len(ids[lang]) == PER_PRODUCER
        total = PER_PRODUCER * len(COMMANDS)
        assert wait_until(lambda: env.count("state = 'sent'") == total, timeout=120), env.states()
    finally:
        stop(d)
    # Counted at the server: each address exactly once, and nothing else.
    want = collections.Counter(f"{lang}-{i}@example.org"
                               for lang in COMMANDS for i in range(PER_PRODUCER))
    assert collections.Counter(recipients(srv)) == want
    by_address = {m["To"].addresses[0].addr_spec: m for m in srv.messages()}
    # Each producer reads back its own signups through the view, in its own language.
    for lang in COMMANDS:
        lines = producer(lang, env.db, "status", *ids[lang]).stdout.splitlines()
        assert len(lines) == PER_PRODUCER
        for i, line in enumerate(lines):
            sid, state, reason, sent_at, message_id = line.split("\t")
            assert (int(sid), state, reason) == (ids[lang][i], "sent", "")
            assert int(sent_at) > 0
            assert message_id == by_address[f"{lang}-{i}@example.org"]["Message-ID"]
    # NULL lists (i % 3 == 0) and lists left out (i % 3 == 1) were taken as none, not refused,
    # and rendered: a mid-level report without the person's tasks; given lists were used.
    assert env.count("state = 'rejected'") == 0
    assert env.count("tasks IS NULL AND skills IS NULL") == 10 * len(COMMANDS)
    assert env.count("tasks = '[]' AND skills = '[]'") == 10 * len(COMMANDS)
    for lang in COMMANDS:
        for i in (0, 1):
            body = by_address[f"{lang}-{i}@example.org"].get_body(("plain",)).get_content()
            assert "Backend Developer" in body or "backend" in body.lower()


@pytest.mark.parametrize("lang", sorted(COMMANDS))
def test_an_insert_that_sets_a_reportd_column_is_refused(env, lang):
    assert env.run("enqueue", "--email", "first@example.org", "--role", "backend-developer",
                   "--level", "mid").returncode == 0
    p = producer(lang, env.db, "forbidden")
    assert "signups.state belongs to reportd" in p.stdout, p.stdout + p.stderr
    assert env.count("email = 'forbidden@example.org'") == 0


def test_every_reportd_column_is_refused_by_name(env):
    """Derived from the table: every column that is not the producer's is refused, naming it."""
    import sqlite3

    env.enqueue("first@example.org")
    producer_columns = {"email", "name", "role", "level", "tasks", "skills", "years",
                        "created_at"}
    columns = [r[1] for r in env.sql("PRAGMA table_info(signups)")]
    owned = [c for c in columns if c not in producer_columns]
    assert set(producer_columns) < set(columns)
    con = sqlite3.connect(env.db, timeout=5)
    try:
        for col in owned:
            with pytest.raises(sqlite3.IntegrityError, match=f"signups.{col} belongs to reportd"):
                con.execute(f"INSERT INTO signups (email, role, level, {col})"
                            " VALUES ('x@example.org', 'backend-developer', 'mid', 12345)")
    finally:
        con.close()
    assert env.count() == 1


def test_status_view_is_read_only_and_tells_what_happened(env, capture):
    srv = capture("--quiet")
    env.write_config(smtp_url=srv.url)
    sid = env.enqueue("view@example.org")
    bad = env.sql("INSERT INTO signups (email, role, level) VALUES ('v2@example.org',"
                  " 'astronaut', 'mid') RETURNING id")[0][0]
    assert env.run("run", "--drain").returncode == 0
    rows = dict((r[0], r[1:]) for r in env.sql(
        "SELECT id, email, state, reason, sent_at IS NOT NULL, message_id FROM signup_status"))
    assert rows[sid][:4] == ("view@example.org", "sent", None, 1)
    assert rows[sid][4] == srv.messages()[0]["Message-ID"]
    assert rows[bad][1] == "rejected" and "role" in rows[bad][2] and rows[bad][4] is None
    import sqlite3

    for sql in ("UPDATE signup_status SET state = 'queued'", "DELETE FROM signup_status",
                "INSERT INTO signup_status (email) VALUES ('x@example.org')"):
        with pytest.raises(sqlite3.OperationalError):
            env.sql(sql)
    assert env.count("state = 'sent'") == 1


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_database_mode_whatever_the_creators_umask(env, capture, umask):
    """A command run by an operator creates the file, then the daemon runs: 0660 throughout."""
    srv = capture("--quiet")
    env.write_config(smtp_url=srv.url)
    p = subprocess.run([str(REPO / "build" / "reportd"), "-c", str(env.config), "enqueue",
                        "--email", "m@example.org", "--role", "backend-developer", "--level",
                        "mid"], capture_output=True, preexec_fn=lambda: os.umask(umask))
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE(env.db.stat().st_mode) == 0o660
    d = subprocess.Popen([str(REPO / "build" / "reportd"), "-c", str(env.config), "run"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         preexec_fn=lambda: os.umask(umask))
    try:
        assert wait_until(lambda: env.count("state = 'sent'") == 1, timeout=20)
        # While it runs, the -wal and -shm the daemon made have the database's mode too.
        for suffix in ("", "-wal", "-shm"):
            path = env.db.with_name(env.db.name + suffix)
            assert stat.S_IMODE(path.stat().st_mode) == 0o660, path
    finally:
        stop(d)


def test_unicode_domains_are_stored_and_sent_in_ascii(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    # From enqueue (which creates the queue), and from a website's rows.
    p = env.run("enqueue", "--email", "anna@Müller.example", "--role", "backend-developer",
                "--level", "mid")
    assert p.returncode == 0, p.err
    env.sql("INSERT INTO signups (email, role, level) VALUES (?, 'backend-developer', 'mid')",
            ("joerg@bücher.example",))
    env.sql("INSERT INTO signups (email, role, level) VALUES (?, 'backend-developer', 'mid')",
            ("bad@☃.example",))
    p = env.run("enqueue", "--email", "x@a--☃.example", "--role", "backend-developer",
                "--level", "mid")
    assert p.returncode == EX_DATAERR
    assert 'email: domain "a--☃.example" is not a valid internationalized domain name' in p.err
    assert env.run("run", "--drain").returncode == 0
    # The same address again, its domain in capitals: a duplicate of the one sent.
    env.sql("INSERT INTO signups (email, role, level) VALUES (?, 'backend-developer', 'mid')",
            ("joerg@BÜCHER.example",))
    assert env.run("run", "--drain").returncode == 0
    rows = dict(env.sql("SELECT id, email || ' ' || state || ' ' || coalesce(reason, '')"
                        " FROM signups"))
    assert rows[1] == "anna@xn--mller-kva.example sent "
    assert rows[2] == "joerg@xn--bcher-kva.example sent "
    assert rows[3].startswith("bad@☃.example rejected email: domain \"☃.example\" is not a"
                              " valid internationalized domain name")
    assert rows[4] == "joerg@xn--bcher-kva.example rejected duplicate: address already has signup 2"
    # At the server, in the envelope and the header: the ASCII form, once each.
    log = srv.log.read_text()
    assert log.count("to=joerg@xn--bcher-kva.example") == 1
    assert log.count("to=anna@xn--mller-kva.example") == 1
    assert sorted(recipients(srv)) == ["anna@xn--mller-kva.example", "joerg@xn--bcher-kva.example"]
    # The operator sees both forms.
    listing = env.run("list", "--state", "sent").out
    assert "joerg@xn--bcher-kva.example (bücher.example)" in listing
    assert "anna@xn--mller-kva.example (müller.example)" in listing
    assert "email: joerg@xn--bcher-kva.example (bücher.example)" in env.run("show", "2").out
    shown = json.loads(env.run("show", "2", "--json").out)
    assert (shown["email"], shown["email_domain_unicode"]) == ("joerg@xn--bcher-kva.example",
                                                               "bücher.example")
