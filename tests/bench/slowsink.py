#!/usr/bin/env python3
"""An SMTP sink for `make bench` that answers every reply after a fixed delay.

It stands in for a relay some milliseconds away (a hosted relay in another
region): each reply, the greeting included, is sent --delay seconds after the
command it answers. Every accepted message is counted, and with --log each
250 at the end of DATA is written as "<unix time> <recipient>" per recipient,
so latency and rate can be measured where the mail arrives.

    slowsink.py --port 0 --delay 0.02 --log FILE
prints the port it listens on as its first stdout line, then runs until
SIGTERM or SIGINT, when it prints "messages=N" and exits.
"""
import argparse
import asyncio
import signal
import sys
import time


class Sink:
    def __init__(self, delay, log):
        self.delay = delay
        self.log = log
        self.messages = 0

    async def reply(self, writer, text):
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        writer.write(text.encode() + b"\r\n")
        await writer.drain()

    async def session(self, reader, writer):
        rcpts = []
        try:
            await self.reply(writer, "220 slowsink ESMTP")
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"EHLO":
                    await self.reply(writer, "250-slowsink\r\n250-8BITMIME\r\n250 SMTPUTF8")
                elif verb == b"HELO":
                    await self.reply(writer, "250 slowsink")
                elif verb == b"MAIL":
                    rcpts = []
                    await self.reply(writer, "250 2.1.0 ok")
                elif verb == b"RCPT":
                    arg = line.decode("utf-8", "replace").strip()
                    rcpts.append(arg[arg.find("<") + 1 : arg.rfind(">")])
                    await self.reply(writer, "250 2.1.5 ok")
                elif verb == b"DATA":
                    await self.reply(writer, "354 go ahead")
                    # A message is one read: the dot-stuffed data up to the
                    # lone dot (only the end is needed, not the content).
                    await reader.readuntil(b"\r\n.\r\n")
                    if self.delay > 0:
                        await asyncio.sleep(self.delay)
                    now = time.time()
                    self.messages += 1
                    if self.log:
                        self.log.write("".join(f"{now:.6f} {r}\n" for r in rcpts))
                    writer.write(b"250 2.0.0 queued\r\n")
                    await writer.drain()
                    rcpts = []
                elif verb == b"RSET":
                    rcpts = []
                    await self.reply(writer, "250 2.0.0 ok")
                elif verb == b"NOOP":
                    await self.reply(writer, "250 2.0.0 ok")
                elif verb == b"QUIT":
                    await self.reply(writer, "221 2.0.0 bye")
                    break
                else:
                    await self.reply(writer, "502 5.5.2 not implemented")
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.020, help="seconds before each reply")
    ap.add_argument("--log", help="append '<time> <rcpt>' per accepted recipient")
    args = ap.parse_args()
    log = open(args.log, "a", buffering=1) if args.log else None
    sink = Sink(args.delay, log)
    # The limit bounds one read; a message is read whole (~40 KB each).
    server = await asyncio.start_server(sink.session, "127.0.0.1", args.port, limit=16 << 20)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    server.close()
    print(f"messages={sink.messages}", flush=True)
    if log:
        log.close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
