"""Delivery tests: build/reportd sends through real SMTP servers on loopback
(aiosmtpd with STARTTLS and AUTH, postfix's smtp-sink) and records outcomes
in a real SQLite queue."""
import collections
import json
import os
import re
import signal
import socket
import time

import pytest
import yaml

from conftest import CONNECTIONS, REPO, wait_until

ROLE = "backend-developer"
EX_TEMPFAIL = 75

PEOPLE = [
    ("ada@example.org", "Ada Lovelace", "lead",
     ["--task", "plan-with-stakeholders=40", "--task", "mentor-engineers=60",
      "--skill", "mentoring", "--skill", "python"]),
    ("grace@example.net", "Grace Hopper", "mid",
     ["--task", "write-production-code=80", "--task", "develop-apis=20",
      "--skill", "sql", "--skill", "system-design"]),
    ("linus@example.com", None, "junior", []),
    ("zoe@example.org", "Zoë Ångström", "senior",
     ["--task", "design-systems", "--task", "respond-to-incidents", "--years", "9"]),
]


def enqueue_people(env):
    ids = {}
    for addr, name, level, extra in PEOPLE:
        args = list(extra)
        if name:
            args += ["--name", name]
        ids[addr] = env.enqueue(addr, ROLE, level, *args)
    return ids


def parts_of(msg):
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    return parts


def test_each_signup_arrives_exactly_once_and_is_well_formed(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    ids = enqueue_people(env)
    role_title = yaml.safe_load((REPO / "config" / "roles" / f"{ROLE}.yaml").read_text())["title"]
    p = env.run("run", "--drain")
    assert p.returncode == 0, p.err
    raws = srv.raw_messages()
    msgs = srv.messages()
    assert len(msgs) == len(PEOPLE)
    rcpts = sorted(m["To"].addresses[0].addr_spec for m in msgs)
    assert rcpts == sorted(a for a, *_ in PEOPLE)
    for raw in raws:
        assert b"\n" not in raw.replace(b"\r\n", b"")
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    by_rcpt = {m["To"].addresses[0].addr_spec: m for m in msgs}
    for addr, name, level, extra in PEOPLE:
        m = by_rcpt[addr]
        for h in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
                  "Auto-Submitted", "Reply-To"):
            assert len(m.get_all(h)) == 1, h
        assert m["From"].addresses[0].display_name == "AI Exposure Reports"
        assert m["From"].addresses[0].addr_spec == "reports@reportd.test"
        assert m["Reply-To"].addresses[0].addr_spec == "hello@reportd.test"
        assert m["Auto-Submitted"] == "auto-generated"
        assert m["MIME-Version"] == "1.0"
        if name:
            assert m["To"].addresses[0].display_name == name
        text, html = parts_of(m)
        for part in (text, html):
            assert part.get_content_charset() == "utf-8"
            assert part["Content-Transfer-Encoding"] == "quoted-printable"
        t, h = text.get_content(), html.get_content()
        level_title = level.capitalize()
        assert level_title in t and level_title in h
        assert role_title in t and role_title in h
        if name:
            assert name.split()[0] in t and name.split()[0] in h
        row = env.sql("SELECT state, message_id, last_reply, sent_at FROM signups WHERE id=?",
                      (ids[addr],))[0]
        assert row[0] == "sent"
        assert row[1] == m["Message-ID"]
        assert row[2].startswith("250")
        assert row[3] > 0
    # Tasks given and the score shown in that subscriber's own report.
    grace = by_rcpt["grace@example.net"]
    gt = parts_of(grace)[0].get_content()
    assert "Write production code" in gt and "Develop and maintain APIs" in gt
    score = re.search(r"(\d+)\s*(?:/|out of)\s*100", gt)
    assert score, gt
    preview = env.run("preview", ids["grace@example.net"], "--text").out
    assert score.group(0) in preview


