#!/bin/sh
# Leaves /var/tmp/ops-marks/<host>, owned by root, readable by all: proof
# that the play ran as root on that host (the lab's hosts share one disk, so
# the mark is named after the host).
set -eu
host=${1:?usage: mark.sh HOST}
mkdir -p /var/tmp/ops-marks
chmod 755 /var/tmp/ops-marks
printf '%s ran as %s at %s\n' "$host" "$(id -un)" "$(date -u +%FT%TZ)" > "/var/tmp/ops-marks/$host"
chmod 644 "/var/tmp/ops-marks/$host"
echo "marked $host as $(id -un)"
