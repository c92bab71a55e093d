#!/usr/bin/env bash
# A throwaway S3-protocol server for tests: moto's standalone server (PyPI,
# in a cached virtualenv), a separate process speaking S3 over HTTP on
# 127.0.0.1 only.
#
#   scripts/s3-temp.sh start DIR BUCKET   start on a free port, create BUCKET,
#                                         print the endpoint URL
#   scripts/s3-temp.sh stop DIR           stop it and remove DIR
#   scripts/s3-temp.sh prepare            install the server (once, before
#                                         tests start servers in parallel)
#
# The virtualenv is ${WARDEN_MOTO_VENV:-~/.cache/warden/venv-moto}.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:?usage: s3-temp.sh start DIR BUCKET | stop DIR | prepare}"
venv="${WARDEN_MOTO_VENV:-$HOME/.cache/warden/venv-moto}"
pins="moto[server]==5.2.6"
if [ "$cmd" = prepare ]; then
    "$here/pinned-venv.sh" "$venv" "$pins" >&2
    exit 0
fi
dir="${2:?usage: s3-temp.sh start DIR BUCKET | stop DIR | prepare}"

case "$cmd" in
start)
    bucket="${3:?usage: s3-temp.sh start DIR BUCKET}"
    if [ -e "$dir" ]; then
        echo "s3-temp: $dir exists" >&2
        exit 2
    fi
    "$here/pinned-venv.sh" "$venv" "$pins" >&2
    mkdir -p "$dir"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > "$dir/server.log" 2>&1 < /dev/null &
    echo $! > "$dir/pid"
    echo "$port" > "$dir/port"
    for _ in $(seq 1 150); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
        sleep 0.1
    done
    code="$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$port/$bucket")"
    if [ "$code" != 200 ]; then
        echo "s3-temp: creating bucket $bucket answered $code" >&2
        cat "$dir/server.log" >&2
        exit 1
    fi
    echo "http://127.0.0.1:$port"
    ;;
stop)
    if [ -f "$dir/pid" ]; then
        kill "$(cat "$dir/pid")" 2>/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: s3-temp.sh start DIR BUCKET | stop DIR" >&2
    exit 2
    ;;
esac
