"""Fixtures for the integration tests: the real build/reportd binary ($REPORTD_BIN), a real
queue (a SQLite file, or a database on a real PostgreSQL server started for the session), and
real SMTP servers on loopback (aiosmtpd through tests/smtpd.py, postfix's smtp-sink). Nothing
here imitates SMTP.

Every test that takes `env` runs once per queue backend in $REPORTD_TEST_BACKENDS (default
"sqlite,pg"); a test marked @pytest.mark.sqlite_only (file modes, WAL, PRAGMAs) runs on SQLite
only. The PostgreSQL runs are left out, not skipped, where a backend is not asked for."""
import email
import email.policy
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[2]
# The binary under test: build/reportd, or another build of it (make check
# runs the suite again against the AddressSanitizer build, build/asan/reportd).
REPORTD = REPO / os.environ.get("REPORTD_BIN", "build/reportd")
# The suite runs with this many SMTP connections (check.sh runs the delivery
# tests again with 4 and 16): every guarantee must hold whatever the number.
CONNECTIONS = int(os.environ.get("REPORTD_TEST_CONNECTIONS", "1"))
SMTPD = REPO / "tests" / "smtpd.py"
# The queue backends the suite runs against (check.sh runs PostgreSQL in the plain run only).
BACKENDS = [b for b in os.environ.get("REPORTD_TEST_BACKENDS", "sqlite,pg").split(",") if b]
SMTP_SINK = "/usr/sbin/smtp-sink"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Env:
    """One test's world: a config file, a queue database, helpers to run reportd."""

    def __init__(self, tmp: Path, backend="sqlite", pg=None):
        self.tmp = tmp
        self.backend = backend
        self.pg = pg
        self.db = tmp / "queue.db"
        self.pg_db = pg.create_db() if backend == "pg" else None
        self.config = tmp / "reportd.yaml"
        self.smtp_url = "smtp://127.0.0.1:9"
        self.started = []  # daemons from start(): none outlives its test, pass or fail
        self.write_config()

    @property
    def queue_line(self):
        """The config line that names the queue."""
        if self.backend == "pg":
            return f"url: {self.pg.url(self.pg_db)}"
        return f"path: {self.db}"

    def close(self):
        # A test that failed before stopping its daemon must not leave it
        # running into the next tests (or holding its PostgreSQL database).
        for p in self.started:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        if self.pg_db:
            self.pg.drop_db(self.pg_db)

    def write_config(self, smtp_url=None, tls="none", extra_smtp="", extra_queue="",
                     templates=None, roles=None, raw=None):
        if smtp_url:
            self.smtp_url = smtp_url
        if raw is not None:
            self.config.write_text(raw)
            return
        self.config.write_text(f"""\
queue:
  {self.queue_line}
  poll_interval: 200ms
  retry_min: 1s
  retry_max: 4s
  lease: 30s
{extra_queue}
roles_dir: {roles or REPO / 'config' / 'roles'}
templates_dir: {templates or REPO / 'templates'}
sender:
  from: reports@reportd.test
  name: AI Exposure Reports
  reply_to: hello@reportd.test
smtp:
  url: {self.smtp_url}
  tls: {tls}
  connect_timeout: 3s
  timeout: 10s
{extra_smtp}{"" if "connections:" in extra_smtp else f"  connections: {CONNECTIONS}{chr(10)}"}
""")

    def run(self, *args, input=None, env=None, timeout=60, config=True):
        argv = [str(REPORTD)]
        if config:
            argv += ["-c", str(self.config)]
        argv += [str(a) for a in args]
        full_env = dict(os.environ)
        full_env.pop("JOURNAL_STREAM", None)
        full_env.pop("NOTIFY_SOCKET", None)
        full_env.pop("REPORTD_CONFIG", None)
        if env:
            full_env.update(env)
        if isinstance(input, str):
            input = input.encode()
        p = subprocess.run(argv, input=input, capture_output=True, env=full_env, timeout=timeout)
        p.out = p.stdout.decode(errors="replace")
        p.err = p.stderr.decode(errors="replace")
        return p

    def start(self, *args, env=None):
        argv = [str(REPORTD), "-c", str(self.config)] + [str(a) for a in args]
        full_env = dict(os.environ)
        full_env.pop("JOURNAL_STREAM", None)
        full_env.pop("NOTIFY_SOCKET", None)
        if env:
            full_env.update(env)
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
        self.started.append(p)
        return p

    def enqueue(self, email_addr, role="backend-developer", level="mid", *extra):
        p = self.run("enqueue", "--email", email_addr, "--role", role, "--level", level, *extra)
        assert p.returncode == 0, p.err
        return int(p.out.strip())

    def sql(self, query, params=()):
        """Runs query (with ? placeholders) on the queue, as a producer or an operator would."""
        if self.backend == "pg":
            return pg_sql(self.pg.dsn(self.pg_db), query, params)
        con = sqlite3.connect(self.db, timeout=10)
        try:
            cur = con.execute(query, params)
            rows = cur.fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def states(self):
        return dict(self.sql("SELECT id, state FROM signups"))

    def exists(self):
        """Whether the queue has been created (the daemon or a writing command creates it)."""
        if self.backend == "pg":
            return self.sql("SELECT to_regclass('signups') IS NOT NULL")[0][0]
        return self.db.exists()

    def count(self, where="1=1"):
        if not self.exists():
            return 0
        return self.sql(f"SELECT count(*) FROM signups WHERE {where}")[0][0]