def test_non_ascii_subject_is_encoded(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    env.enqueue("zoe@example.org", ROLE, "senior", "--name", "Zoë Ångström")
    assert env.run("run", "--drain").returncode == 0
    raw = srv.raw_messages()[0]
    subject = re.search(rb"^Subject: (.*(?:\r\n[ \t].*)*)", raw, re.M).group(1)
    # RFC 2047 encoded-words, every one of them declaring UTF-8.
    charsets = re.findall(rb"=\?([^?]*)\?[QqBb]\?", subject)
    assert charsets and {c.lower() for c in charsets} == {b"utf-8"}, subject
    assert all(b < 0x80 for b in raw.split(b"\r\n\r\n")[0])
    assert "Zoë" in srv.messages()[0]["Subject"]


def test_second_run_sends_nothing_new(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    enqueue_people(env)
    assert env.run("run", "--drain").returncode == 0
    assert env.run("run", "--drain").returncode == 0
    assert len(srv.raw_messages()) == len(PEOPLE)


def test_resend_keeps_the_message_id(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    sid = env.enqueue("again@example.com")
    assert env.run("run", "--drain").returncode == 0
    first = srv.messages()[0]["Message-ID"]
    env.sql("UPDATE signups SET state='failed' WHERE id=?", (sid,))
    assert env.run("retry", sid).returncode == 0
    assert env.run("run", "--drain").returncode == 0
    msgs = srv.messages()
    assert len(msgs) == 2 and msgs[1]["Message-ID"] == first


def test_starttls_and_auth_with_private_ca(env, capture, tls_files):
    srv = capture("--tls", tls_files / "server.pem", tls_files / "server.key",
                  "--auth", "reportd:s3cret")
    pw = env.tmp / "smtp-password"
    pw.write_text("s3cret\n")
    env.write_config(smtp_url=f"smtp://localhost:{srv.port}", tls="starttls",
                     extra_smtp=f"  ca_file: {tls_files / 'ca.pem'}\n  username: reportd\n"
                                f"  password_file: {pw}\n")
    enqueue_people(env)
    p = env.run("run", "--drain")
    assert p.returncode == 0, p.err
    assert len(srv.messages()) == len(PEOPLE)
    assert "s3cret" not in p.err


def test_password_from_systemd_credentials_directory(env, capture, tls_files):
    srv = capture("--tls", tls_files / "server.pem", tls_files / "server.key",
                  "--auth", "reportd:fromcreds")
    creds = env.tmp / "creds"
    creds.mkdir()
    (creds / "smtp-password").write_text("fromcreds")
    env.write_config(smtp_url=f"smtp://localhost:{srv.port}", tls="starttls",
                     extra_smtp=f"  ca_file: {tls_files / 'ca.pem'}\n  username: reportd\n"
                                f"  password_file: smtp-password\n")
    env.enqueue("cred@example.com")
    p = env.run("run", "--drain", env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert p.returncode == 0, p.err
    assert len(srv.messages()) == 1


def test_implicit_tls(env, capture, tls_files):
    srv = capture("--tls", tls_files / "server.pem", tls_files / "server.key", "--implicit-tls")
    env.write_config(smtp_url=f"smtps://localhost:{srv.port}", tls="implicit",
                     extra_smtp=f"  ca_file: {tls_files / 'ca.pem'}\n")
    env.enqueue("tls@example.com")
    p = env.run("run", "--drain")
    assert p.returncode == 0, p.err
    assert len(srv.messages()) == 1


def test_untrusted_certificate_sends_nothing(env, capture, tls_files):
    srv = capture("--tls", tls_files / "server.pem", tls_files / "server.key")
    env.write_config(smtp_url=f"smtp://localhost:{srv.port}", tls="starttls")
    sid = env.enqueue("verify@example.com")
    p = env.run("run", "--drain")
    assert p.returncode != 0
    assert srv.raw_messages() == []
    assert env.states()[sid] == "queued"


def test_starttls_required_but_not_offered_sends_nothing(env, capture):
    srv = capture()  # no TLS at all
    env.write_config(smtp_url=f"smtp://localhost:{srv.port}", tls="starttls")
    enqueue_people(env)
    p = env.run("run", "--drain")
    assert p.returncode == EX_TEMPFAIL
    assert srv.raw_messages() == []
    assert set(env.states().values()) == {"queued"}
    assert env.sql("SELECT max(attempts) FROM signups")[0][0] == 0


def test_wrong_password_leaves_everything_queued(env, capture, tls_files):
    srv = capture("--tls", tls_files / "server.pem", tls_files / "server.key",
                  "--auth", "reportd:right")
    pw = env.tmp / "pw"
    pw.write_text("Wr0ng-Pa55")
    env.write_config(smtp_url=f"smtp://localhost:{srv.port}", tls="starttls",
                     extra_smtp=f"  ca_file: {tls_files / 'ca.pem'}\n  username: reportd\n"
                                f"  password_file: {pw}\n")
    enqueue_people(env)
    p = env.run("run", "--drain")
    assert p.returncode == EX_TEMPFAIL
    assert "authentication" in p.err.lower() or "login" in p.err.lower()
    assert "Wr0ng-Pa55" not in p.err
    assert srv.raw_messages() == []
    assert set(env.states().values()) == {"queued"}
    assert env.sql("SELECT max(attempts) FROM signups")[0][0] == 0


def test_4xx_defers_then_delivers(env, capture):
    srv = capture("--reply-data", "451", "4.3.0 Mailbox temporarily unavailable", "--times", "1")
    env.write_config(smtp_url=srv.url)
    sid = env.enqueue("later@example.com")
    assert env.run("run", "--drain").returncode == 0
    row = env.sql("SELECT state, attempts, next_attempt_at, reason FROM signups")[0]
    assert row[0] == "deferred" and row[1] == 1
    assert "451" in row[3]
    assert srv.raw_messages() == []
    # Due again after the backoff (retry_min 1s with jitter): then delivered.
    time.sleep(max(0, row[2] / 1000 - time.time()) + 0.1)
    assert env.run("run", "--drain").returncode == 0
    assert env.states()[sid] == "sent"
    assert len(srv.raw_messages()) == 1
    show = env.run("show", sid).out
    assert "deferred" in show and "sent" in show and "attempts: 2" in show


def test_smtp_sink_4xx_defers(env, sink):
    s = sink("-r", ".")
    env.write_config(smtp_url=s.url)
    sid = env.enqueue("sink@example.com")
    assert env.run("run", "--drain").returncode == 0
    state, reply = env.sql("SELECT state, last_reply FROM signups WHERE id=?", (sid,))[0]
    assert state == "deferred"
    assert reply.startswith("450")


def test_5xx_fails_with_the_reply_recorded(env, sink):
    s = sink("-f", ".", "-B", "554 5.7.1 Recipient address rejected: not wanted")
    env.write_config(smtp_url=s.url)
    sid = env.enqueue("nope@example.com")
    assert env.run("run", "--drain").returncode == 0
    state, reply, reason = env.sql("SELECT state, last_reply, reason FROM signups")[0]
    assert state == "failed"
    assert reply.startswith("554") and "not wanted" in reply
    st = json.loads(env.run("status", "--json").out)
    assert st["counts"]["failed"] == 1
    assert "554" in st["last_error"]["reason"]
    assert env.run("retry", "--failed").returncode == 0
    assert env.states()[sid] == "queued"


def test_smtp_sink_delivers(env, sink):
    s = sink()
    env.write_config(smtp_url=s.url)
    enqueue_people(env)
    assert env.run("run", "--drain").returncode == 0
    assert set(env.states().values()) == {"sent"}
    assert wait_until(lambda: len(s.dumps()) == len(PEOPLE), timeout=5)


def test_throttling_slows_the_sender_without_burning_attempts(env, capture):
    srv = capture("--reply-data", "421", "4.7.0 Too many messages, slow down", "--times", "1")
    env.write_config(smtp_url=srv.url)
    enqueue_people(env)
    start = time.monotonic()
    p = env.run("run", "--drain", timeout=120)
    assert p.returncode == 0, p.err
    assert "throttl" in p.err.lower()
    # Everything arrives, after a pause of the whole sender (retry_min is 1s,
    # with jitter at least half of it), and nobody was charged the throttled attempt.
    assert set(env.states().values()) == {"sent"}
    assert len(srv.raw_messages()) == len(PEOPLE)
    assert env.sql("SELECT max(attempts) FROM signups")[0][0] == 1
    assert time.monotonic() - start >= 0.5
    history = env.sql("SELECT detail FROM signup_events WHERE to_state IN ('queued', 'deferred') "
                      "AND from_state = 'sending'")
    assert any("421" in h[0] for h in history)


def test_unreachable_relay_charges_no_attempt(env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env.write_config(smtp_url=f"smtp://127.0.0.1:{port}")
    sid = env.enqueue("down@example.com")
    p = env.run("run", "--drain")
    # A drain stops at once: nothing can be delivered while the relay is down.
    assert p.returncode == EX_TEMPFAIL, p.err
    assert "unreachable" in p.err
    state, attempts, reason = env.sql(
        "SELECT state, attempts, reason FROM signups WHERE id=?", (sid,))[0]
    assert (state, attempts) == ("queued", 0)
    assert "relay unreachable" in reason and "connect" in reason


def test_expired_signup_fails(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url, extra_queue="  lifetime: 1h\n")
    sid = env.enqueue("old@example.com")
    env.sql("UPDATE signups SET created_at = created_at - 2*3600*1000 WHERE id=?", (sid,))
    assert env.run("run", "--drain").returncode == 0
    state, reason = env.sql("SELECT state, reason FROM signups")[0]
    assert state == "failed" and "expired" in reason
    assert srv.raw_messages() == []


def test_producer_rows_bad_or_duplicate_are_rejected(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    first = env.enqueue("dup@example.com")
    env.sql("INSERT INTO signups (email, role, level) VALUES ('dup@EXAMPLE.com', ?, 'mid')",
            (ROLE,))
    env.sql("INSERT INTO signups (email, role, level) VALUES ('bad address', ?, 'mid')", (ROLE,))
    # PostgreSQL's jsonb refuses text that is not JSON at the INSERT: a JSON object it takes.
    env.sql("INSERT INTO signups (email, role, level, tasks) VALUES ('t@example.com', ?, 'mid', ?)",
            (ROLE, "not json" if env.backend == "sqlite" else '{"a": 1}'))
    env.sql("INSERT INTO signups (email, role, level) VALUES ('r@example.com', 'astronaut', "
            "'mid')")
    env.sql("INSERT INTO signups (email, name, role, level) VALUES ('n@example.com', ?, ?, 'mid')",
            ("Eve\nBcc: x@evil.test", ROLE))
    assert env.run("run", "--drain").returncode == 0
    rows = {r[0]: r[1:] for r in env.sql("SELECT email, state, reason FROM signups")}
    assert rows["dup@example.com"][0] == "sent"
    assert rows["dup@EXAMPLE.com"][0] == "rejected" and "duplicate" in rows["dup@EXAMPLE.com"][1]
    assert rows["bad address"][0] == "rejected" and "email" in rows["bad address"][1]
    assert rows["t@example.com"][0] == "rejected" and "tasks" in rows["t@example.com"][1]
    assert rows["r@example.com"][0] == "rejected" and "role" in rows["r@example.com"][1]
    assert rows["n@example.com"][0] == "rejected" and "name" in rows["n@example.com"][1]
    # The one message is the first signup's, the row its sending recorded.
    msgs = srv.messages()
    assert [m["To"].addresses[0].addr_spec for m in msgs] == ["dup@example.com"]
    assert env.sql("SELECT id, message_id FROM signups WHERE state = 'sent'") == \
        [(first, msgs[0]["Message-ID"])]


def test_duplicate_insert_after_send_is_rejected(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    env.enqueue("once@example.com")
    assert env.run("run", "--drain").returncode == 0
    env.sql("INSERT INTO signups (email, role, level) VALUES ('once@example.com', ?, 'lead')",
            (ROLE,))
    assert env.run("run", "--drain").returncode == 0
    assert len(srv.raw_messages()) == 1
    assert sorted(env.states().values()) == ["rejected", "sent"]


def test_two_daemons_never_send_twice(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    n = 40
    data = json.dumps([{"email": f"p{i}@example.com", "role": ROLE, "level": "mid"}
                       for i in range(n)])
    assert env.run("enqueue", "--file", "-", input=data).returncode == 0
    a, b = env.start("run", "--drain"), env.start("run", "--drain")
    assert a.wait(60) == 0 and b.wait(60) == 0
    rcpts = [m["To"].addresses[0].addr_spec for m in srv.messages()]
    assert len(rcpts) == n and len(set(rcpts)) == n


def test_dead_daemons_claim_is_taken_back(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    sid = env.enqueue("orphan@example.com")
    # A claim by a process on this host that no longer exists, with a long lease left.
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    host = socket.gethostname()
    env.sql("UPDATE signups SET state='sending', claimed_by=?, claim_until=? WHERE id=?",
            (f"{host}:{dead}", int(time.time() * 1000) + 3600_000, sid))
    assert env.run("run", "--drain").returncode == 0
    assert env.states()[sid] == "sent"


def test_expired_lease_of_another_host_is_taken_back(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    sid = env.enqueue("lease@example.com")
    env.sql("UPDATE signups SET state='sending', claimed_by='elsewhere:1', claim_until=? "
            "WHERE id=?", (int(time.time() * 1000) - 1000, sid))
    assert env.run("run", "--drain").returncode == 0
    assert env.states()[sid] == "sent"


def test_live_lease_of_another_host_is_respected(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    sid = env.enqueue("busy@example.com")
    env.sql("UPDATE signups SET state='sending', claimed_by='elsewhere:1', claim_until=? "
            "WHERE id=?", (int(time.time() * 1000) + 600_000, sid))
    assert env.run("run", "--drain").returncode == 0
    assert env.states()[sid] == "sending"
    assert srv.raw_messages() == []


def sink_recipients(s):
    """Every envelope recipient smtp-sink received, one entry per message dumped."""
    rcpts = []
    for dump in s.dumps():
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("X-Rcpt-Args:"):
                rcpts.append(line.split(":", 1)[1].strip().strip("<>"))
            elif not line.startswith("X-"):
                break
    return rcpts


def test_sigterm_exits_cleanly_with_nothing_lost(env, sink):
    # smtp-sink -w delays every reply, so the daemon is mid-batch when stopped.
    s = sink("-w", "1")
    env.write_config(smtp_url=s.url)
    # More than the connections can carry at once, so that some is left at the stop.
    n = max(6, 3 * CONNECTIONS)
    addrs = [f"t{i}@example.com" for i in range(n)]
    data = json.dumps([{"email": a, "role": ROLE, "level": "mid"} for a in addrs])
    assert env.run("enqueue", "--file", "-", input=data).returncode == 0
    d = env.start("run")
    assert wait_until(lambda: env.count("state='sending'") > 0, timeout=20)
    d.send_signal(signal.SIGTERM)
    assert d.wait(30) == 0
    states = env.states()
    assert "sending" not in states.values()
    assert set(states.values()) <= {"sent", "queued", "deferred"}
    sent = sorted(r[0] for r in env.sql("SELECT email FROM signups WHERE state = 'sent'"))
    # Stopped mid-batch: some is left, and what the queue calls sent is what arrived.
    assert len(sent) < n
    wait_until(lambda: len(sink_recipients(s)) >= len(sent), timeout=5)
    assert sorted(sink_recipients(s)) == sent
    # A later run delivers exactly the rest: every address arrives once across both runs.
    assert env.run("run", "--drain").returncode == 0
    assert set(env.states().values()) == {"sent"}
    wait_until(lambda: len(sink_recipients(s)) >= n, timeout=5)
    assert collections.Counter(sink_recipients(s)) == collections.Counter(addrs)


def test_sighup_with_broken_config_keeps_the_old_one(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    d = env.start("run")
    try:
        env.enqueue("before@example.com")
        assert wait_until(lambda: len(srv.raw_messages()) == 1)
        good = env.config.read_text()
        env.config.write_text(good.replace("tls: none", "tls: sometimes"))
        d.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert d.poll() is None
        env.config.write_text(good)  # for the enqueue command below
        env.enqueue("after@example.com")
        assert wait_until(lambda: len(srv.raw_messages()) == 2)
    finally:
        d.send_signal(signal.SIGTERM)
        assert d.wait(20) == 0
    err = d.stderr.read().decode()
    assert "reload" in err and "sometimes" in err


def test_sighup_reload_applies_new_templates(env, capture, tmp_path):
    import shutil
    from conftest import REPO
    t = tmp_path / "tpl"
    shutil.copytree(REPO / "templates", t)
    srv = capture()
    env.write_config(smtp_url=srv.url, templates=t)
    d = env.start("run")
    try:
        env.enqueue("r1@example.com")
        assert wait_until(lambda: len(srv.raw_messages()) == 1)
        (t / "subject.mustache").write_text("Reloaded subject for {{role.title}}\n")
        d.send_signal(signal.SIGHUP)
        time.sleep(1)
        env.enqueue("r2@example.com")
        assert wait_until(lambda: len(srv.raw_messages()) == 2)
    finally:
        d.send_signal(signal.SIGTERM)
        assert d.wait(20) == 0
    subjects = sorted(m["Subject"] for m in srv.messages())
    assert any(s.startswith("Reloaded subject") for s in subjects)


def test_sd_notify_and_journal_prefixes(env, capture, tmp_path):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    sock_path = tmp_path / "notify.sock"
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(str(sock_path))
    ns.settimeout(10)
    env.enqueue("notify@example.com")
    d = env.start("run", env={"NOTIFY_SOCKET": str(sock_path), "JOURNAL_STREAM": "8:1234",
                              "WATCHDOG_USEC": "400000"})
    got = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not {"READY=1", "WATCHDOG=1"} <= set(got):
            got += ns.recv(4096).decode().split("\n")
        assert wait_until(lambda: len(srv.raw_messages()) == 1)
    finally:
        d.send_signal(signal.SIGTERM)
        assert d.wait(20) == 0
    ns.settimeout(2)
    try:
        while True:
            got += ns.recv(4096).decode().split("\n")
    except socket.timeout:
        pass
    ns.close()
    assert "READY=1" in got and "STOPPING=1" in got and "WATCHDOG=1" in got
    assert any(g.startswith("STATUS=") for g in got)
    err = d.stderr.read().decode()
    lines = [ln for ln in err.splitlines() if ln]
    assert lines and all(re.match(r"<[0-7]>", ln) for ln in lines)
    attempt = [ln for ln in lines if "status=sent" in ln]
    assert attempt and "id=" in attempt[0] and "to=<notify@example.com>" in attempt[0]
    assert "reply=" in attempt[0] and "delay=" in attempt[0]


def test_daemon_picks_up_new_signups_while_running(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    d = env.start("run")
    try:
        for i in range(3):
            env.enqueue(f"live{i}@example.com")
        assert wait_until(lambda: len(srv.raw_messages()) == 3)
    finally:
        d.send_signal(signal.SIGTERM)
        assert d.wait(20) == 0
    assert set(env.states().values()) == {"sent"}


def test_bad_config_at_start_exits_78(env):
    env.write_config(raw="queue: [\n")
    p = env.run("run", "--drain")
    assert p.returncode == 78
    assert str(env.config) in p.err


def test_auth_trouble_while_running_waits_without_spinning(env, capture):
    srv = capture()  # offers no STARTTLS, so every attempt is a configuration problem
    env.write_config(smtp_url=f"smtp://localhost:{srv.port}", tls="starttls")
    ids = enqueue_people(env)
    d = env.start("run")
    try:
        time.sleep(3)
        assert d.poll() is None
    finally:
        d.send_signal(signal.SIGTERM)
        assert d.wait(20) == 0
    # One try, then a pause: a handful of state changes, not thousands.
    assert env.count() == len(ids)
    assert set(env.states().values()) == {"queued"}
    assert env.sql("SELECT count(*) FROM signup_events")[0][0] < 4 * len(ids)
    assert env.sql("SELECT max(attempts) FROM signups")[0][0] == 0
    assert "configuration problem" in d.stderr.read().decode()


def test_corrected_signup_after_an_invalid_one_is_delivered(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    assert env.run("run", "--drain").returncode == 0  # creates the schema
    env.sql("INSERT INTO signups (email, role, level) VALUES ('fix@example.com', ?, 'principal')",
            (ROLE,))
    env.sql("INSERT INTO signups (email, role, level) VALUES ('fix@example.com', ?, 'senior')",
            (ROLE,))
    assert env.run("run", "--drain").returncode == 0
    assert env.states() == {1: "rejected", 2: "sent"}
    assert "level" in env.sql("SELECT reason FROM signups WHERE id=1")[0][0]
    assert len(srv.raw_messages()) == 1


def test_retry_of_an_expired_signup_gets_a_new_lifetime(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url, extra_queue="  lifetime: 1h\n")
    sid = env.enqueue("late@example.com")
    env.sql("UPDATE signups SET created_at = created_at - 2*3600*1000 WHERE id=?", (sid,))
    assert env.run("run", "--drain").returncode == 0
    assert env.states()[sid] == "failed"
    assert env.run("retry", sid).returncode == 0
    assert env.run("run", "--drain").returncode == 0
    assert env.states()[sid] == "sent"
    assert len(srv.raw_messages()) == 1


def test_reload_whose_relay_setup_fails_keeps_running(env, capture, tls_files):
    srv = capture("--tls", tls_files / "server.pem", tls_files / "server.key",
                  "--auth", "reportd:pw")
    pw = env.tmp / "pw"
    pw.write_text("pw")
    env.write_config(smtp_url=f"smtp://localhost:{srv.port}", tls="starttls",
                     extra_smtp=f"  ca_file: {tls_files / 'ca.pem'}\n  username: reportd\n"
                                f"  password_file: {pw}\n")
    d = env.start("run")
    try:
        env.enqueue("one@example.com")
        assert wait_until(lambda: len(srv.raw_messages()) == 1)
        pw.rename(env.tmp / "pw.moved")  # the new set cannot read its password
        d.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert d.poll() is None
        env.enqueue("two@example.com")
        assert wait_until(lambda: len(srv.raw_messages()) == 2)
    finally:
        d.send_signal(signal.SIGTERM)
        assert d.wait(20) == 0
    assert "still running the previous configuration" in d.stderr.read().decode()


def test_sighup_during_a_paced_batch_does_not_spin(env, capture):
    import resource
    srv = capture()
    env.write_config(smtp_url=srv.url, extra_smtp="  rate_limit: 1\n")
    for i in range(4):
        env.enqueue(f"paced{i}@example.com")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    d = env.start("run")
    try:
        assert wait_until(lambda: len(srv.raw_messages()) >= 1)
        d.send_signal(signal.SIGHUP)
        assert wait_until(lambda: len(srv.raw_messages()) == 4, timeout=20)
    finally:
        d.send_signal(signal.SIGTERM)
        assert d.wait(20) == 0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Three seconds of pacing: a busy loop would burn about as much CPU.
    assert cpu < 1.0, cpu


def test_last_chance_at_the_end_of_the_lifetime_is_taken(env, capture):
    # A relay that refuses twice.  With retry_min 1s the second attempt comes after at
    # most 1s, and the third backoff (1s to 2s) would land past the 2s lifetime: the
    # third attempt is the last chance, at the end of the lifetime, and it succeeds.
    srv = capture("--reply-data", "451", "4.3.0 Mailbox temporarily unavailable", "--times", "2")
    env.write_config(smtp_url=srv.url, extra_queue="  lifetime: 2s\n")
    sid = env.enqueue("edge@example.com")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and env.states()[sid] not in ("sent", "failed"):
        assert env.run("run", "--drain").returncode == 0
        time.sleep(0.3)
    assert env.states()[sid] == "sent", env.run("show", sid).out
    assert len(srv.raw_messages()) == 1


def test_rate_limit_smaller_than_a_lease_drains_everything(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url, extra_smtp="  rate_limit: 2\n",
                     extra_queue="  batch_size: 1\n")
    for i in range(3):
        env.enqueue(f"slow{i}@example.com")
    p = env.run("run", "--drain")
    assert p.returncode == 0, p.err
    assert set(env.states().values()) == {"sent"}
    assert len(srv.raw_messages()) == 3


def test_per_recipient_rate_refusal_defers_only_that_signup(env, capture):
    srv = capture("--reply-data", "450", "4.2.1 The user is receiving mail at a rate that "
                  "prevents additional messages", "--times", "1")
    env.write_config(smtp_url=srv.url)
    enqueue_people(env)
    p = env.run("run", "--drain")
    assert p.returncode == 0, p.err
    states = sorted(env.states().values())
    assert states.count("deferred") == 1 and states.count("sent") == len(PEOPLE) - 1
    assert env.sql("SELECT attempts FROM signups WHERE state='deferred'")[0][0] == 1
    assert "throttl" not in p.err.lower()
