"""Command-level tests: build/reportd on a temporary database, checking
output, exit codes and what is (and is not) written."""
import json
import math
import os
import re
import shutil
import sqlite3

import pytest
import yaml

from conftest import REPO

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_CONFIG = 64, 65, 66, 78
ROLE = "backend-developer"


def enqueue_args(email="ann@example.com", **kw):
    args = ["enqueue", "--email", email, "--role", kw.pop("role", ROLE),
            "--level", kw.pop("level", "senior")]
    for k, v in kw.items():
        args += [f"--{k}", v]
    return args


# --- enqueue ------------------------------------------------------------------


def test_enqueue_prints_id_and_stores_every_field(env):
    p = env.run("enqueue", "--email", "ann@example.com", "--name", "Ann Smith", "--role", ROLE,
                "--level", "lead", "--task", "design-systems=60", "--task", "review-code",
                "--skill", "python", "--skill", "mentoring", "--years", "12")
    assert p.returncode == 0, p.err
    sid = int(p.out.strip())
    row = env.sql("SELECT email, name, role, level, tasks, skills, years, state FROM signups "
                  "WHERE id=?", (sid,))[0]
    assert row[:4] == ("ann@example.com", "Ann Smith", ROLE, "lead")
    tasks = json.loads(row[4])
    ids = [t if isinstance(t, str) else t["id"] for t in tasks]
    assert ids == ["design-systems", "review-code"]
    assert any(isinstance(t, dict) and t.get("share") == 60 for t in tasks)
    assert json.loads(row[5]) == ["python", "mentoring"]
    assert row[6] == 12
    assert row[7] == "queued"


@pytest.mark.sqlite_only
def test_database_is_wal_with_versioned_schema(env):
    env.enqueue("wal@example.com")
    assert env.sql("PRAGMA journal_mode")[0][0] == "wal"
    assert env.sql("PRAGMA user_version")[0][0] >= 1


def test_duplicate_address_is_not_queued_again(env):
    first = env.enqueue("Bob@Example.COM")
    p = env.run(*enqueue_args("Bob@example.com"))
    assert p.returncode == 0
    assert str(first) in p.err and "not queued again" in p.err
    assert env.count() == 1
    # The local part is case-sensitive (RFC 5321): a different mailbox.
    env.enqueue("bob@example.com")
    assert env.count() == 2


