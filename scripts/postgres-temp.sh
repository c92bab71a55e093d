#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, on 127.0.0.1 only.
#
#   scripts/postgres-temp.sh start DIR   initdb in DIR (which must not exist),
#                                        start on a free port, print the URL
#                                        (with PG_TLS_CERT and PG_TLS_KEY set:
#                                        TLS on, with that certificate)
#   scripts/postgres-temp.sh stop DIR    stop it and remove DIR
#
# The server runs as an unprivileged user (`postgres` when run as root, as
# initdb refuses root), with a random password (scram-sha-256), its socket
# inside DIR, and no other listener. Installs Debian's postgresql when it is
# missing (scripts/ensure-postgres.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:?usage: postgres-temp.sh start|stop DIR}"
dir="${2:?usage: postgres-temp.sh start|stop DIR}"

bin="$("$here/ensure-postgres.sh")"
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$cmd" in
start)
    if [ -e "$dir" ]; then
        echo "postgres-temp: $dir exists" >&2
        exit 2
    fi
    mkdir -p "$dir"
    head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/pw"
    if [ "$(id -u)" = 0 ]; then chown -R postgres "$dir"; fi
    chmod 700 "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U warden --auth=scram-sha-256 \
        --pwfile="$dir/pw" -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    tls=""
    if [ -n "${PG_TLS_CERT:-}" ]; then
        cp "$PG_TLS_CERT" "$dir/server.crt"
        cp "$PG_TLS_KEY" "$dir/server.key"
        chmod 600 "$dir/server.key"
        if [ "$(id -u)" = 0 ]; then chown postgres "$dir/server.crt" "$dir/server.key"; fi
        tls="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
        # TCP clients must then use TLS: a plain connection is refused.
        sed -i 's/^host /hostssl /' "$dir/data/pg_hba.conf"
    fi
    # A free port: bind to port 0 and read back what the kernel chose.
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200 $tls" \
        start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    echo "$port" > "$dir/port"
    echo "$tls" > "$dir/tls"
    echo "postgres://warden:$(cat "$dir/pw")@127.0.0.1:$port/postgres?sslmode=disable"
    ;;
stop)
    if [ -d "$dir/data" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: postgres-temp.sh start|stop DIR" >&2
    exit 2
    ;;
esac
