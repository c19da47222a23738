"""A real PostgreSQL server for the tests, from Debian's postgresql package: initdb and pg_ctl
run as an unprivileged user in a temporary directory, listening on a Unix socket there and on
a loopback port (for the password tests), and stopped afterwards. No system service is used."""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# The server refuses to run as root; this account owns its files and process.
PG_USER = "nobody"
# The superuser initdb creates, and the database each test gets a fresh copy of.
PG_ROLE = "reportd"
# A role that must log in with a password (scram-sha-256, over TCP only).
PG_PASSWORD_ROLE = "reportd_pw"
# pg_ctl waits this long for the server to start or stop.
PG_CTL_TIMEOUT_S = 60


def pg_bindir():
    """The newest /usr/lib/postgresql/N/bin with initdb in it, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in a temporary directory. stop() removes it."""

    def __init__(self, password="reportd-test-secret"):
        self.bindir = pg_bindir()
        if self.bindir is None:
            raise RuntimeError("no initdb under /usr/lib/postgresql/*/bin: install postgresql")
        self.password = password
        self.dir = Path(tempfile.mkdtemp(prefix="reportd-pg-"))
        self.data = self.dir / "data"
        self.sock = self.dir
        self.port = _free_port()
        self.log = self.dir / "server.log"
        self.started = False
        pw = pwd.getpwnam(PG_USER)
        self._uid, self._gid = pw.pw_uid, pw.pw_gid
        # The socket directory must be reachable by both the server and the tests (root).
        os.chmod(self.dir, 0o755)
        os.chown(self.dir, self._uid, self._gid)
        try:
            self._initdb()
            self._start()
            self._create_roles()
        except BaseException:
            self.stop()
            raise

    def _as_user(self, argv, **kw):
        """Runs argv as PG_USER: setpriv keeps the environment and needs no PAM."""
        full = ["setpriv", f"--reuid={self._uid}", f"--regid={self._gid}", "--clear-groups", *argv]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.dir)}
        return subprocess.run(full, cwd=self.dir, env=env, capture_output=True, text=True, **kw)

    def _initdb(self):
        p = self._as_user([str(self.bindir / "initdb"), "-D", str(self.data), "-U", PG_ROLE,
                           "-E", "UTF8", "--locale=C.UTF-8", "--auth-local=trust",
                           "--auth-host=scram-sha-256", "--no-sync"], timeout=PG_CTL_TIMEOUT_S)
        if p.returncode != 0:
            raise RuntimeError(f"initdb failed: {p.stdout}{p.stderr}")
        with open(self.data / "postgresql.conf", "a") as f:
            # No durability needed in a throwaway cluster: fsync off makes tests faster,
            # and nothing the tests assert depends on surviving a power cut.
            f.write(f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.sock}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
""")

    def _start(self):
        p = self._as_user([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                           "-w", "-t", str(PG_CTL_TIMEOUT_S), "start"],
                          timeout=PG_CTL_TIMEOUT_S + 10)
        if p.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {p.stdout}{p.stderr}{log}")
        self.started = True

    def psql(self, sql, db="postgres", user=PG_ROLE, check=True):
        """Runs sql through psql over the Unix socket; returns its stdout (unaligned, tuples only)."""
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                            str(self.sock), "-p", str(self.port), "-U", user, "-d", db, "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError(f"psql failed: {p.stderr}")
        return p.stdout

    def _create_roles(self):
        self.psql(f"CREATE ROLE {PG_PASSWORD_ROLE} LOGIN PASSWORD '{self.password}'")

    _dbs = 0

    def create_db(self, owner=PG_ROLE):
        """A new, empty database; returns its name."""
        PgServer._dbs += 1
        name = f"t{os.getpid()}_{PgServer._dbs}"
        self.psql(f'CREATE DATABASE "{name}" OWNER {owner}')
        return name

    def drop_db(self, name):
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', check=False)

    def url(self, db, user=PG_ROLE):
        """A libpq URI to db over the Unix socket, as reportd's queue.url takes it."""
        return f"postgresql://{user}@/{db}?host={self.sock}&port={self.port}"

    def tcp_url(self, db, user=PG_PASSWORD_ROLE):
        """A libpq URI over loopback TCP, where the server asks for a password."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def dsn(self, db):
        """For psycopg2."""
        return f"host={self.sock} port={self.port} user={PG_ROLE} dbname={db}"

    def stop(self):
        if self.started:
            self._as_user([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                           "-w", "-t", str(PG_CTL_TIMEOUT_S), "stop"],
                          timeout=PG_CTL_TIMEOUT_S + 10)
            self.started = False
        # A server that would not stop still holds its postmaster.pid: kill it by that pid.
        pidfile = self.data / "postmaster.pid"
        if pidfile.exists():
            try:
                pid = int(pidfile.read_text().split("\n", 1)[0])
                os.kill(pid, 9)
                time.sleep(0.2)
            except (ValueError, OSError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
