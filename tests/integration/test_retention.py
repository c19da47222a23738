"""Retention and the read-only side of the queue, with the real build/reportd:
a sent signup's personal data is scrubbed once queue.retention has passed,
its address still gets no second report (counted at a real SMTP server);
status, list and show read while a website holds the write lock; a queue
file reportd may not write is refused with a clear error."""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, REPORTD, readable_data

ROLE = "backend-developer"
EX_DATAERR = 65
EX_IOERR = 74
NOBODY = 65534
# Producers and reportd wait this long for a lock (QUEUE_BUSY_TIMEOUT_MS).
BUSY_TIMEOUT_S = 5.0


def person(env, addr):
    return env.enqueue(addr, ROLE, "senior", "--name", "Ada Lovelace", "--task", "review-code=40",
                       "--skill", "sql", "--years", "12")


def everything_stored(env, sid):
    """Every column of the signup's row and of its history, as one text."""
    row = env.sql("SELECT * FROM signups WHERE id=?", (sid,))
    events = env.sql("SELECT * FROM signup_events WHERE signup_id=?", (sid,))
    return repr(row) + repr(events)


def test_sent_signup_is_scrubbed_after_retention_and_its_address_stays_served(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url, extra_queue="  retention: 1s")
    sid = person(env, "Ada.L@Example.COM")
    assert env.run("run", "--drain").returncode == 0
    assert len(srv.raw_messages()) == 1
    sent = env.sql("SELECT message_id, sent_at, last_reply, updated_at FROM signups WHERE id=?",
                   (sid,))[0]
    assert "Ada Lovelace" in everything_stored(env, sid)

    # Past the retention (1 s after it settled), the next daemon round scrubs it.
    time.sleep(max(0.0, sent[3] / 1000 + 1.2 - time.time()))
    d = env.run("run", "--drain")
    assert d.returncode == 0, d.err
    assert f"id={sid} scrubbed" in d.err
    stored = everything_stored(env, sid)
    for trace in ("ada.l@", "example.com", "Lovelace", "review-code", "sql", "12.0"):
        assert trace not in stored.lower(), (trace, stored)
    row = env.sql("SELECT email, name, tasks, skills, years, email_hash, scrubbed_at, state,"
                  " message_id, sent_at, last_reply FROM signups WHERE id=?", (sid,))[0]
    assert row[:5] == ("", None, "[]", "[]", None)
    assert re.fullmatch(r"[0-9a-f]{64}", row[5])
    assert row[6] >= sent[3] + 1000
    assert row[7:] == ("sent", sent[0], sent[1], sent[2])

    # enqueue refuses the address (domain in another case) at once ...
    p = env.run("enqueue", "--email", "Ada.L@example.com", "--role", ROLE, "--level", "mid")
    assert p.returncode == 0 and f"signup {sid}" in p.err and "not queued again" in p.err
    # ... and a website's own INSERT is rejected as a duplicate when claimed, never sent.
    env.sql("INSERT INTO signups (email, role, level) VALUES ('Ada.L@EXAMPLE.com', ?, 'mid')",
            (ROLE,))
    dup = env.sql("SELECT max(id) FROM signups")[0][0]
    # The local part compares as given: another mailbox, another report.
    other = env.enqueue("ada.l@example.com", ROLE, "mid")
    assert env.run("run", "--drain").returncode == 0
    assert env.sql("SELECT state, reason FROM signups WHERE id=?", (dup,))[0] == (
        "rejected", f"duplicate: address already has signup {sid}")
    assert env.states()[other] == "sent"
    msgs = srv.messages()
    assert len(msgs) == 2
    assert sorted(m["To"].addresses[0].addr_spec for m in msgs) == [
        "Ada.L@Example.COM", "ada.l@example.com"]

    show = env.run("show", sid)
    assert show.returncode == 0
    assert "scrubbed:" in show.out and f"address hash: {row[5]}" in show.out
    assert f"message-id: {sent[0]}" in show.out
    line = [ln for ln in env.run("list").out.splitlines() if ln.startswith(f"{sid}\t")][0]
    assert line.split("\t")[2] == "(scrubbed)"
    assert env.run("preview", sid).returncode == EX_DATAERR


def test_retention_never_keeps_everything(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url, extra_queue="  retention: never")
    sid = person(env, "keep@example.com")
    assert env.run("run", "--drain").returncode == 0
    settled = env.sql("SELECT updated_at FROM signups WHERE id=?", (sid,))[0][0]
    time.sleep(max(0.0, settled / 1000 + 1.2 - time.time()))
    assert env.run("run", "--drain").returncode == 0
    assert env.sql("SELECT email, name, scrubbed_at FROM signups WHERE id=?", (sid,))[0] == (
        "keep@example.com", "Ada Lovelace", None)
    assert len(srv.raw_messages()) == 1


def test_purge_scrubs_a_sent_signup_and_deletes_an_unsent_one(env):
    sent = person(env, "sent@example.com")
    waiting = person(env, "waiting@example.com")
    env.sql("UPDATE signups SET state='sent', sent_at=1, message_id='<m@x>' WHERE id=?", (sent,))
    p = env.run("purge", sent)
    assert p.returncode == 0 and f"{sent} scrubbed" in p.out
    assert "sent@example.com" not in everything_stored(env, sent)
    assert env.sql("SELECT email, message_id, state FROM signups WHERE id=?", (sent,))[0] == (
        "", "<m@x>", "sent")
    assert "purged by operator" in env.run("show", sent).out
    p = env.run("purge", waiting)
    assert p.returncode == 0 and f"{waiting} purged" in p.out
    assert env.count(f"id={waiting}") == 0
    assert env.sql("SELECT count(*) FROM signup_events WHERE signup_id=?", (waiting,))[0][0] == 0
    # The scrubbed address is still served; the deleted one may sign up again.
    p = env.run("enqueue", "--email", "sent@example.com", "--role", ROLE, "--level", "mid")
    assert "not queued again" in p.err
    env.enqueue("waiting@example.com")


