#!/usr/bin/python3
"""An SMTP relay on loopback that misbehaves on purpose, for the crash and fault tests.

It speaks enough real SMTP for libcurl (EHLO/HELO, MAIL, RCPT, DATA, RSET,
NOOP, QUIT) over TCP, and records every message it accepts: the recipients
and the Message-ID, at the moment it decides to answer 250 -- like a relay
that has committed the message to its queue before it replies, so a client
that dies while the 250 is on its way has still delivered it. Faults:

  latency       every end-of-DATA reply waits a random time in [lo, hi]
  stall         the Nth end-of-DATA (1-based, over all connections) gets no
                reply for S seconds, or forever; after a finite stall the
                message is accepted (the relay committed it late) only if
                stall_accept is set, else the connection is closed
  drop          the Nth end-of-DATA is answered by closing the connection
  throttle      the first N MAIL commands get a 4xx reply (421 closes the
                connection, as RFC 5321 says it does)
  listening     False: nothing listens on the port (connections refused)

Used in-process (FaultServer, an asyncio loop in a thread) by
tests/integration/test_faults.py and tests/crash/crash_test.py, or standalone:

    tests/faultsmtp.py --port 2525 [--latency-ms 2 15] [--stall N SECONDS|forever]
                       [--drop N] [--throttle N] [--log accepted.jsonl]
"""
import argparse
import asyncio
import json
import random
import re
import signal
import socket
import threading
import time

# A message bigger than this is refused: the reports are about 25 KiB; a
# runaway client must not eat the test machine's memory.
MAX_MESSAGE = 4 * 1024 * 1024
# How long a line (command or data) may be; RFC 5321 allows 1000 with CRLF.
MAX_LINE = 4096

