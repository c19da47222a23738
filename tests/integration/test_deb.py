"""The Debian package: `scripts/deb.sh` (what `make deb` runs) builds it with
dpkg-buildpackage from a copy of the tree, and lintian must report no error or
warning; the package holds each file in Debian's place, keeps /etc/reportd as
conffiles, creates the user and the state directory, and neither enables nor
starts the service.  Also: a package build never runs apt-get."""
import os
import re
import subprocess
import time

import pytest

from conftest import REPO

# SQLite only: the package is about the build, not the queue's database.
pytestmark = pytest.mark.sqlite_only

# The package build and lintian together; the test must stay well inside check's budget.
BUILD_SECONDS_MAX = 90


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("deb")
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck")
    start = time.monotonic()
    p = subprocess.run(["sh", "scripts/deb.sh", str(out)], cwd=REPO, capture_output=True,
                       text=True, env=env, timeout=300)
    elapsed = time.monotonic() - start
    assert p.returncode == 0, p.stdout + p.stderr
    debs = [d for d in out.glob("reportd_*.deb")]
    assert len(debs) == 1, list(out.iterdir())
    return {"deb": debs[0], "out": out, "stdout": p.stdout, "stderr": p.stderr,
            "elapsed": elapsed}


def listing(deb):
    p = subprocess.run(["dpkg", "-c", str(deb)], capture_output=True, text=True, check=True)
    files = {}
    for line in p.stdout.splitlines():
        mode, _owner, _size, _date, _time, path = line.split(None, 5)
        files[path.removeprefix(".")] = mode
    return files


def control(deb, tmp_path):
    d = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(d)], check=True)
    return d


def test_package_builds_in_time_and_lintian_is_clean(package):
    assert package["elapsed"] < BUILD_SECONDS_MAX, package["elapsed"]
    assert "deb: lintian: no errors or warnings" in package["stdout"]
    tags = [line for line in (package["stdout"] + package["stderr"]).splitlines()
            if re.match(r"^[EW]: ", line)]
    assert tags == []


def test_package_puts_every_file_in_debians_place(package):
    files = listing(package["deb"])
    shipped_templates = sorted(str(p.relative_to(REPO)) for p in
                               (REPO / "templates").rglob("*.mustache"))
    roles = sorted(p.name for p in (REPO / "config/roles").glob("*.yaml"))
    expected = {
        "/usr/bin/reportd": "-rwxr-xr-x",
        "/lib/systemd/system/reportd.service": "-rw-r--r--",
        "/usr/lib/sysusers.d/reportd.conf": "-rw-r--r--",
        "/usr/lib/tmpfiles.d/reportd.conf": "-rw-r--r--",
        "/usr/share/man/man8/reportd.8.gz": "-rw-r--r--",
        "/usr/share/man/man5/reportd.yaml.5.gz": "-rw-r--r--",
        "/usr/share/bash-completion/completions/reportd": "-rw-r--r--",
        "/usr/share/doc/reportd/README.md": "-rw-r--r--",
        "/usr/share/doc/reportd/copyright": "-rw-r--r--",
        "/etc/reportd/reportd.yaml": "-rw-r--r--",
        "/usr/share/reportd/reportd.yaml.example": "-rw-r--r--",
    }
    for t in shipped_templates:
        expected[f"/etc/reportd/{t}"] = "-rw-r--r--"
        expected[f"/usr/share/reportd/{t}"] = "-rw-r--r--"
    for r in roles:
        expected[f"/etc/reportd/roles/{r}"] = "-rw-r--r--"
    for path, mode in expected.items():
        assert files.get(path) == mode, (path, files.get(path))
    # Nothing under /usr/local, nothing of the build's own.
    assert not [p for p in files if p.startswith("/usr/local") or "/build/" in p]


def test_package_conffiles_are_everything_under_etc(package, tmp_path):
    d = control(package["deb"], tmp_path)
    conffiles = set((d / "conffiles").read_text().split())
    etc = {p for p, mode in listing(package["deb"]).items()
           if p.startswith("/etc/") and not mode.startswith("d")}
    assert "/etc/reportd/reportd.yaml" in etc
    assert conffiles == etc


