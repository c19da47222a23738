#!/bin/sh
# `make run`: the whole path on this machine alone. Starts a capture SMTP
# server on loopback (Debian's aiosmtpd, storing into ./var/Maildir), queues
# the sample signups in a fresh ./var/queue.db, runs the daemon until the
# queue is drained, and says where the delivered messages are.
set -eu
cd "$(dirname "$0")/.."

config=config/reportd.dev.yaml
port=2525
mkdir -p var
rm -f var/queue.db var/queue.db-wal var/queue.db-shm var/smtpd.ready
rm -rf var/Maildir

/usr/bin/python3 tests/smtpd.py --port "$port" --maildir var/Maildir \
    --ready-file var/smtpd.ready 2>var/smtpd.log &
smtpd=$!
trap 'kill $smtpd 2>/dev/null; wait $smtpd 2>/dev/null || true' EXIT INT TERM
i=0
while [ ! -s var/smtpd.ready ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 $smtpd 2>/dev/null; then
        echo "demo: the capture SMTP server did not start (port $port busy?):" >&2
        cat var/smtpd.log >&2
        exit 1
    fi
    sleep 0.1
done

echo "==> checking the configuration, roles data and templates"
build/reportd -c $config check-config
echo "==> queueing the sample signups (config/demo-signups.yaml)"
build/reportd -c $config enqueue --file config/demo-signups.yaml
echo "==> delivering through smtp://127.0.0.1:$port with libcurl"
build/reportd -c $config run --drain
echo "==> queue status"
build/reportd -c $config status
echo
echo "Delivered messages (one file each, as received over SMTP):"
ls -1 var/Maildir/new | sed 's|^|  var/Maildir/new/|'
echo
echo "Read one:            less var/Maildir/new/\$(ls var/Maildir/new | head -n 1)"
echo "Preview a signup:    build/reportd -c $config preview 1 --text   (or --html, --eml)"
echo "History of a signup: build/reportd -c $config show 1"
