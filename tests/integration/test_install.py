"""`make install` into a DESTDIR, and the systemd unit it installs, checked
with systemd's own tools (no systemd needs to be running); the man pages it
installs; the unit's reload run by hand against a real daemon."""
import os
import re
import shlex
import shutil
import signal
import subprocess
import time

import pytest

from conftest import REPO, wait_until


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    p = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/usr"], cwd=REPO,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return dest


def test_install_puts_everything_in_its_conventional_place(installed):
    for path in ("usr/bin/reportd", "usr/lib/systemd/system/reportd.service",
                 "usr/lib/sysusers.d/reportd.conf", "usr/lib/tmpfiles.d/reportd.conf",
                 "usr/share/man/man8/reportd.8", "usr/share/man/man5/reportd.yaml.5",
                 "usr/share/bash-completion/completions/reportd",
                 "etc/reportd/reportd.yaml",
                 "etc/reportd/roles/backend-developer.yaml",
                 "etc/reportd/templates/body.html.mustache",
                 "etc/reportd/templates/partials/footer.mustache",
                 "usr/share/reportd/templates/subject.mustache",
                 "usr/share/reportd/templates/body.txt.mustache",
                 "usr/share/reportd/templates/body.html.mustache",
                 "usr/share/reportd/reportd.yaml.example"):
        assert (installed / path).is_file(), path
    assert os.access(installed / "usr/bin/reportd", os.X_OK)
    # The service runs as the reportd user: it must be able to read its config and data.
    for path in ("etc/reportd/reportd.yaml", "etc/reportd/roles/backend-developer.yaml",
                 "usr/share/reportd/templates/body.html.mustache"):
        assert (installed / path).stat().st_mode & 0o004, path
    assert list((installed / "usr/share/reportd/templates/partials").glob("*.mustache"))
    # The example config points at what was installed: the operator's copies in /etc.
    conf = (installed / "etc/reportd/reportd.yaml").read_text()
    assert "templates_dir: /etc/reportd/templates" in conf
    assert "roles_dir: /etc/reportd/roles" in conf
    shipped = sorted(p.relative_to(REPO / "templates") for p in (REPO / "templates").rglob("*.mustache"))
    etc = installed / "etc/reportd/templates"
    assert sorted(p.relative_to(etc) for p in etc.rglob("*.mustache")) == shipped


def test_install_honours_the_prefix_for_systemd_files(tmp_path):
    """PREFIX=/usr/local puts unit, sysusers and tmpfiles files under it; each
    directory can still be named on its own."""
    dest = tmp_path / "dest"
    p = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/usr/local",
                        "TMPFILESDIR=/usr/lib/tmpfiles.d"], cwd=REPO, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    for path in ("usr/local/bin/reportd", "usr/local/lib/systemd/system/reportd.service",
                 "usr/local/lib/sysusers.d/reportd.conf", "usr/lib/tmpfiles.d/reportd.conf",
                 "usr/local/share/man/man8/reportd.8"):
        assert (dest / path).is_file(), path
    assert not (dest / "lib").exists()
    assert not (dest / "usr/lib/sysusers.d").exists()
    unit = (dest / "usr/local/lib/systemd/system/reportd.service").read_text()
    assert "ExecStart=/usr/local/bin/reportd -c /etc/reportd/reportd.yaml run" in unit


def test_tmpfiles_entry_makes_the_state_directory_as_the_unit_does(installed):
    """The state directory: reportd's, group-writable and setgid (StateDirectoryMode=)."""
    unit = (installed / "usr/lib/systemd/system/reportd.service").read_text()
    mode = re.search(r"^StateDirectoryMode=(\d+)$", unit, re.M).group(1)
    state = re.search(r"^StateDirectory=(\S+)$", unit, re.M).group(1)
    entries = [line.split() for line in
               (installed / "usr/lib/tmpfiles.d/reportd.conf").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert entries == [["d", f"/var/lib/{state}", mode, "reportd", "reportd", "-"]]


def test_tmpfiles_entry_creates_the_directory(installed, tmp_path):
    """systemd-tmpfiles itself, with --root: the directory with the entry's mode.
    The owner is only checked to be looked up: the root has no reportd user."""
    if shutil.which("systemd-tmpfiles") is None:
        pytest.fail("systemd-tmpfiles is missing")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n"
                                     "reportd:x:990:990::/var/lib/reportd:/usr/sbin/nologin\n")
    (root / "etc/group").write_text("root:x:0:\nreportd:x:990:\n")
    conf = installed / "usr/lib/tmpfiles.d/reportd.conf"
    p = subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create", str(conf)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    st = (root / "var/lib/reportd").stat()
    assert oct(st.st_mode & 0o7777) == "0o2770"
    assert (st.st_uid, st.st_gid) == (990, 990)


def test_man_pages_are_installed_lint_clean_and_render(installed):
    if shutil.which("mandoc") is None:
        pytest.fail("mandoc is missing (scripts/deps.sh test installs it)")
    pages = [installed / "usr/share/man/man8/reportd.8",
             installed / "usr/share/man/man5/reportd.yaml.5"]
    p = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", *map(str, pages)],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "", p.stdout + p.stderr
    for page, title in zip(pages, ("REPORTD(8)", "REPORTD.YAML(5)")):
        p = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True,
                           env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
        assert p.returncode == 0, p.stderr
        assert p.stdout.splitlines()[0].startswith(title), p.stdout[:200]
        assert "SEE ALSO" in p.stdout


