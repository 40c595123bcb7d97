#!/usr/bin/env bash
# Install Debian packages the test suite needs, once: `scripts/apt-install.sh PACKAGE...`.
# Packages already installed are not touched. Several scripts (or several checkouts building at the
# same time) may call this at once: the whole update + install runs under one lock file, so apt's
# own locks are never contended.
set -euo pipefail

missing=()
for package in "$@"; do
    dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed" || missing+=("${package}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ "$(id -u)" -ne 0 ]]; then
    echo "apt-install: missing Debian packages: ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "apt-install: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
exec 9>/tmp/igcds-apt.lock
flock -w 900 9
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
