#!/usr/bin/env bash
# Install PostgreSQL from Debian's packages, start a throw-away cluster on 127.0.0.1 and print
# its SQLAlchemy URL (the only thing on stdout), for DGBOT_TEST_POSTGRES_URL. Needs root.
#   export DGBOT_TEST_POSTGRES_URL=$(.ci/postgres.sh)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
# A free port unless one is given: a server left from an earlier run must not block this one.
port=${DGBOT_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
data=$(mktemp -d /tmp/dgbot-pg.XXXXXX)
chown postgres: "$data"
run() { runuser -u postgres -- "$@"; }
run "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >&2
run "$bin/pg_ctl" -D "$data" -l "$data/log" -w \
  -o "-h 127.0.0.1 -p $port -k $data" start >&2
run "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres dgbot_test >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$port/dgbot_test"