def test_install_keeps_an_operators_config(installed):
    conf = installed / "etc/reportd/reportd.yaml"
    conf.write_text(conf.read_text() + "# edited by the operator\n")
    p = subprocess.run(["make", "-s", "install", f"DESTDIR={installed}", "PREFIX=/usr"],
                       cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert conf.read_text().endswith("# edited by the operator\n")


def test_installed_unit_runs_the_installed_binary(installed):
    unit = (installed / "usr/lib/systemd/system/reportd.service").read_text()
    assert "ExecStart=/usr/bin/reportd -c /etc/reportd/reportd.yaml run" in unit
    assert "@" not in unit.replace("@system-service", "").replace("~@privileged @resources", "")
    for line in ("Type=notify", "StateDirectory=reportd",
                 "ConfigurationDirectory=reportd", "User=reportd", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "PrivateTmp=yes",
                 "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                 "SystemCallFilter=@system-service"):
        assert line in unit.splitlines(), line
    assert re.search(r"^WatchdogSec=", unit, re.M)
    assert re.search(r"^LoadCredential=smtp-password:", unit, re.M)


def unit_in(tmp_path):
    """The unit with ExecStart pointing at build/reportd, where systemd-analyze can see it."""
    src = (REPO / "systemd/reportd.service").read_text()
    unit = tmp_path / "reportd.service"
    unit.write_text(src.replace("@BINDIR@", str(REPO / "build")).replace("@DOCDIR@", str(REPO))
                    .replace("@SYSCONFDIR@", str(tmp_path / "etc")))
    return unit


def test_unit_passes_systemd_analyze_verify(tmp_path):
    """Also checks that the man pages in Documentation= are found (in the tree's man/)."""
    unit = unit_in(tmp_path)
    for page in ("reportd.8", "reportd.yaml.5"):
        section = tmp_path / "man" / f"man{page[-1]}"
        section.mkdir(parents=True, exist_ok=True)
        (section / page).symlink_to(REPO / "man" / page)
    p = subprocess.run(["systemd-analyze", "verify", unit.name], cwd=tmp_path,
                       capture_output=True, text=True,
                       env=dict(os.environ, MANPATH=str(tmp_path / "man")))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "reportd.service" not in p.stderr, p.stderr


def test_unit_security_exposure_is_at_most_2(tmp_path):
    unit = unit_in(tmp_path)
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", unit.name],
                       cwd=tmp_path, capture_output=True, text=True)
    m = re.search(r"Overall exposure level for reportd.service: (\d+\.\d+)", p.stdout)
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) <= 2.0


def reload_lines(unit_text):
    return [line.split("=", 1)[1] for line in unit_text.splitlines()
            if line.startswith("ExecReload=")]


def test_unit_reload_checks_the_config_before_signalling(tmp_path):
    """ExecReload runs check-config with the service's own config, then sends SIGHUP."""
    unit = unit_in(tmp_path).read_text()
    start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()
    lines = reload_lines(unit)
    assert len(lines) == 2, lines
    check = shlex.split(lines[0])
    # The same binary and config as ExecStart, and check-config.
    assert check == start[:-1] + ["check-config"]
    assert shlex.split(lines[1]) == ["/bin/kill", "-HUP", "$MAINPID"]


def run_reload(lines, pid):
    """Runs ExecReload's command lines as systemd does: in order, stopping at the
    first that fails.  Returns the failing process, or None when all succeeded."""
    for line in lines:
        argv = [a.replace("$MAINPID", str(pid)) for a in shlex.split(line)]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            return p
    return None


def test_reload_with_a_broken_config_fails_and_leaves_the_daemon_alone(tmp_path):
    """The unit's reload, run by hand against a running daemon: a broken config
    fails the reload with check-config's message and exit 78 and the daemon gets
    no SIGHUP; after the fix the same reload succeeds and the daemon reloads."""
    unit = unit_in(tmp_path).read_text()
    config = tmp_path / "etc/reportd/reportd.yaml"
    config.parent.mkdir(parents=True)
    good = (f"queue:\n  path: {tmp_path / 'queue.db'}\n"
            f"roles_dir: {REPO / 'config/roles'}\ntemplates_dir: {REPO / 'templates'}\n"
            "sender:\n  from: reports@reportd.test\n"
            "smtp:\n  url: smtp://127.0.0.1:9\n  tls: none\n")
    config.write_text(good)
    log = tmp_path / "daemon.log"
    start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    with open(log, "w") as err:
        daemon = subprocess.Popen(start, stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        assert wait_until(lambda: "started:" in log.read_text()), log.read_text()
        lines = reload_lines(unit)

        config.write_text(good.replace("  tls: none", "\ttls: none"))
        before = log.read_text()
        failed = run_reload(lines, daemon.pid)
        assert failed is not None and failed.returncode == 78
        assert failed.args[-1] == "check-config"
        assert f"{config}:9:1: tab character" in failed.stderr, failed.stderr
        time.sleep(0.5)
        assert daemon.poll() is None
        # Not signalled: a SIGHUP would have logged a reload, or its failure.
        assert log.read_text() == before

        config.write_text(good)
        assert run_reload(lines, daemon.pid) is None
        assert wait_until(lambda: f"reloaded {config}" in log.read_text()), log.read_text()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