@pytest.mark.parametrize("args,field", [
    (enqueue_args("not-an-address"), "email"),
    (enqueue_args("a@b"), "email"),
    (enqueue_args("a..b@example.com"), "email"),
    (enqueue_args("a@-example.com"), "email"),
    (enqueue_args("x" * 65 + "@example.com"), "email"),
    (enqueue_args("a@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + "." + "e" * 70 + ".com"),
     "email"),
    (enqueue_args("ann@example.com\r\nBcc: x@evil.test"), "email"),
    (enqueue_args(name="Ann\nBcc: x@evil.test"), "name"),
    (enqueue_args(name="Ann\rX"), "name"),
    (enqueue_args(name="Ann\x01"), "name"),
    (enqueue_args(name="N" * 201), "name"),
    (enqueue_args(role="astronaut"), "role"),
    (enqueue_args(level="principal"), "level"),
    (enqueue_args(task="juggle"), "task"),
    (enqueue_args(skill="telepathy"), "skill"),
    (enqueue_args(task="review-code=-5"), "task"),
    (enqueue_args(task="review-code=lots"), "task"),
    (enqueue_args(task="review-code=150"), "task"),
    (enqueue_args(years="-1"), "years"),
    (enqueue_args(years="ten"), "years"),
])
def test_bad_input_names_the_field_and_writes_nothing(env, args, field):
    p = env.run(*args)
    assert p.returncode == EX_DATAERR, (p.returncode, p.out, p.err)
    assert field in p.err
    assert p.out == ""
    assert env.count() == 0


def test_invalid_utf8_is_refused(env):
    # os.fsdecode keeps the raw bytes through to argv.
    p = env.run("enqueue", "--email", "u@example.com", "--role", ROLE, "--level", "mid",
                "--name", os.fsdecode(b"Ann \xc3\x28"))
    assert p.returncode == EX_DATAERR
    assert "name" in p.err and "UTF-8" in p.err
    assert env.count() == 0


def test_missing_required_field(env):
    p = env.run("enqueue", "--email", "a@example.com", "--role", ROLE)
    assert p.returncode == EX_DATAERR
    assert "level" in p.err


def test_enqueue_file_yaml_is_one_transaction(env, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(f"""
- email: one@example.com
  role: {ROLE}
  level: junior
  tasks: [{{id: write-tests, share: 40}}, debug-defects]
- email: two@example.com
  name: Two
  role: {ROLE}
  level: mid
  skills: [sql]
""")
    p = env.run("enqueue", "--file", f)
    assert p.returncode == 0, p.err
    assert len(p.out.split()) == 2
    assert env.count() == 2


def test_enqueue_file_with_one_bad_signup_writes_nothing(env, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(f"""
- email: good@example.com
  role: {ROLE}
  level: junior
- email: bad@example.com
  role: {ROLE}
  level: junior
  tasks: [{{id: write-tests, share: -3}}]
""")
    p = env.run("enqueue", "--file", f)
    assert p.returncode == EX_DATAERR
    assert "signups[1]" in p.err and "share" in p.err
    assert env.count() == 0


def test_enqueue_json_from_stdin(env):
    data = json.dumps([
        {"email": "j1@example.com", "role": ROLE, "level": "lead", "years": 20,
         "tasks": [{"id": "mentor-engineers", "share": 50}], "skills": ["mentoring"]},
        {"email": "j2@example.com", "name": "Zoë", "role": ROLE, "level": "junior"},
    ])
    p = env.run("enqueue", "--file", "-", input=data)
    assert p.returncode == 0, p.err
    assert env.count() == 2
    assert env.sql("SELECT name FROM signups WHERE email='j2@example.com'")[0][0] == "Zoë"


def test_enqueue_json_nul_in_a_field_is_refused(env):
    data = json.dumps([{"email": "n@example.com", "name": "A\u0000B", "role": ROLE,
                        "level": "mid"}])
    p = env.run("enqueue", "--file", "-", input=data)
    assert p.returncode == EX_DATAERR
    assert "name" in p.err
    assert env.count() == 0


def test_enqueue_file_malformed_yaml_gives_position(env, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("- email: a@example.com\n  role: [unclosed\n")
    p = env.run("enqueue", "--file", f)
    assert p.returncode == EX_DATAERR
    assert f"{f}:" in p.err


def test_enqueue_file_yaml_aliases_are_refused_before_they_multiply(env, tmp_path):
    # 13 KB naming one 2,001-task list 1,001 times: 2 million tasks if the aliases were
    # followed (a few more kilobytes make it gigabytes), before validation could refuse them.
    f = tmp_path / "bomb.yaml"
    tasks = ", ".join(["&t write-tests"] + ["*t"] * 2000)
    f.write_text(f"- &s\n  email: a@example.com\n  role: {ROLE}\n  level: mid\n"
                 f"  tasks: [{tasks}]\n" + "- *s\n" * 1000)
    p = env.run("enqueue", "--file", f, timeout=20)
    assert p.returncode == EX_DATAERR
    assert f"{f}:1:3: " in p.err and "alias" in p.err, p.err
    assert env.count() == 0
    # One alias is refused too, while the same signups written out in full are taken.
    f.write_text(f"- {{email: a@example.com, role: {ROLE}, level: mid, tasks: &t [write-tests]}}\n"
                 f"- {{email: b@example.com, role: {ROLE}, level: mid, tasks: *t}}\n")
    p = env.run("enqueue", "--file", f)
    assert p.returncode == EX_DATAERR and "alias" in p.err, p.err
    f.write_text(f"- {{email: a@example.com, role: {ROLE}, level: mid, tasks: [write-tests]}}\n"
                 f"- {{email: b@example.com, role: {ROLE}, level: mid, tasks: [write-tests]}}\n")
    p = env.run("enqueue", "--file", f)
    assert p.returncode == 0, p.err
    assert env.count() == 2


def test_duplicate_inside_one_file(env, tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text(f"- {{email: d@example.com, role: {ROLE}, level: mid}}\n"
                 f"- {{email: d@EXAMPLE.com, role: {ROLE}, level: mid}}\n")
    p = env.run("enqueue", "--file", f)
    assert p.returncode == 0
    assert env.count() == 1


# --- status, list, show --------------------------------------------------------


def test_status_counts_and_json(env):
    env.enqueue("s1@example.com")
    env.enqueue("s2@example.com")
    p = env.run("status")
    assert p.returncode == 0
    assert any(line.split() == ["queued", "2"] for line in p.out.splitlines())
    assert "oldest waiting:" in p.out
    p = env.run("status", "--json")
    doc = json.loads(p.out)
    assert doc["counts"]["queued"] == 2
    assert doc["counts"]["sent"] == 0
    assert doc["oldest_waiting_seconds"] is not None
    assert doc["last_error"] is None


def test_list_and_show(env):
    sid = env.enqueue("l1@example.com")
    p = env.run("list")
    assert p.returncode == 0
    fields = p.out.splitlines()[0].split("\t")
    assert fields[0] == str(sid) and fields[1] == "queued" and fields[2] == "l1@example.com"
    assert env.run("list", "--state", "sent").out == ""
    assert env.run("list", "--state", "bogus").returncode == EX_USAGE
    p = env.run("show", sid)
    assert p.returncode == 0
    assert "state: queued" in p.out and "history:" in p.out and "-> queued" in p.out
    assert env.run("show", 999).returncode == EX_NOINPUT


# --- preview -------------------------------------------------------------------


def test_preview_text_html_and_eml(env):
    sid = env.enqueue("pat@example.com", ROLE, "lead", "--name", "<b>Pat&Co</b> Smith",
                      "--task", "write-production-code=70", "--task", "design-systems=30",
                      "--skill", "python")
    text = env.run("preview", sid, "--text")
    assert text.returncode == 0, text.err
    assert "<b>Pat&Co</b>" in text.out
    assert "Write production code" in text.out and "Design systems" in text.out
    html = env.run("preview", sid, "--html")
    assert html.returncode == 0
    assert "&lt;b&gt;Pat&amp;Co&lt;/b&gt;" in html.out and "<b>Pat" not in html.out
    eml = env.run("preview", "--email", "pat@example.com", "--eml")
    assert eml.returncode == 0, eml.err
    assert "Subject: " in eml.out and "multipart/alternative" in eml.out
    assert "To: " in eml.out and "pat@example.com" in eml.out


def expected_score(role, shares):
    """The score the README defines: each task's share of time times its
    exposure's weight, read from the role file, rounded half up."""
    weights = role["scoring"]["exposure_weights"]
    exposure = {t["id"]: t["exposure"] for t in role["tasks"]}
    total = sum(share / 100 * weights[exposure[task]] for task, share in shares.items())
    return math.floor(total + 0.5 + 1e-9)


def expected_label(role, score):
    return max((r for r in role["scoring"]["risk_levels"] if score >= r["min_score"]),
               key=lambda r: r["min_score"])["label"]


def test_preview_score_is_share_weighted(env):
    role = yaml.safe_load((REPO / "config" / "roles" / f"{ROLE}.yaml").read_text())
    exposure = {t["id"]: t["exposure"] for t in role["tasks"]}
    hi_task = next(t for t, e in exposure.items() if e == "high")
    lo_task = next(t for t, e in exposure.items() if e == "low")
    mid_task = next(t for t, e in exposure.items() if e == "medium")
    cases = [{hi_task: 100}, {lo_task: 100}, {hi_task: 60, lo_task: 25, mid_task: 15}]
    for i, shares in enumerate(cases):
        args = [a for task, share in shares.items() for a in ("--task", f"{task}={share}")]
        sid = env.enqueue(f"score{i}@example.com", ROLE, "mid", *args)
        text = env.run("preview", sid).out
        want = expected_score(role, shares)
        got = re.search(r"(\d+) out of 100: (\S+)", text)
        assert got, text
        assert (int(got.group(1)), got.group(2)) == (want, expected_label(role, want)), shares
        if len(shares) == 1:
            high = exposure[next(iter(shares))] == "high"
            assert ("Your task faces high exposure" if high
                    else "Your task does not face high exposure") in text
    # The three cases differ, so a score that ignored the shares could not pass.
    assert len({expected_score(role, c) for c in cases}) == 3


def test_preview_unknown_signup(env):
    env.enqueue("x@example.com")
    assert env.run("preview", 42).returncode == EX_NOINPUT
    assert env.run("preview", "--email", "nobody@example.com").returncode == EX_NOINPUT


# --- config --------------------------------------------------------------------


def test_check_config_ok(env):
    p = env.run("check-config")
    assert p.returncode == 0, p.err
    assert "OK" in p.out


def test_shipped_configs_pass_check_config(env):
    p = env.run("-c", REPO / "config" / "reportd.dev.yaml", "check-config", config=False)
    assert p.returncode == 0, p.err


def test_check_config_reports_every_error_with_position(env):
    env.write_config(raw=f"""\
queue:
  path: {env.db}
  poll_interval: soon
roles_dir: {REPO}/config/roles
templates_dir: {REPO}/templates
sender:
  from: reports@reportd.test
smtp:
  url: smtp://127.0.0.1:25
  tls: none
  timeout: thirty
  colour: blue
""")
    p = env.run("check-config")
    assert p.returncode == EX_CONFIG
    assert f"{env.config}:3:18: queue.poll_interval:" in p.err
    assert f"{env.config}:11:12: smtp.timeout:" in p.err and '"thirty"' in p.err
    assert f"{env.config}:12:3:" in p.err and "colour" in p.err


def test_config_from_environment_variable(env):
    p = env.run("check-config", config=False, env={"REPORTD_CONFIG": str(env.config)})
    assert p.returncode == 0, p.err
    p = env.run("check-config", config=False, env={"REPORTD_CONFIG": "/nonexistent.yaml"})
    assert p.returncode == EX_CONFIG
    assert "/nonexistent.yaml" in p.err


def test_broken_template_is_a_config_error_with_position(env, tmp_path):
    t = tmp_path / "templates"
    shutil.copytree(REPO / "templates", t)
    (t / "subject.mustache").write_text("Report for {{#role}}{{title}}\n")
    env.write_config(templates=t)
    p = env.run("check-config")
    assert p.returncode == EX_CONFIG
    assert "subject.mustache:1:" in p.err


def test_broken_roles_data_is_a_config_error_with_position(env, tmp_path):
    r = tmp_path / "roles"
    shutil.copytree(REPO / "config" / "roles", r)
    y = r / "backend-developer.yaml"
    y.write_text(y.read_text().replace("exposure: high", "exposure: extreme", 1))
    env.write_config(roles=r)
    p = env.run("check-config")
    assert p.returncode == EX_CONFIG
    assert "backend-developer.yaml:" in p.err and "extreme" in p.err


def test_inline_password_readable_by_others_is_refused(env):
    env.write_config(extra_smtp="  username: u\n  password: secret\n")
    os.chmod(env.config, 0o644)
    p = env.run("check-config")
    assert p.returncode == EX_CONFIG
    assert "password" in p.err
    assert "secret" not in p.err
    os.chmod(env.config, 0o600)
    assert env.run("check-config").returncode == 0


def test_usage_errors(env):
    assert env.run(config=False).returncode == EX_USAGE
    assert env.run("frobnicate").returncode == EX_USAGE
    assert env.run("show").returncode == EX_USAGE
    assert env.run("show", "abc").returncode == EX_USAGE
    assert env.run("status", "--bogus").returncode == EX_USAGE
    assert env.run("preview", "1", "--text", "--html").returncode == EX_USAGE
    assert env.run("--help", config=False).returncode == 0


# --- operator commands ----------------------------------------------------------


def test_hold_release_retry_purge(env):
    sid = env.enqueue("op@example.com")
    assert env.run("hold", sid).returncode == 0
    assert env.states()[sid] == "held"
    assert env.run("hold", sid).returncode == 1
    assert env.run("release", sid).returncode == 0
    assert env.states()[sid] == "queued"
    assert env.run("retry", sid).returncode == 1  # nothing to retry
    env.sql("UPDATE signups SET state='failed', reason='test' WHERE id=?", (sid,))
    p = env.run("retry", "--failed")
    assert p.returncode == 0 and f"{sid} queued" in p.out
    assert env.states()[sid] == "queued"
    assert env.run("purge", sid).returncode == 0
    assert env.count() == 0
    assert env.sql("SELECT count(*) FROM signup_events")[0][0] == 0
    assert env.run("purge", sid).returncode == EX_NOINPUT


def test_producer_insert_contract(env):
    """The README's INSERT, run by a producer that knows nothing else."""
    # The daemon creates the schema when it starts; producers never do.
    assert env.run("run", "--drain").returncode == 0
    env.sql("INSERT INTO signups (email, name, role, level, tasks, skills, years) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("web@example.com", "Web Visitor", ROLE, "senior",
             json.dumps([{"id": "design-systems", "share": 50}, "review-code"]),
             json.dumps(["system-design"]), 8))
    p = env.run("list")
    assert "web@example.com" in p.out and "queued" in p.out
    p = env.run("preview", "--email", "web@example.com")
    assert p.returncode == 0, p.err
    assert "Hello Web," in p.out and "Design systems" in p.out


def test_template_error_that_shows_only_when_rendering_fails_check_config(env, tmp_path):
    t = tmp_path / "templates"
    shutil.copytree(REPO / "templates", t)
    (t / "partials" / "loop.mustache").write_text("{{> loop}}")
    (t / "subject.mustache").write_text("{{> loop}}\n")
    env.write_config(templates=t)
    p = env.run("check-config")
    assert p.returncode == EX_CONFIG
    assert "rendering a sample report" in p.err and "backend-developer" in p.err


@pytest.mark.sqlite_only
def test_run_exits_74_when_the_queue_cannot_be_opened(env, tmp_path):
    env.write_config()
    env.config.write_text(env.config.read_text().replace(str(env.db),
                                                          str(tmp_path / "no" / "such" / "q.db")))
    p = env.run("run", "--drain")
    assert p.returncode == 74
    assert "q.db" in p.err


def test_purge_of_a_stale_claim_deletes_it(env):
    sid = env.enqueue("stale@example.com")
    env.sql("UPDATE signups SET state='sending', claimed_by='gone:1', claim_until=? WHERE id=?",
            (1000, sid))
    p = env.run("purge", sid)
    assert p.returncode == 0, p.err
    assert env.count() == 0


def test_purge_of_a_live_claim_is_refused(env):
    import time
    sid = env.enqueue("live@example.com")
    env.sql("UPDATE signups SET state='sending', claimed_by='busy:1', claim_until=? WHERE id=?",
            (int(time.time() * 1000) + 600_000, sid))
    p = env.run("purge", sid)
    assert p.returncode == 75
    assert env.count() == 1
