#!/usr/bin/env bash
# What the run log costs a run: `ops remote-container true` with the log
# (committed locally, pushed in the background) and with --no-log, the
# median wall time of ROUNDS runs each, interleaved (the machine drifts).
# Needs an operation server with the image deployed: the lab (eval
# "$(make -s lab-env)") or your ops.yaml. The log goes to a throwaway clone
# and, unless LOG_REMOTE is set, a throwaway bare repository; SLOW=2 makes
# that remote take 2 s to receive (a pre-receive hook), which no run should
# wait for. Not run by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-10}
SLOW=${SLOW:-0}
OPS=${OPS:-bin/ops}
[ -x "$OPS" ] || go build -o bin/ ./cmd/ops
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
remote=${LOG_REMOTE:-}
if [ -z "$remote" ]; then
  remote=$work/remote.git
  git init -q --bare "$remote"
  if [ "$SLOW" != 0 ]; then
    printf '#!/bin/sh\nsleep %s\n' "$SLOW" > "$remote/hooks/pre-receive"
    chmod +x "$remote/hooks/pre-receive"
  fi
fi
export OPS_LOG_DIR=$work/log OPS_LOG_REMOTE=$remote OPS_LOG_PROJECT=bench

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
run() { # file ops-args...
  local out=$1; shift
  local t0 t1
  t0=$(now)
  "$OPS" "$@" remote-container true > /dev/null 2> "$work/err" || { cat "$work/err" >&2; exit 1; }
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f\n", b-a}' >> "$out"
}

"$OPS" --no-log remote-container true > /dev/null # warm: image pulled, connection known
for _ in $(seq "$ROUNDS"); do
  run "$work/logged"
  run "$work/nolog" --no-log
done
# Wait for the background push (ops log push takes its lock), then check
# every logged run reached the remote.
"$OPS" log push 2> /dev/null
pushed=$(git -C "$remote" rev-list --count bench 2> /dev/null || echo 0)
printf '%-34s %8s\n' run median_s
printf '%-34s %8s\n' "remote-container true" "$(median < "$work/logged")"
printf '%-34s %8s\n' "remote-container --no-log true" "$(median < "$work/nolog")"
printf '%s of %s logged runs on the remote (slow remote: %s s)\n' "$pushed" "$ROUNDS" "$SLOW"
