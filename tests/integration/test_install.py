"""`make install` into a DESTDIR, and the systemd unit it installs, checked
with systemd's own tools (no systemd needs to be running)."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    p = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/usr"], cwd=REPO,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return dest


def test_install_puts_everything_in_its_conventional_place(installed):
    for path in ("usr/bin/reportd", "lib/systemd/system/reportd.service",
                 "usr/lib/sysusers.d/reportd.conf", "etc/reportd/reportd.yaml",
                 "etc/reportd/roles/backend-developer.yaml",
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
    # The example config points at what was installed.
    conf = (installed / "etc/reportd/reportd.yaml").read_text()
    assert "templates_dir: /usr/share/reportd/templates" in conf
    assert "roles_dir: /etc/reportd/roles" in conf


def test_install_keeps_an_operators_config(installed):
    conf = installed / "etc/reportd/reportd.yaml"
    conf.write_text(conf.read_text() + "# edited by the operator\n")
    p = subprocess.run(["make", "-s", "install", f"DESTDIR={installed}", "PREFIX=/usr"],
                       cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert conf.read_text().endswith("# edited by the operator\n")


def test_installed_unit_runs_the_installed_binary(installed):
    unit = (installed / "lib/systemd/system/reportd.service").read_text()
    assert "ExecStart=/usr/bin/reportd -c /etc/reportd/reportd.yaml run" in unit
    assert "@BINDIR@" not in unit
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=reportd",
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
    unit.write_text(src.replace("@BINDIR@", str(REPO / "build")).replace("@DOCDIR@", str(REPO)))
    return unit


def test_unit_passes_systemd_analyze_verify(tmp_path):
    unit = unit_in(tmp_path)
    p = subprocess.run(["systemd-analyze", "verify", unit.name], cwd=tmp_path,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "reportd.service" not in p.stderr, p.stderr


def test_unit_security_exposure_is_at_most_2(tmp_path):
    unit = unit_in(tmp_path)
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", unit.name],
                       cwd=tmp_path, capture_output=True, text=True)
    m = re.search(r"Overall exposure level for reportd.service: (\d+\.\d+)", p.stdout)
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) <= 2.0
