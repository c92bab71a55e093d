#!/usr/bin/env bash
# Prints the directory of PostgreSQL's server programs (initdb, pg_ctl),
# installing Debian's postgresql package first when it is missing.
set -euo pipefail
find_bin() {
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
        fi
    done | sort -V | tail -n 1
}
bin="$(find_bin)"
if [ -z "$bin" ]; then
    echo "ensure-postgres: installing Debian's postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq >&2 || true
    $sudo apt-get install -y -qq postgresql >&2
    bin="$(find_bin)"
fi
if [ -z "$bin" ]; then
    echo "ensure-postgres: no PostgreSQL server programs under /usr/lib/postgresql" >&2
    exit 1
fi
echo "$bin"