@pytest.mark.sqlite_only
def test_read_only_commands_work_while_a_website_holds_the_write_lock(env):
    sid = person(env, "w@example.com")
    website = sqlite3.connect(env.db, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        website.execute("BEGIN IMMEDIATE")
        website.execute("INSERT INTO signups (email, role, level) VALUES ('u@example.com', ?, 'mid')",
                        (ROLE,))
        for args in (("status", "--json"), ("list",), ("show", sid)):
            t0 = time.monotonic()
            p = env.run(*args)
            took = time.monotonic() - t0
            assert p.returncode == 0, (args, p.err)
            assert took < BUSY_TIMEOUT_S / 2, (args, took)
        assert json.loads(env.run("status", "--json").out)["counts"]["queued"] == 1
        assert "u@example.com" not in env.run("list").out
        # A writing command does wait for the lock, and says so when it gives up.
        p = env.run("hold", sid)
        assert p.returncode == EX_IOERR and "locked" in p.err
    finally:
        website.execute("ROLLBACK")
        website.close()


@pytest.mark.sqlite_only
def test_read_only_commands_never_create_or_migrate(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    p = env.run("status")
    assert p.returncode == EX_IOERR and "daemon" in p.err
    assert not env.db.exists()
    env.enqueue("m@example.com")
    assert env.sql("PRAGMA user_version")[0][0] == 7
    # Back to schema 3, as a database written before retention (and the producer contract, and
    # the one-report indexes) was.
    con = sqlite3.connect(env.db)
    con.executescript("DROP INDEX signups_one_report; DROP INDEX signups_one_report_scrubbed;"
                      " DROP VIEW signup_status; DROP TRIGGER signups_producer_columns;"
                      " DROP INDEX signups_email_hash; DROP INDEX signups_unscrubbed;"
                      " DROP TABLE reportd_secrets; ALTER TABLE signups DROP COLUMN email_hash;"
                      " ALTER TABLE signups DROP COLUMN scrubbed_at; PRAGMA user_version = 3;")
    con.close()
    p = env.run("list")
    assert p.returncode == EX_IOERR and "older" in p.err and "start the daemon" in p.err
    assert env.sql("PRAGMA user_version")[0][0] == 3
    assert env.run("run", "--drain").returncode == 0  # the daemon migrates
    assert env.sql("PRAGMA user_version")[0][0] == 7
    p = env.run("list")
    assert p.returncode == 0 and "m@example.com" in p.out


def as_unprivileged(argv):
    """argv run as a user that may not write a root-owned file (root may write anything)."""
    if os.geteuid() == 0:
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    return argv


@pytest.mark.sqlite_only
def test_a_queue_file_reportd_may_not_write_is_refused_clearly(env):
    # Outside pytest's private tmp_path, which an unprivileged user cannot enter.
    d = Path(tempfile.mkdtemp(prefix="reportd-ro-"))
    try:
        os.chmod(d, 0o755)
        db = d / "queue.db"
        config = d / "reportd.yaml"
        roles, templates = readable_data(d)
        config.write_text(env.config.read_text().replace(str(env.db), str(db))
                          .replace(str(REPO / "config" / "roles"), str(roles))
                          .replace(str(REPO / "templates"), str(templates)))
        os.chmod(config, 0o644)
        base = [str(REPORTD), "-c", str(config)]
        p = subprocess.run(base + ["enqueue", "--email", "ro@example.com", "--role", ROLE,
                                   "--level", "mid"], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        os.chmod(db, 0o444)
        for args in (["hold", "1"], ["enqueue", "--email", "ro2@example.com", "--role", ROLE,
                                     "--level", "mid"], ["run", "--drain"]):
            p = subprocess.run(as_unprivileged(base + args), capture_output=True, text=True,
                               timeout=30)
            assert p.returncode == EX_IOERR, (args, p.stderr)
            assert f"{db}: the queue database is read-only" in p.stderr, p.stderr
            assert "Permission denied" in p.stderr
        sqlite3.connect(db).close()
        con = sqlite3.connect(db)
        assert con.execute("SELECT count(*), max(state) FROM signups").fetchone() == (1, "queued")
        con.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_a_scrubbed_failed_signup_cannot_be_retried(env):
    env.write_config(extra_queue="  retention: 1s")
    sid = person(env, "gone@example.com")
    keep = person(env, "kept@example.com")
    env.sql("UPDATE signups SET state='failed', reason='550 no such user', updated_at=?"
            " WHERE id=?", (int(time.time() * 1000) - 2000, sid))
    # Settled "in a minute": however slow this machine, not yet past the retention.
    env.sql("UPDATE signups SET state='failed', reason='550 full', updated_at=? WHERE id=?",
            (int(time.time() * 1000) + 60_000, keep))
    assert env.run("run", "--drain").returncode == 0  # nothing due: only the sweep
    assert env.sql("SELECT email, scrubbed_at IS NOT NULL FROM signups WHERE id=?", (sid,))[0] == (
        "", 1)
    p = env.run("retry", sid)
    assert p.returncode == 1 and "scrubbed" in p.err
    p = env.run("retry", "--failed")
    assert p.returncode == 0 and p.out.split() == [str(keep), "queued"]
    assert env.states() == {sid: "failed", keep: "queued"}
