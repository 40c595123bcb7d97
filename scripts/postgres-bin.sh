#!/usr/bin/env bash
# Make sure Debian's PostgreSQL 15 server binaries and the `postgres` OS user exist (the test
# harness runs initdb/pg_ctl as that user when it runs as root). Idempotent: does nothing when
# /usr/lib/postgresql/15/bin/postgres is already there and the user exists.
set -euo pipefail

PG_BIN="/usr/lib/postgresql/15/bin"

if [[ ! -x "${PG_BIN}/postgres" ]]; then
    bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" postgresql-15
fi

if ! id -u postgres >/dev/null 2>&1; then
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "postgres-bin: the postgres OS user is missing; create it as root" >&2
        exit 1
    fi
    echo "postgres-bin: creating the postgres OS user" >&2
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

test -x "${PG_BIN}/initdb" && test -x "${PG_BIN}/pg_ctl" || {
    echo "postgres-bin: ${PG_BIN}/initdb or pg_ctl missing" >&2; exit 1; }