THROTTLE_REPLY = "421 4.7.0 Too many messages, slow down"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def header_value(data: bytes, name: str):
    """The first header `name` of a message (unfolded), or None."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    head = re.sub(r"\r\n[ \t]+", " ", head)
    for line in head.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    return None


class FaultServer:
    """The relay. Attributes may be changed while it runs (they are read per command)."""

    def __init__(self, port=None, latency=(0.0, 0.0), stall_on=None, stall_seconds=None,
                 stall_accept=False, drop_on=None, throttle=0, throttle_reply=THROTTLE_REPLY,
                 listening=True, seed=None):
        self.port = port or free_port()
        self.latency = latency
        self.stall_on = stall_on
        self.stall_seconds = stall_seconds  # None: forever
        self.stall_accept = stall_accept
        self.drop_on = drop_on
        self.throttle = throttle
        self.throttle_reply = throttle_reply
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.accepted = []      # {"rcpt": [...], "message_id": ..., "at": monotonic}
        self.data_ends = 0      # end-of-DATA seen, over all connections
        self.connections = 0    # accepted TCP connections
        self.faulted = []       # (kind, recipients) of each stalled or dropped message
        self.stalled = threading.Event()  # set when a stall begins
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server = None
        self._stop = None
        self._tasks = set()
        self._thread.start()
        self._call(self._init())
        if listening:
            self.listen()

    # --- control, from any thread -------------------------------------------------

    def _call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _init(self):
        self._stop = asyncio.Event()

    def listen(self):
        """Starts listening (again) on the same port."""
        self._call(self._listen())

    def refuse(self):
        """Stops listening: new connections are refused; open ones go on."""
        self._call(self._unlisten())

    def stop(self):
        if not self._loop.is_running():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def count(self):
        with self.lock:
            return len(self.accepted)

    def messages(self):
        with self.lock:
            return list(self.accepted)

    def by_recipient(self):
        """recipient -> list of Message-IDs, in the order accepted."""
        out = {}
        for m in self.messages():
            for r in m["rcpt"]:
                out.setdefault(r, []).append(m["message_id"])
        return out

    # --- the server ---------------------------------------------------------------

    async def _listen(self):
        if self._server is None:
            self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port,
                                                      reuse_address=True, limit=MAX_LINE * 4)

    async def _unlisten(self):
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _shutdown(self):
        self._stop.set()
        await self._unlisten()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        with self.lock:
            self.connections += 1
        try:
            await self._session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            try:
                writer.close()
            except (ConnectionError, RuntimeError):
                pass

    async def _reply(self, writer, line):
        writer.write(line.encode() + b"\r\n")
        await writer.drain()

    async def _session(self, reader, writer):
        await self._reply(writer, "220 faultsmtp.test ESMTP ready")
        mail_from, rcpts = None, []
        while True:
            raw = await reader.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                mail_from, rcpts = None, []
                if verb == "EHLO":
                    await self._reply(writer, "250-faultsmtp.test\r\n250-8BITMIME\r\n"
                                              "250 SIZE %d" % MAX_MESSAGE)
                else:
                    await self._reply(writer, "250 faultsmtp.test")
            elif verb == "MAIL":
                with self.lock:
                    throttled = self.throttle > 0
                    if throttled:
                        self.throttle -= 1
                if throttled:
                    await self._reply(writer, self.throttle_reply)
                    if self.throttle_reply.startswith("421"):
                        return
                    continue
                m = re.match(r"MAIL FROM:\s*<([^>]*)>", line, re.I)
                if not m:
                    await self._reply(writer, "501 5.5.4 Syntax: MAIL FROM:<address>")
                    continue
                mail_from, rcpts = m.group(1), []
                await self._reply(writer, "250 2.1.0 Ok")
            elif verb == "RCPT":
                m = re.match(r"RCPT TO:\s*<([^>]*)>", line, re.I)
                if mail_from is None or not m:
                    await self._reply(writer, "503 5.5.1 Error: need MAIL first")
                    continue
                rcpts.append(m.group(1))
                await self._reply(writer, "250 2.1.5 Ok")
            elif verb == "DATA":
                if not rcpts:
                    await self._reply(writer, "503 5.5.1 Error: need RCPT first")
                    continue
                await self._reply(writer, "354 End data with <CR><LF>.<CR><LF>")
                data = await self._read_data(reader)
                if data is None:
                    return
                if not await self._end_of_data(writer, rcpts, data):
                    return
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                await self._reply(writer, "250 2.0.0 Ok")
            elif verb == "NOOP":
                await self._reply(writer, "250 2.0.0 Ok")
            elif verb == "QUIT":
                await self._reply(writer, "221 2.0.0 Bye")
                return
            else:
                await self._reply(writer, "502 5.5.2 Error: command not recognized")

    async def _read_data(self, reader):
        lines, size = [], 0
        while True:
            raw = await reader.readline()
            if not raw:
                return None
            if raw == b".\r\n":
                return b"".join(lines)
            if raw.startswith(b"."):
                raw = raw[1:]
            size += len(raw)
            if size <= MAX_MESSAGE:
                lines.append(raw)

    async def _end_of_data(self, writer, rcpts, data):
        """Answers one end-of-DATA. False: the connection is over."""
        with self.lock:
            self.data_ends += 1
            n = self.data_ends
            lo, hi = self.latency
            delay = self.rng.uniform(lo, hi) if hi > 0 else 0.0
        if self.drop_on is not None and n == self.drop_on:
            with self.lock:
                self.faulted.append(("drop", list(rcpts)))
            return False
        if self.stall_on is not None and n == self.stall_on:
            with self.lock:
                self.faulted.append(("stall", list(rcpts)))
            self.stalled.set()
            try:
                await asyncio.wait_for(self._stop.wait(), self.stall_seconds)
                return False  # shutting down
            except asyncio.TimeoutError:
                pass
            if not self.stall_accept:
                return False
        if delay:
            await asyncio.sleep(delay)
        # Committed before the reply goes out, as a real relay does.
        with self.lock:
            self.accepted.append({"rcpt": list(rcpts), "message_id": header_value(data, "Message-ID"),
                                  "at": time.monotonic()})
            seq = len(self.accepted)
        await self._reply(writer, f"250 2.0.0 Ok: queued as F{seq:07X}")
        return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--latency-ms", type=float, nargs=2, default=(0, 0), metavar=("LO", "HI"))
    ap.add_argument("--stall", nargs=2, metavar=("N", "SECONDS"))
    ap.add_argument("--stall-accept", action="store_true")
    ap.add_argument("--drop", type=int, metavar="N")
    ap.add_argument("--throttle", type=int, default=0, metavar="N")
    ap.add_argument("--log", help="append one JSON line per accepted message here at exit")
    args = ap.parse_args()
    stall_on = int(args.stall[0]) if args.stall else None
    stall_s = None if not args.stall or args.stall[1] == "forever" else float(args.stall[1])
    srv = FaultServer(port=args.port, latency=(args.latency_ms[0] / 1000, args.latency_ms[1] / 1000),
                      stall_on=stall_on, stall_seconds=stall_s, stall_accept=args.stall_accept,
                      drop_on=args.drop, throttle=args.throttle)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    srv.stop()
    if args.log:
        with open(args.log, "a") as f:
            for m in srv.messages():
                f.write(json.dumps({"rcpt": m["rcpt"], "message_id": m["message_id"]}) + "\n")


if __name__ == "__main__":
    main()
