#!/bin/sh
# Installs the Debian packages a make target needs, and only the missing ones.
# Usage: scripts/deps.sh build|test|run|lint|fuzz|deb
# As root it runs apt-get; otherwise it prints the exact apt-get line and fails,
# so that a build never half-works on a machine without its libraries.
# A package build installs nothing: with REPORTD_NO_DEPS=1, or under
# dpkg-buildpackage (which sets DEB_BUILD_ARCH), the build dependencies are
# the package's Build-Depends and this script does nothing.
set -eu

if [ "${REPORTD_NO_DEPS:-0}" = 1 ] || [ -n "${DEB_BUILD_ARCH:-}" ]; then
    exit 0
fi

build_pkgs="gcc make pkg-config libcurl4-openssl-dev libsqlite3-dev libyaml-dev libidn2-dev libpq-dev ca-certificates"
run_pkgs="python3 python3-aiosmtpd sqlite3"
test_pkgs="libcmocka-dev python3 python3-pytest python3-aiosmtpd python3-yaml postfix openssl sqlite3
valgrind faketime libfaketime chromium spamassassin nodejs time
php-cli php-sqlite3 python3-prometheus-client g++ postgresql python3-psycopg2"
lint_pkgs="cppcheck clang-tidy clang-format"
# php-cli, php-sqlite3: the PHP producer of the producer tests; g++: npm builds
# better-sqlite3 (the Node producer's driver) from source against Debian's
# node headers; python3-prometheus-client: its parser checks the metrics.
# postgresql only for its initdb and pg_ctl: the tests start their own server
# in a temporary directory (tests/integration/pg.py); python3-psycopg2 is the
# PostgreSQL producer of the tests.
# The Debian package (`make deb`, and its test in `make check`), the man
# pages' lint (mandoc).
deb_pkgs="debhelper dpkg-dev fakeroot lintian mandoc man-db"
# clang and its sanitizer runtimes (libFuzzer, ASan, UBSan): `make fuzz` and
# the sanitizer build `make check` runs.
fuzz_pkgs="clang libclang-rt-14-dev"

case "${1:-build}" in
build) want="$build_pkgs" ;;
run) want="$build_pkgs $run_pkgs" ;;
test)
    want="$build_pkgs $test_pkgs $fuzz_pkgs $deb_pkgs"
    # npm comes with some nodejs builds and is a package of its own in Debian's.
    command -v npm >/dev/null 2>&1 || want="$want npm"
    ;;
lint) want="$build_pkgs $lint_pkgs" ;;
fuzz) want="$build_pkgs $fuzz_pkgs" ;;
deb) want="$build_pkgs $deb_pkgs" ;;
*)
    echo "usage: $0 build|test|run|lint|fuzz|deb" >&2
    exit 64
    ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "reportd: missing Debian packages. Install them with:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "reportd: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Postfix is wanted only for its smtp-sink test server; answer its questions
# so the install never stops to ask, and keep it from listening on port 25.
if echo "$missing" | grep -q postfix; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
# The package lists may be missing or stale on a fresh machine.
if ! apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends $missing
fi
