"""The report as operators check it: `reportd send-test` against a real SMTP
server on loopback, and `check-config` catching template and role-data
mistakes with file:line:column."""
import email
import email.policy
import re
import shutil

import pytest

from conftest import REPO

# SQLite only: the report's content, the same whichever database holds the queue.
pytestmark = pytest.mark.sqlite_only

EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75
EX_CONFIG = 78


def test_send_test_delivers_one_sample_and_queues_nothing(env, capture):
    srv = capture()
    env.write_config(smtp_url=srv.url)
    p = env.run("send-test", "--to", "ops@example.org", "--role", "data-scientist",
                "--level", "senior")
    assert p.returncode == 0, p.err
    assert re.search(r"^relay reply: 250 ", p.out, re.M), p.out
    msgs = srv.messages()
    assert len(msgs) == 1
    m = msgs[0]
    assert m["To"].addresses[0].addr_spec == "ops@example.org"
    assert "Data scientist (Senior)" in str(m["Subject"])
    text = m.get_body(("plain",)).get_content()
    assert "YOUR SCORE" in text and "WHAT YOU CAN DO" in text
    # Nothing was queued, so the address can still sign up for its one report.
    assert env.count() == 0
    sid = env.enqueue("ops@example.org")
    assert env.states()[sid] == "queued"
    # And the test can be repeated: each carries its own Message-ID.
    assert env.run("send-test", "--to", "ops@example.org").returncode == 0
    ids = {x["Message-ID"] for x in srv.messages()}
    assert len(srv.messages()) == 2 and len(ids) == 2
    assert env.count() == 1


def test_send_test_permanent_refusal_exits_69(env, capture):
    srv = capture("--reply-data", "554", "5.7.1 Not wanted here")
    env.write_config(smtp_url=srv.url)
    p = env.run("send-test", "--to", "ops@example.org")
    assert p.returncode == EX_UNAVAILABLE, p.err
    assert "relay reply: 554 5.7.1 Not wanted here" in p.out
    assert srv.messages() == []


def test_send_test_temporary_failure_exits_75(env, capture):
    srv = capture("--reply-data", "451", "4.3.0 Try again later")
    env.write_config(smtp_url=srv.url)
    p = env.run("send-test", "--to", "ops@example.org")
    assert p.returncode == EX_TEMPFAIL, p.err
    assert "451 4.3.0" in p.out
    # Nobody listening is temporary too.
    env.write_config(smtp_url="smtp://127.0.0.1:9")
    assert env.run("send-test", "--to", "ops@example.org").returncode == EX_TEMPFAIL


def test_send_test_tls_problem_is_config_trouble(env, capture):
    srv = capture()
    # STARTTLS required, and the server does not offer it.
    env.write_config(smtp_url=srv.url, tls="starttls")
    p = env.run("send-test", "--to", "ops@example.org")
    assert p.returncode == EX_CONFIG, (p.returncode, p.out, p.err)
    assert srv.messages() == []


def test_send_test_usage(env):
    assert env.run("send-test").returncode == EX_USAGE
    assert env.run("send-test", "--to", "not-an-address").returncode == EX_USAGE
    p = env.run("send-test", "--to", "ops@example.org", "--role", "astronaut")
    assert p.returncode == EX_USAGE and "astronaut" in p.err
    p = env.run("send-test", "--to", "ops@example.org", "--level", "cto")
    assert p.returncode == EX_USAGE and "cto" in p.err


def copy_templates(tmp_path):
    t = tmp_path / "templates"
    shutil.copytree(REPO / "templates", t)
    return t


def copy_roles(tmp_path):
    r = tmp_path / "roles"
    shutil.copytree(REPO / "config" / "roles", r)
    return r


def test_check_config_missing_partial(env, tmp_path):
    t = copy_templates(tmp_path)
    (t / "partials" / "contact.mustache").unlink()
    env.write_config(templates=t)
    p = env.run("check-config")
    assert p.returncode == EX_CONFIG
    # Named where it is included, with its position.
    assert re.search(r"footer\.mustache:\d+:\d+: \{\{> contact\}\}: no such partial", p.err), p.err


def test_check_config_unknown_variable(env, tmp_path):
    t = copy_templates(tmp_path)
    (t / "subject.mustache").write_text("Report for {{rolle.title}}\n")
    env.write_config(templates=t)
    p = env.run("check-config")
    assert p.returncode == EX_CONFIG
    assert "subject.mustache:1:12: {{rolle.title}}: no such variable" in p.err, p.err


def test_check_config_role_file_with_wrong_extension(env, tmp_path):
    r = copy_roles(tmp_path)
    (r / "frontend-developer.yaml").rename(r / "frontend-developer.yml")
    env.write_config(roles=r)
    p = env.run("check-config")
    assert p.returncode == EX_CONFIG
    assert "frontend-developer.yml:1:1: not a role file" in p.err, p.err


def test_check_config_role_missing_a_level(env, tmp_path):
    r = copy_roles(tmp_path)
    y = r / "ux-designer.yaml"
    text = y.read_text()
    start = text.index("  - id: lead\n")
    end = text.index("\ntasks:")
    y.write_text(text[:start] + text[end + 1:])
    env.write_config(roles=r)
    p = env.run("check-config")
    assert p.returncode == EX_CONFIG
    assert re.search(r"ux-designer\.yaml:\d+:\d+: levels: no level \"lead\"", p.err), p.err


def test_check_config_mix_naming_an_unknown_task(env, tmp_path):
    r = copy_roles(tmp_path)
    y = r / "product-manager.yaml"
    y.write_text(y.read_text().replace("      write-specs: 25\n", "      write-spec: 25\n", 1))
    env.write_config(roles=r)
    p = env.run("check-config")
    assert p.returncode == EX_CONFIG
    assert re.search(r"product-manager\.yaml:\d+:7: levels\[0\]\.typical_mix: \"write-spec\" "
                     r"is not a task", p.err), p.err


def test_every_role_and_level_previews(env):
    """One signup per shipped role and level renders, and the text part fits 76 columns."""
    roles = sorted(p.stem for p in (REPO / "config" / "roles").glob("*.yaml"))
    assert len(roles) >= 6
    for i, role in enumerate(roles):
        for level in ("junior", "mid", "senior", "lead"):
            env.enqueue(f"p{i}-{level}@example.org", role, level)
    for sid in env.states():
        p = env.run("preview", sid, "--text")
        assert p.returncode == 0, p.err
        for line in p.out.splitlines():
            assert len(line) <= 76 or " " not in line.strip(), line
        assert "typical mix" in p.out
