"""What an operator's tools read: the node_exporter textfile the daemon writes (metrics.path),
`status --prometheus`, and `status`/`list`/`show --json`, against a real queue and relay."""
import json
import re
import signal
import stat
import time

from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_until

ROLE = "backend-developer"
# A metric sample line of the text format: name, optional labels, a number.
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*",?)*\})? '
                    r'(-?[0-9.]+(e[+-]?[0-9]+)?|\+Inf|NaN)$')
# The metrics file is rewritten at most this often (METRICS_INTERVAL_MS), and at exit.
INTERVAL = 10


def parse(text):
    """Checks the exposition format line by line, then reads it with prometheus_client's
    parser: {family: {(sample name, labels): value}}."""
    assert text.endswith("\n")
    family = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family = line.split()[2]
            assert family.startswith("reportd_") and len(line.split(maxsplit=3)) == 4
        elif line.startswith("# TYPE "):
            assert line.split()[2] == family and line.split()[3] in ("gauge", "counter",
                                                                     "histogram")
        else:
            assert SAMPLE.match(line), line
            assert line.startswith(family), f"{line} outside its family {family}"
    out = {}
    for f in text_string_to_metric_families(text):
        assert f.documentation and f.type in ("gauge", "counter", "histogram"), f.name
        out[f.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in f.samples}
    return out


def states_of(metrics):
    return {dict(labels)["state"]: int(v) for (_, labels), v in metrics["reportd_signups"].items()}


def test_metrics_file_parses_and_matches_status(env, capture):
    # The first DATA is refused for a while: one deferral, then delivery.
    srv = capture("--reply-data", "451", "4.3.0 try later", "--times", "1")
    prom = env.tmp / "textfile" / "reportd.prom"
    prom.parent.mkdir()
    env.write_config(smtp_url=srv.url)
    env.config.write_text(env.config.read_text() + f"metrics:\n  path: {prom}\n")
    n = 5
    for i in range(n):
        env.enqueue(f"m{i}@example.org")
    env.sql("INSERT INTO signups (email, role, level) VALUES ('r@example.org', 'astronaut', 'mid')")
    d = env.start("run")
    try:
        assert wait_until(lambda: env.count("state = 'sent'") == n, timeout=30)
        # Written while it runs, within an interval of the last send.
        assert wait_until(lambda: prom.exists() and
                          states_of(parse(prom.read_text())).get("sent") == n,
                          timeout=INTERVAL + 5)
    finally:
        d.send_signal(signal.SIGTERM)
        assert d.wait(30) == 0
    text = prom.read_text()
    m = parse(text)
    status = json.loads(env.run("status", "--json").out)
    assert states_of(m) == status["counts"]
    assert status["counts"]["sent"] == n and status["counts"]["rejected"] == 1
    # status --prometheus prints the same families and counts.
    p = env.run("status", "--prometheus")
    assert p.returncode == 0, p.err
    shown = parse(p.out)
    assert set(shown) == set(m)
    assert states_of(shown) == status["counts"]
    outcomes = {dict(k[1])["outcome"]: v for k, v in m["reportd_claim_outcomes"].items()}
    assert outcomes["sent"] == n and outcomes["deferred"] == 1 and outcomes["rejected"] == 1
    assert m["reportd_delivery_attempts"][("reportd_delivery_attempts_total", ())] == n + 1
    replies = {dict(k[1])["code"]: v for k, v in m["reportd_relay_last_reply_signups"].items()}
    assert replies == {"250": n}
    hist = m["reportd_delivery_latency_seconds"]
    assert hist[("reportd_delivery_latency_seconds_count", ())] == n
    assert hist[("reportd_delivery_latency_seconds_bucket", (("le", "+Inf"),))] == n
    # Each bucket counts the sends the queue says took at most that long.
    latencies = [r[0] for r in env.sql("SELECT sent_at - created_at FROM signups"
                                       " WHERE state = 'sent'")]
    buckets = {dict(k[1])["le"]: v for k, v in hist.items()
               if k[0] == "reportd_delivery_latency_seconds_bucket"}
    assert len(buckets) == 13
    for le, v in buckets.items():
        assert v == sum(1 for ms in latencies if le == "+Inf" or ms <= float(le) * 1000), le
    assert abs(hist[("reportd_delivery_latency_seconds_sum", ())] - sum(latencies) / 1000) < 0.002
    # The deferred one waited for its retry: the buckets are not all the same.
    assert len(set(buckets.values())) > 1
    last = env.sql("SELECT max(sent_at) FROM signups")[0][0] / 1000
    assert abs(m["reportd_last_success_timestamp_seconds"][
        ("reportd_last_success_timestamp_seconds", ())] - last) < 0.002
    assert m["reportd_oldest_waiting_age_seconds"][("reportd_oldest_waiting_age_seconds", ())] == 0
    # node_exporter runs as another user; nothing half-written is left beside the file.
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644
    assert [p.name for p in prom.parent.iterdir()] == ["reportd.prom"]


