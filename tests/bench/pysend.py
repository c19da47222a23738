#!/usr/bin/env python3
"""The reference sender for `make bench`: what a short Python script does.

N threads, each with one reused smtplib connection, send COUNT messages
between them, cycling through the given .eml files (rendered by
`reportd preview --eml`). Prints the seconds from the first connect to the
last 250 received.

    pysend.py PORT CONNECTIONS COUNT FILE.eml...
"""
import smtplib
import sys
import threading
import time
from email.parser import BytesHeaderParser
from email.utils import parseaddr


def main():
    port, conns, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    msgs = []
    for path in sys.argv[4:]:
        with open(path, "rb") as f:
            data = f.read()
        hdr = BytesHeaderParser().parsebytes(data)
        msgs.append((parseaddr(hdr["From"])[1], parseaddr(hdr["To"])[1], data))
    lock = threading.Lock()
    left = [count]
    errors = []

    def worker():
        s = smtplib.SMTP("127.0.0.1", port)
        try:
            while True:
                with lock:
                    if left[0] == 0:
                        break
                    left[0] -= 1
                    i = left[0]
                frm, to, data = msgs[i % len(msgs)]
                s.sendmail(frm, [to], data)
            s.quit()
        except Exception as e:  # reported, and the run fails
            errors.append(repr(e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    if errors:
        print("pysend: " + errors[0], file=sys.stderr)
        sys.exit(1)
    print(f"{elapsed:.6f}")


if __name__ == "__main__":
    main()
