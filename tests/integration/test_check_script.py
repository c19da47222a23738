"""scripts/check.sh's Mustache spec step: the official spec found through
MUSTACHE_SPEC_DIR is run and counted; a missing one is reported as not run
(never as passed), and under CI=true as a failure."""
import os
import subprocess

from conftest import REPO


def check_spec(tmp_path, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("CI", "MUSTACHE_SPEC_DIR")}
    full.update(CHECK_SUITES="spec", CHECK_LOG_DIR=str(tmp_path / "logs"), **env)
    p = subprocess.run(["sh", "scripts/check.sh"], cwd=REPO, capture_output=True, text=True,
                       env=full, timeout=120)
    return p.returncode, p.stdout.splitlines()


def test_missing_spec_outside_ci_is_not_run_and_not_passed(tmp_path):
    rc, lines = check_spec(tmp_path, MUSTACHE_SPEC_DIR=str(tmp_path / "nowhere"))
    assert rc == 0, lines
    assert lines[0].startswith("mustache spec: NOT RUN"), lines
    assert str(tmp_path / "nowhere") in "\n".join(lines)
    assert lines[-1] == "check: 0 passed, 0 failed, 1 not run"


def test_missing_spec_under_ci_fails(tmp_path):
    rc, lines = check_spec(tmp_path, MUSTACHE_SPEC_DIR=str(tmp_path / "nowhere"), CI="true")
    assert rc != 0
    assert lines[0].startswith("mustache spec: FAILED"), lines
    assert lines[-1] == "check: 0 passed, 1 failed"


def test_spec_from_the_environment_is_run_and_counted(tmp_path):
    """A spec directory named by MUSTACHE_SPEC_DIR, here one written by the
    test in the spec's format (the official one need not be beside this
    clone): every test of its required modules counts, a wrong one fails."""
    copy = tmp_path / "spec"
    copy.mkdir()
    modules = ("comments", "delimiters", "interpolation", "inverted", "partials", "sections")
    for i, name in enumerate(modules):
        tests = "".join(f"""\
  - name: {name} {j}
    data: {{ who: w{j} }}
    template: "Hello {{{{who}}}}{'!' * j}"
    expected: "Hello w{j}{'!' * j}"
""" for j in range(i + 1))
        (copy / f"{name}.yml").write_text(f"overview: test\ntests:\n{tests}")
    expected = sum(range(1, len(modules) + 1))
    rc, lines = check_spec(tmp_path, MUSTACHE_SPEC_DIR=str(copy), CI="true")
    assert rc == 0, lines
    assert lines == [f"mustache spec: {expected} passed, 0 failed",
                     f"check: {expected} passed, 0 failed"]

    (copy / "sections.yml").write_text((copy / "sections.yml").read_text()
                                       .replace('expected: "Hello w0"', 'expected: "Bye"'))
    rc, lines = check_spec(tmp_path, MUSTACHE_SPEC_DIR=str(copy))
    assert rc != 0
    assert lines[0] == f"mustache spec: {expected - 1} passed, 1 failed"
