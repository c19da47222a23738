"""A configured username is used or refused: against a relay whose EHLO offers no AUTH
(aiosmtpd in cleartext, which offers AUTH only over TLS; tests/smtpd.py --no-auth after
STARTTLS), build/reportd sends nothing, says why at error level, and the signups wait."""
import signal

import pytest

from conftest import wait_until

# SQLite only: SMTP authentication, the same whichever database holds the queue.
pytestmark = pytest.mark.sqlite_only

EX_TEMPFAIL = 75
EX_CONFIG = 78
WHY = "the relay offers no AUTH, but smtp.username is set: nothing is sent unauthenticated"


def auth_config(env, url, tls="none", extra=""):
    pw = env.tmp / "smtp-password"
    pw.write_text("s3cret\n")
    env.write_config(smtp_url=url, tls=tls,
                     extra_smtp=f"  username: reportd\n  password_file: {pw}\n{extra}")


def test_cleartext_relay_without_auth_gets_nothing(env, capture):
    srv = capture()
    auth_config(env, srv.url)
    sid = env.enqueue("noauth@example.com")
    p = env.run("run", "--drain")
    assert p.returncode == EX_TEMPFAIL
    assert WHY in p.err and "SMTP configuration problem" in p.err
    assert srv.raw_messages() == []
    assert env.states()[sid] == "queued"
    assert env.sql("SELECT attempts FROM signups WHERE id = ?", (sid,))[0][0] == 0


def test_starttls_relay_without_auth_after_tls_gets_nothing(env, capture, tls_files):
    srv = capture("--tls", tls_files / "server.pem", tls_files / "server.key", "--no-auth")
    auth_config(env, f"smtp://localhost:{srv.port}", tls="starttls",
                extra=f"  ca_file: {tls_files / 'ca.pem'}\n")
    sid = env.enqueue("noauth-tls@example.com")
    p = env.run("run", "--drain")
    assert p.returncode == EX_TEMPFAIL
    assert WHY in p.err, p.err
    assert srv.raw_messages() == []
    assert env.states()[sid] == "queued"


def test_running_daemon_logs_at_error_and_signups_wait(env, capture):
    srv = capture()
    auth_config(env, srv.url)
    ids = [env.enqueue(f"w{i}@example.com") for i in range(3)]
    # As under systemd: each line carries its journald priority.
    d = env.start("run", env={"JOURNAL_STREAM": "8:1"})
    try:
        # A claim, a connection, the cut, and the claim handed back.
        assert wait_until(lambda: env.sql("SELECT count(*) FROM signup_events"
                                          " WHERE from_state = 'sending'")[0][0] >= 1, timeout=20)
    finally:
        d.send_signal(signal.SIGTERM)
        _, err = d.communicate(timeout=30)
    lines = [line for line in err.decode().splitlines() if "SMTP configuration problem" in line]
    assert len(lines) == 1 and WHY in lines[0]
    assert lines[0].startswith("<3>")  # LOG_ERR
    assert srv.raw_messages() == []
    assert {env.states()[i] for i in ids} == {"queued"}
    assert env.sql("SELECT max(attempts) FROM signups")[0][0] == 0


def test_send_test_says_why(env, capture):
    srv = capture()
    auth_config(env, srv.url)
    p = env.run("send-test", "--to", "t@example.com")
    assert p.returncode == EX_CONFIG
    assert "authentication or TLS problem" in p.err and f"detail: {WHY}" in p.out
    assert srv.raw_messages() == []