def pg_sql(dsn, query, params=()):
    """query on PostgreSQL through psycopg2, ? placeholders turned into %s; lists come back as
    the JSON text SQLite would give."""
    import psycopg2
    import psycopg2.extras
    con = psycopg2.connect(dsn)
    psycopg2.extras.register_default_jsonb(conn_or_curs=con, loads=lambda s: s)
    try:
        with con, con.cursor() as cur:
            cur.execute(query.replace("%", "%%").replace("?", "%s"), tuple(params))
            rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
        return rows
    finally:
        con.close()


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: the test is about the SQLite file itself")


def pytest_generate_tests(metafunc):
    """One run per backend for every test that takes env (or backend)."""
    if "backend" not in metafunc.fixturenames:
        return
    backends = BACKENDS
    if metafunc.definition.get_closest_marker("sqlite_only"):
        backends = [b for b in backends if b == "sqlite"]
    metafunc.parametrize("backend", backends)


@pytest.fixture
def env(tmp_path, backend, request):
    pg = request.getfixturevalue("pg_server") if backend == "pg" else None
    e = Env(tmp_path, backend, pg)
    yield e
    e.close()


class CaptureServer:
    """tests/smtpd.py: aiosmtpd storing into a Maildir."""

    def __init__(self, tmp: Path, *args):
        self.port = free_port()
        self.maildir = tmp / f"Maildir-{self.port}"
        self.log = tmp / f"smtpd-{self.port}.log"
        self.args = args
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(SMTPD), "--port", str(self.port), "--maildir",
             str(self.maildir), *self.args],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        wait_for_port(self.port, self.proc)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def raw_messages(self):
        new = self.maildir / "new"
        if not new.exists():
            return []
        return [p.read_bytes() for p in sorted(new.iterdir())]

    def messages(self):
        return [email.message_from_bytes(b, policy=email.policy.strict)
                for b in self.raw_messages()]


@pytest.fixture
def capture(tmp_path):
    servers = []

    def make(*args):
        s = CaptureServer(tmp_path, *args)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


class Sink:
    """postfix's smtp-sink, answering chosen commands with errors."""

    def __init__(self, tmp: Path, *flags):
        self.port = free_port()
        # smtp-sink drops to "nobody" as root, which cannot enter pytest's
        # private tmp_path: its dumps go to a world-writable directory of their own.
        self.dump = Path(tempfile.mkdtemp(prefix="reportd-sink-"))
        os.chmod(self.dump, 0o777)
        argv = [SMTP_SINK, "-c", "-d", str(self.dump) + "/%M."]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        argv += [*flags, f"127.0.0.1:{self.port}", "16"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port, self.proc)

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def dumps(self):
        return sorted(self.dump.iterdir())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dump, ignore_errors=True)


@pytest.fixture
def sink(tmp_path):
    sinks = []

    def make(*flags):
        s = Sink(tmp_path, *flags)
        sinks.append(s)
        return s

    yield make
    for s in sinks:
        s.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A throwaway CA and a certificate for 127.0.0.1/localhost, made with openssl."""
    d = tmp_path_factory.mktemp("tls")

    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=reportd test CA",
        "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
        "-out", "server.csr")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "ext.cnf")
    return d


def wait_until(predicate, timeout=20.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server for the whole session (tests/integration/pg.py), stopped at
    the end whatever happened; each test that needs a queue gets a database of its own."""
    from pg import PgServer
    server = PgServer()
    try:
        yield server
    finally:
        server.stop()


def readable_data(dest: Path):
    """Copies of the shipped roles and templates in dest, for a reportd run
    as an unprivileged user: the checkout itself may sit in a directory only
    root can enter (a CI clone in mktemp -d's private directory)."""
    roles, templates = dest / "roles", dest / "templates"
    shutil.copytree(REPO / "config" / "roles", roles)
    shutil.copytree(REPO / "templates", templates)
    for d in (roles, templates):
        for root, dirs, files in os.walk(d):
            os.chmod(root, 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
    return roles, templates
