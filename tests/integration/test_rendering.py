"""Every shipped role and level's sample report, as mail clients and spam
filters see it: rendered in Debian's Chromium (tests/html/render.mjs, driven
by playwright-core) at 375 and 800 px, light and dark, with and without the
<style> block; and scored by SpamAssassin's local tests."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

LEVELS = ("junior", "mid", "senior", "lead")
# SpamAssassin's score a report must stay under (5.0 would be spam).
SPAM_MAX = 0.5
SCREENSHOTS = REPO / "build" / "screenshots"


def role_ids():
    return sorted(p.stem for p in (REPO / "config" / "roles").glob("*.yaml"))


def role_data(role):
    """Task and skill ids of a shipped role, read the simple way (ids are plain slugs)."""
    text = (REPO / "config" / "roles" / f"{role}.yaml").read_text()
    tasks_part = text[text.index("\ntasks:"):text.index("\nskills:")]
    skills_part = text[text.index("\nskills:"):]
    ids = lambda part: re.findall(r"^  - id: ([a-z0-9-]+)$", part, re.M)
    return ids(tasks_part), ids(skills_part)


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """One sample report per role and level: full signups at mid and lead (a name, shares,
    skills, years), bare ones at junior and senior (the typical mix). Returns the
    directory of HTML files and the list of (name, eml bytes)."""
    from conftest import Env
    tmp = tmp_path_factory.mktemp("samples")
    env = Env(tmp)
    # Links in the footer, as a production config has them.
    env.config.write_text(env.config.read_text() + (
        "site:\n  name: Example AI Careers\n  url: https://careers.example.org/\n"
        "  analysis_url: https://careers.example.org/ai/{role}/{level}\n"
        "  deletion: https://careers.example.org/privacy\n"))
    html_dir = tmp / "html"
    html_dir.mkdir()
    names = {}
    for i, role in enumerate(role_ids()):
        tasks, skills = role_data(role)
        for level in LEVELS:
            extra = []
            if level in ("mid", "lead"):
                extra = ["--name", "Dr. Grace Hopper", "--years", "9",
                         "--task", f"{tasks[0]}=45", "--task", f"{tasks[-1]}=25",
                         "--task", tasks[len(tasks) // 2], "--skill", skills[0],
                         "--skill", skills[-1]]
            sid = env.enqueue(f"sample{i}.{level}@example.org", role, level, *extra)
            names[sid] = f"{role}-{level}"
    emls = []
    for sid, name in names.items():
        p = env.run("preview", sid, "--html")
        assert p.returncode == 0, p.err
        (html_dir / f"{name}.html").write_bytes(p.stdout)
        p = env.run("preview", sid, "--eml")
        assert p.returncode == 0, p.err
        emls.append((name, p.stdout))
    return html_dir, emls


def test_every_sample_renders_in_chromium(samples):
    html_dir, emls = samples
    node_modules = REPO / "tests" / "html" / "node_modules" / "playwright-core"
    assert node_modules.exists(), "run: make check (npm ci in tests/html)"
    argv = ["node", str(REPO / "tests" / "html" / "render.mjs"), str(html_dir)]
    if os.environ.get("REPORTD_SCREENSHOTS"):
        argv.append(os.environ["REPORTD_SCREENSHOTS"])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert p.stdout.strip(), p.stderr
    result = json.loads(p.stdout.strip().splitlines()[-1])
    # 2 widths x 2 colour schemes x with/without <style> for every sample.
    assert result["checked"] == len(emls) * 8
    assert result["problems"] == [], "\n".join(result["problems"])
    assert p.returncode == 0, p.stderr


def spam_reports(emls):
    """Runs spamassassin -L -t once over all messages (as an mbox); one (score, rules) each."""
    mbox = b"".join(b"From reportd@example.org  Mon Jan  1 00:00:00 2026\n" +
                    re.sub(rb"(?m)^(>*From )", rb">\1", eml) + b"\n" for _, eml in emls)
    p = subprocess.run(["spamassassin", "-L", "-t", "--mbox"], input=mbox,
                       capture_output=True, timeout=300)
    out = p.stdout.decode(errors="replace").replace("\r\n", "\n")
    reports = re.findall(r"Content analysis details:\s+\((-?[\d.]+) points.*?\n-{4}[- ]+\n"
                         r"(.*?)(?:\n\n|\Z)", out, re.S)
    return [(float(score), rules.strip()) for score, rules in reports]


def test_every_sample_scores_low_with_spamassassin(samples):
    _, emls = samples
    reports = spam_reports(emls)
    assert len(reports) == len(emls)
    lines = []
    for (name, _), (score, rules) in zip(emls, reports):
        lines.append(f"spamassassin {name}: {score}")
        lines += [f"    {line.strip()}" for line in rules.splitlines()]
    print("\n".join(lines))
    # pytest hides the output of a passing test: the scores are kept here too.
    log = REPO / "build" / "test-logs" / "spamassassin.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("\n".join(lines) + "\n")
    high = [(name, score) for (name, _), (score, _) in zip(emls, reports) if score >= SPAM_MAX]
    assert high == []
