#!/usr/bin/env bash
# Make sure Debian's Redis server is installed: the test session starts it on 127.0.0.1 as the JWT
# replay store shared by several igcds instances (tests/support/redis.py). Idempotent: does nothing
# when /usr/bin/redis-server is there.
set -euo pipefail
[[ -x /usr/bin/redis-server ]] && exit 0
bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" redis-server
test -x /usr/bin/redis-server || { echo "redis-bin: /usr/bin/redis-server missing after install" >&2; exit 1; }
