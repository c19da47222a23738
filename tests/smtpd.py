#!/usr/bin/python3
"""A capture SMTP server on loopback, built on Debian's python3-aiosmtpd.

Used by `make run` (the demo) and by the integration tests. It is a real SMTP
server: messages arrive over TCP from libcurl and are stored in a Maildir
(one file per message, exactly the bytes received). Options add STARTTLS,
implicit TLS and AUTH, and make it answer chosen DATA commands with an error.

    tests/smtpd.py --port 2525 --maildir var/Maildir [--tls CERT KEY]
                   [--implicit-tls] [--auth USER:PASSWORD | --no-auth]
                   [--reply-data CODE TEXT --times N]
"""
import argparse
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Capture:
    def __init__(self, maildir, reply, times, log):
        self.maildir = maildir
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        self.seq = 0
        self.reply = reply
        self.times = times
        self.lock = threading.Lock()
        self.log = log

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.reply and self.times != 0:
                self.times -= 1
                self._log(f"data refused for {envelope.rcpt_tos}: {self.reply}")
                return self.reply
            self.seq += 1
            key = f"{time.time_ns()}.{os.getpid()}_{self.seq}.reportd-test"
        # Keep the bytes exactly as they came over the wire (the mailbox
        # module would turn CRLF into LF); write to tmp/, then move into new/.
        tmp = os.path.join(self.maildir, "tmp", key)
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.maildir, "new", key))
        self._log(f"stored {key} from={envelope.mail_from} to={','.join(envelope.rcpt_tos)}")
        return f"250 2.0.0 Ok: queued as {self.seq:08X}"

    def _log(self, line):
        if self.log:
            print(line, file=sys.stderr, flush=True)


class NoAuthCapture(Capture):
    """A relay that never offers AUTH, not even after STARTTLS (aiosmtpd always would)."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [r for r in responses if not r[4:].upper().startswith("AUTH")]


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login == self.user and auth_data.password == self.password
        # handled=False: aiosmtpd itself answers 535 to a failure.
        return AuthResult(success=ok, handled=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--implicit-tls", action="store_true")
    ap.add_argument("--auth", metavar="USER:PASSWORD")
    ap.add_argument("--no-auth", action="store_true", help="never offer AUTH in the EHLO reply")
    ap.add_argument("--reply-data", nargs=2, metavar=("CODE", "TEXT"))
    ap.add_argument("--times", type=int, default=-1,
                    help="how many DATA commands get --reply-data (-1: all)")
    ap.add_argument("--ready-file", help="written once the server listens")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    reply = " ".join(args.reply_data) if args.reply_data else None
    handler = (NoAuthCapture if args.no_auth else Capture)(args.maildir, reply, args.times,
                                                           not args.quiet)
    kwargs = {}
    context = None
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls[0], args.tls[1])
    if args.implicit_tls:
        kwargs["ssl_context"] = context
    elif context:
        kwargs["tls_context"] = context
        kwargs["require_starttls"] = True
    if args.auth:
        user, _, password = args.auth.partition(":")
        kwargs["authenticator"] = Authenticator(user, password)
        kwargs["auth_required"] = True
        # AUTH over cleartext only when the test asks for no TLS at all.
        kwargs["auth_require_tls"] = bool(context)
    controller = Controller(handler, hostname=args.host, port=args.port, **kwargs)
    controller.start()
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