def test_metrics_path_must_be_a_prom_file(env):
    env.config.write_text(env.config.read_text() + "metrics:\n  path: /tmp/reportd.txt\n")
    p = env.run("check-config")
    assert p.returncode == 78
    assert "metrics.path" in p.err and "must end in .prom" in p.err


def test_unwritable_metrics_path_is_logged_and_delivery_goes_on(env, capture):
    srv = capture("--quiet")
    env.write_config(smtp_url=srv.url)
    env.config.write_text(env.config.read_text() +
                          f"metrics:\n  path: {env.tmp / 'missing' / 'reportd.prom'}\n")
    env.enqueue("a@example.org")
    p = env.run("run", "--drain")
    assert p.returncode == 0
    assert env.count("state = 'sent'") == 1
    assert "metrics not written" in p.err and "missing/reportd.prom" in p.err


def test_list_and_show_json(env, capture):
    srv = capture("--quiet")
    env.write_config(smtp_url=srv.url)
    a = env.enqueue("a@example.org", ROLE, "senior", "--name", "Ada \"A\" L", "--task",
                    "review-code=40", "--skill", "sql", "--years", "7")
    b = env.enqueue("b@example.org")
    assert env.run("hold", b).returncode == 0
    assert env.run("run", "--drain").returncode == 0
    listed = json.loads(env.run("list", "--json").out)
    assert [r["id"] for r in listed] == [a, b]
    keys = ["id", "email", "email_domain_unicode", "name", "role", "level", "tasks", "skills",
            "years", "state", "attempts", "created_at", "updated_at", "next_attempt_at",
            "sent_at", "message_id", "last_reply", "reason", "load_error", "claimed_by",
            "claim_until", "scrubbed_at", "email_hash"]
    assert all(list(r) == keys for r in listed)
    first = listed[0]
    assert (first["email"], first["name"], first["state"], first["attempts"]) == (
        "a@example.org", 'Ada "A" L', "sent", 1)
    assert first["tasks"] == [{"id": "review-code", "share": 40}] and first["skills"] == ["sql"]
    assert first["years"] == 7
    assert first["message_id"] == srv.messages()[0]["Message-ID"]
    assert first["last_reply"].startswith("250")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["sent_at"])
    assert listed[1]["state"] == "held" and listed[1]["sent_at"] is None
    assert json.loads(env.run("list", "--state", "held", "--json").out) == [listed[1]]
    assert json.loads(env.run("list", "--state", "failed", "--json").out) == []
    shown = json.loads(env.run("show", a, "--json").out)
    assert list(shown) == keys + ["history"]
    assert {k: shown[k] for k in keys} == first
    assert [(e["from"], e["to"]) for e in shown["history"]] == [
        (None, "queued"), ("queued", "sending"), ("sending", "sent")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["at"]) for e in shown["history"])
    assert env.run("status", "--json", "--prometheus").returncode == 64
    assert env.run("hold", a, "--json").returncode == 64
