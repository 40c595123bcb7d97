#!/usr/bin/env bash
# Make sure Debian's haproxy is installed: the test session runs it on 127.0.0.1 with the shipped
# configuration (deploy/haproxy/) in front of igcds, as the load balancer and slow-client buffer
# (tests/support/haproxy.py). Idempotent: does nothing when /usr/sbin/haproxy is there.
set -euo pipefail
[[ -x /usr/sbin/haproxy ]] && exit 0
bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" haproxy
test -x /usr/sbin/haproxy || { echo "haproxy-bin: /usr/sbin/haproxy missing after install" >&2; exit 1; }
