"""The delivery engine: every SMTP connection independent of the others and
of the daemon's own loop.

The relay here is a small asyncio SMTP server run in a thread of the test,
which can hold back its reply to the end of DATA on chosen connections. A
message counts as delivered only once the server has answered 250 to it.
"""
import asyncio
import os
import signal
import socket
import sqlite3
import threading
import time

from conftest import free_port, wait_until


class StallingRelay:
    """SMTP on loopback; the first `stall_conns` connections hold their first
    end-of-DATA reply for `stall_s` seconds (then answer 250), and every
    other end-of-DATA reply comes `reply_s` seconds late."""

    def __init__(self, stall_conns=0, stall_s=0.0, reply_s=0.0):
        self.port = free_port()
        self.stall_conns = stall_conns
        self.stall_s = stall_s
        self.reply_s = reply_s
        self.accepted = []  # (time, rcpt) per 250 to a message
        self.connections = 0
        self.holding = 0  # end-of-DATA replies being held right now
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._session, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()
        server.close()

    async def _session(self, reader, writer):
        with self.lock:
            self.connections += 1
            stalls = self.connections <= self.stall_conns
        writer.write(b"220 relay ESMTP\r\n")
        rcpt = None
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250-relay\r\n250 8BITMIME\r\n")
                elif verb == b"RCPT":
                    rcpt = line.decode().split(":", 1)[1].strip().strip("<>")
                    writer.write(b"250 ok\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    while (await reader.readline()) not in (b".\r\n", b""):
                        pass
                    if stalls:
                        stalls = False
                        with self.lock:
                            self.holding += 1
                        try:
                            await asyncio.sleep(self.stall_s)
                        finally:
                            with self.lock:
                                self.holding -= 1
                    elif self.reply_s:
                        await asyncio.sleep(self.reply_s)
                    with self.lock:
                        self.accepted.append((time.monotonic(), rcpt))
                    writer.write(b"250 2.0.0 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def rcpts(self):
        with self.lock:
            return [r for _, r in self.accepted]

    def stop(self):
        def cancel_all():
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_later(0.1, self.loop.stop)

        self.loop.call_soon_threadsafe(cancel_all)
        self.thread.join(10)


def queue_many(env, n, prefix):
    lines = "".join(f"- {{email: {prefix}{i}@example.com, role: backend-developer, level: mid}}\n"
                    for i in range(n))
    path = env.tmp / "many.yaml"
    path.write_text(lines)
    p = env.run("enqueue", "--file", str(path))
    assert p.returncode == 0, p.err
    return [f"{prefix}{i}@example.com" for i in range(n)]


def test_a_stalled_connection_holds_up_only_its_own_message(env):
    relay = StallingRelay(stall_conns=1, stall_s=6)
    try:
        env.write_config(smtp_url=relay.url, extra_smtp="  connections: 4\n")
        addrs = queue_many(env, 40, "stall")
        d = env.start("run")
        start = time.monotonic()
        try:
            # While one connection waits for its reply, the other three carry on.
            assert wait_until(lambda: len(relay.rcpts()) >= 39, timeout=30)
            during = [t for t, _ in relay.accepted if t - start < 5]
            assert len(during) >= 30, f"only {len(during)} accepted during the stall"
            assert wait_until(lambda: len(relay.rcpts()) >= 40, timeout=30)
        finally:
            d.send_signal(signal.SIGTERM)
            assert d.wait(30) == 0
        # Every address exactly once, the stalled one included.
        assert sorted(relay.rcpts()) == sorted(addrs)
        assert env.count("state = 'sent'") == 40
    finally:
        relay.stop()


def assert_first_outcomes_recorded_within(env, relay, count, limit_s):
    """Each of the relay's first `count` accepted messages is recorded as sent
    in the queue less than `limit_s` after its 250."""
    for n in range(1, count + 1):
        assert wait_until(lambda: len(relay.rcpts()) >= n, timeout=5)
        at, rcpt = relay.accepted[n - 1]
        assert wait_until(
            lambda: env.count(f"state = 'sent' AND email = '{rcpt}'") == 1, timeout=2)
        took = time.monotonic() - at
        assert took < limit_s, f"{rcpt}: recorded {took:.2f} s after its 250"


def test_outcomes_are_recorded_promptly_while_other_connections_stall(env):
    """Outcomes are recorded in batches of half the connections; a batch that
    does not fill, because the other connections are stalled and the one
    left is slow, is recorded anyway within SMTP_BATCH_WAIT_MS (20 ms), not
    when the next message or the stall ends."""
    relay = StallingRelay(stall_conns=3, stall_s=10, reply_s=1.0)
    try:
        env.write_config(smtp_url=relay.url, extra_smtp="  connections: 4\n")
        queue_many(env, 12, "batch")
        d = env.start("run")
        try:
            # The one free connection: a message a second, while three wait for their replies.
            assert_first_outcomes_recorded_within(env, relay, 3, 0.5)
            assert len(relay.rcpts()) < 6, "the stalled connections were not stalled"
        finally:
            d.send_signal(signal.SIGTERM)
            assert d.wait(30) == 0
    finally:
        relay.stop()


def test_a_slow_relays_outcomes_are_collected_without_waiting_for_the_next_message(env):
    """A slow transfer's result wakes nobody while its connection goes on to
    the next message: the daemon's own look, every SMTP_BATCH_WAIT_MS (20 ms),
    must record it while that next message is still on the wire (each takes
    relay_s), and the drain must still end after the last one."""
    relay_s = 0.4
    relay = StallingRelay(reply_s=relay_s)
    try:
        env.write_config(smtp_url=relay.url, extra_smtp="  connections: 1\n")
        queue_many(env, 4, "slow")
        t0 = time.monotonic()
        d = env.start("run", "--drain")
        try:
            assert_first_outcomes_recorded_within(env, relay, 3, relay_s / 2)
            assert d.wait(10) == 0
        finally:
            if d.poll() is None:
                d.kill()
        assert len(relay.rcpts()) == 4 and env.count("state = 'sent'") == 4
        # Each message really was slow: four of them took at least 4 x relay_s.
        assert relay.accepted[-1][0] - t0 >= 4 * relay_s
    finally:
        relay.stop()


def test_watchdog_and_sigterm_are_served_during_a_stall(env):
    relay = StallingRelay(stall_conns=1, stall_s=60)
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(env.tmp / "notify.sock")
    ns.bind(path)
    ns.settimeout(0.5)
    try:
        env.write_config(smtp_url=relay.url)  # smtp.timeout: 10s
        env.enqueue("stalled@example.com")
        d = env.start("run", env={**os.environ, "NOTIFY_SOCKET": path,
                                  "WATCHDOG_USEC": "400000"})
        got = []
        # The relay holds its reply: the daemon's own thread keeps pinging.
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            try:
                got += ns.recv(4096).decode().split("\n")
            except socket.timeout:
                pass
        assert relay.connections == 1 and relay.rcpts() == []
        pings = got.count("WATCHDOG=1")
        assert pings >= 5, f"{pings} keep-alives in 2.5 s during the stall"
        # SIGTERM is honoured at once, and the stop ends within smtp.timeout.
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        assert d.wait(15) == 0
        took = time.monotonic() - t0
        assert took < 10 + 4, f"stop took {took:.1f}s"
        try:
            while True:
                got += ns.recv(4096).decode().split("\n")
        except socket.timeout:
            pass
        assert "STOPPING=1" in got
        # The stalled message's outcome is unknown; nothing was accepted, nothing lost.
        state, reason = env.sql("SELECT state, reason FROM signups")[0]
        assert state == "deferred", (state, reason)
        assert "after DATA" in reason and "354" not in reason
    finally:
        ns.close()
        relay.stop()


def test_a_stop_takes_back_unsent_the_message_waiting_for_a_connection(env):
    """One connection, its reply held: the next message waits in the transport,
    already marked. SIGTERM takes it back unsent: queued again, no attempt
    counted, no mark left, so a later start sends it as a first attempt."""
    relay = StallingRelay(stall_conns=1, stall_s=60)
    try:
        # One connection whatever REPORTD_TEST_CONNECTIONS says; smtp.timeout: 10s.
        env.write_config(smtp_url=relay.url, extra_smtp="  connections: 1\n")
        addrs = queue_many(env, 3, "wait")
        d = env.start("run")
        # The first is on the connection, its reply held; the second is
        # claimed, marked and waiting. (A mark comes when the transport takes
        # a message, which may be before its connection is even open.)
        assert wait_until(lambda: relay.holding == 1, timeout=20)
        assert wait_until(lambda: env.count("attempt_started_at IS NOT NULL") == 2, timeout=20)
        assert relay.connections == 1 and relay.rcpts() == []
        d.send_signal(signal.SIGTERM)
        _, err = d.communicate(timeout=30)
        assert d.returncode == 0
        rows = dict(env.sql("SELECT email, state FROM signups"))
        marked = env.sql("SELECT email FROM signups WHERE attempt_started_at IS NOT NULL")
        # Only the stalled one went out: its outcome is unknown. The waiting one
        # and the one never handed over are queued, untried.
        assert marked == []
        assert sorted(rows.values()) == ["deferred", "queued", "queued"], rows
        queued = [a for a, st in rows.items() if st == "queued"]
        assert env.sql("SELECT max(attempts) FROM signups WHERE state = 'queued'")[0][0] == 0
        assert relay.rcpts() == [] and len(queued) == 2 and set(queued) < set(addrs)
        assert err.decode().count('detail="handed back at shutdown"') == 2, err.decode()
    finally:
        relay.stop()


def test_a_producers_insert_wakes_an_idle_daemon(env):
    relay = StallingRelay()
    try:
        env.write_config(smtp_url=relay.url)
        # A minute between polls: only the wake-up can deliver within the test's seconds.
        env.config.write_text(env.config.read_text().replace("poll_interval: 200ms",
                                                             "poll_interval: 1m"))
        assert env.run("run", "--drain").returncode == 0  # the schema, nothing to send
        d = env.start("run")
        try:
            time.sleep(1.5)  # idle: its first look at the queue is over
            took = []
            for i in range(5):
                # The producer contract's INSERT, committed.
                env.sql("INSERT INTO signups (email, role, level) VALUES (?, ?, ?)",
                        (f"woken{i}@example.com", "backend-developer", "mid"))
                t0 = time.monotonic()
                assert wait_until(lambda: len(relay.rcpts()) == i + 1, timeout=10)
                took.append(time.monotonic() - t0)
                time.sleep(0.3)
            assert max(took) < 5, took
        finally:
            d.send_signal(signal.SIGTERM)
            assert d.wait(20) == 0
        assert sorted(relay.rcpts()) == [f"woken{i}@example.com" for i in range(5)]
    finally:
        relay.stop()