def test_package_creates_the_user_and_directory_and_does_not_start_the_service(package, tmp_path):
    d = control(package["deb"], tmp_path)
    postinst = (d / "postinst").read_text()
    assert "systemd-sysusers" in postinst and "reportd.conf" in postinst
    assert "systemd-tmpfiles" in postinst
    # The sysusers entry runs first: tmpfiles gives the directory to that user.
    assert postinst.index("systemd-sysusers") < postinst.index("systemd-tmpfiles")
    # Never enabled or started on install; a running one is restarted after an upgrade.
    # (debhelper's --no-enable snippet re-enables only what an operator had
    # enabled before: its enable sits behind "debian-installed", which is
    # false on a first install; the enabling snippet has no such guard.)
    enable = postinst.index("deb-systemd-helper enable 'reportd.service'")
    assert "deb-systemd-helper debian-installed 'reportd.service'" in postinst[:enable]
    starts = re.findall(r"deb-systemd-invoke (\S+)", postinst)
    assert starts == ["try-restart"], starts
    preinst = (d / "preinst").read_text() if (d / "preinst").exists() else ""
    assert "stop" not in preinst
    # Removing the package stops a running daemon.
    prerm = (d / "prerm").read_text()
    assert re.search(r'if \[ "\$1" = remove \].*\n\s*deb-systemd-invoke stop reportd.service',
                     prerm), prerm
    info = subprocess.run(["dpkg-deb", "-f", str(package["deb"]), "Depends"],
                          capture_output=True, text=True, check=True).stdout
    assert "systemd-sysusers" in info


def test_package_binary_is_built_with_dpkg_buildflags(package):
    """CPPFLAGS (with _FORTIFY_SOURCE) and the hardening flags reach the compiler,
    after the project's own warnings."""
    log = (package["out"] / "build.log").read_text()
    compiles = [line for line in log.splitlines() if re.match(r"^cc .* -c -o build/obj/", line)]
    assert compiles
    for line in compiles:
        assert "-D_FORTIFY_SOURCE=2" in line and "-fstack-protector-strong" in line, line
        assert line.index("-Wall") < line.index("-D_FORTIFY_SOURCE=2"), line
    links = [line for line in log.splitlines() if re.match(r"^cc .* -o build/reportd ", line)]
    assert links and "-Wl,-z,relro" in links[0] and "-Wl,-z,now" in links[0], links


def fake_tools(tmp_path, installed):
    """dpkg-query that reports `installed` (nothing else), and an apt-get that only records."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "apt-calls"
    (bin_dir / "dpkg-query").write_text(
        "#!/bin/sh\nfor p; do :; done\n"
        f"case \" {' '.join(installed)} \" in *\" $p \"*) echo 'install ok installed' ;; "
        "*) exit 1 ;; esac\n")
    (bin_dir / "apt-get").write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    (bin_dir / "debconf-set-selections").write_text("#!/bin/sh\ncat >/dev/null\n")
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return bin_dir, calls


@pytest.mark.parametrize("env", [{"DEB_BUILD_ARCH": "amd64"}, {"REPORTD_NO_DEPS": "1"}])
def test_a_package_build_never_runs_apt_get(tmp_path, env):
    bin_dir, calls = fake_tools(tmp_path, installed=[])
    base = {k: v for k, v in os.environ.items() if k not in ("DEB_BUILD_ARCH", "REPORTD_NO_DEPS")}
    base["PATH"] = f"{bin_dir}:{base['PATH']}"
    # The control: with nothing installed and no package build, deps.sh does call apt-get.
    p = subprocess.run(["sh", "scripts/deps.sh", "build"], cwd=REPO, capture_output=True,
                       text=True, env=base)
    assert p.returncode == 0, p.stderr
    assert "install" in calls.read_text()
    calls.unlink()
    p = subprocess.run(["sh", "scripts/deps.sh", "build"], cwd=REPO, capture_output=True,
                       text=True, env=dict(base, **env))
    assert p.returncode == 0, p.stderr
    assert not calls.exists()
