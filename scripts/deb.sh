#!/bin/sh
# Builds the Debian package from a copy of the source tree and checks it
# with lintian.  Usage: scripts/deb.sh OUTDIR
#   The copy (OUTDIR/reportd-VERSION/) is what dpkg-buildpackage builds in, so
#   its clean step never touches this tree's build/; the .deb, .changes and
#   .buildinfo land in OUTDIR.  Exits non-zero when the build fails or lintian
#   reports an error or a warning.
# From the environment: DEB_BUILD_OPTIONS (e.g. nocheck), LINTIAN=0 to skip lintian.
set -eu

out=${1:?usage: scripts/deb.sh OUTDIR}
sh scripts/deps.sh deb
version=$(dpkg-parsechangelog -S Version)
src=$out/reportd-$version
rm -rf "$out"
mkdir -p "$src"

# The files under version control, and new ones not ignored: never build/,
# var/ or node_modules/.  Outside a git checkout, everything but those.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -co --exclude-standard -z | grep -zv '^tests/html/node_modules/' |
        xargs -0 tar -cf - | tar -xf - -C "$src"
else
    tar -cf - --exclude=./build --exclude=./var --exclude=./tests/html/node_modules . |
        tar -xf - -C "$src"
fi

(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log" >&2
    echo "deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
    exit 1
}
changes=$(ls "$out"/reportd_"$version"_*.changes)
echo "deb: built $(ls "$out"/*.deb)"
if [ "${LINTIAN:-1}" = 1 ]; then
    # Errors and warnings fail the build; info and pedantic tags are shown.
    lintian --fail-on error,warning --info "$changes"
    echo "deb: lintian: no errors or warnings"
fi
