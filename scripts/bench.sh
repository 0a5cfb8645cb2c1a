#!/usr/bin/env bash
# make bench: ops exec, ops play, ansible -m raw and parallel-ssh on the same simulated
# fleet (one Go SSH server answering on N loopback addresses, no forks), in
# one run. Prints wall time, client CPU per host, peak RSS and the server's
# CPU apart (both share the machine's cores).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
C=${C:-200}
LARGE=${LARGE:-10000}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
for b in /usr/bin/time /usr/bin/ansible /usr/bin/parallel-ssh /usr/bin/ssh-agent; do
  [ -x "$b" ] || { apt-get install -y -qq --no-install-recommends time ansible-core pssh openssh-client >/dev/null; break; }
done
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# A throwaway key in an agent of its own: every tool authenticates through it.
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
ssh-agent -D -a "$work/agent.sock" >/dev/null & pids+=($!)
for _ in $(seq 50); do [ -S "$work/agent.sock" ] && break; sleep 0.1; done
SSH_AUTH_SOCK=$work/agent.sock ssh-add -q "$work/key"
export SSH_AUTH_SOCK=$work/agent.sock ANSIBLE_HOST_KEY_CHECKING=False OPS_LOG_ENABLED=false OPS_CONFIG=/dev/null

start_fleet() { # n [ops-fleet flags]
  local n=$1; shift
  mkdir -p "$work/f$n"
  bin/ops-fleet -n "$n" -out "$work/f$n" "$@" > "$work/f$n/ready" & fleet=$!; pids+=($fleet)
  for _ in $(seq 300); do grep -q ready "$work/f$n/ready" 2>/dev/null && return; sleep 0.1; done
  echo "fleet did not start" >&2; exit 1
}
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

printf '%-42s %8s %10s %14s %10s %12s\n' client hosts wall_s cpu_ms_per_host rss_MB server_cpu_s
measure() { # label n command...
  local label=$1 n=$2; shift 2
  # ONLY=WORD measures only the lines whose label holds WORD.
  [[ -z "${ONLY:-}" || "$label" == *"$ONLY"* ]] || return 0
  local before after
  before=$(ticks "$fleet")
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" > "$work/out" 2> "$work/err" || true
  after=$(ticks "$fleet")
  # /usr/bin/time says "Command exited with non-zero status N" first.
  read -r wall user sys rss < <(tail -n 1 "$work/time")
  local okc
  okc=$(grep -c 'load average' "$work/out" || true)
  printf '%-42s %8s %10s %14s %10s %12s   (%s answered)\n' "$label" "$n" "$wall" \
    "$(awk -v u="$user" -v s="$sys" -v n="$n" 'BEGIN{printf "%.2f", (u+s)*1000/n}')" \
    "$(awk -v r="$rss" 'BEGIN{printf "%.0f", r/1024}')" \
    "$(awk -v a="$after" -v b="$before" -v hz="$hz" 'BEGIN{printf "%.2f", (a-b)/hz}')" "$okc"
}

# The base commit's ops, built from a worktree, runs beside this one on the
# same fleet (BASE=, default the last commit before the current work; an
# empty BASE skips it).
BASE=${BASE-cc3646b}
if [ -n "$BASE" ]; then
  git worktree add -q --detach "$work/base" "$BASE"
  (cd "$work/base" && GOFLAGS=-buildvcs=false go build -o "$work/base-ops" ./cmd/ops)
  git worktree remove --force "$work/base"
fi

start_fleet "$N" -floor-port 2201
inv=$work/f$N/inventory.ini
if [ -n "$BASE" ]; then
  # Interleaved, three rounds: the machine drifts within minutes.
  for round in 1 2 3; do
    measure "ops exec -f 1000 (base $BASE) #$round" "$N" "$work/base-ops" exec -f 1000 -i "$inv" all -- uptime
    measure "ops exec -f 1000 (this tree) #$round" "$N" bin/ops exec -f 1000 -i "$inv" all -- uptime
  done
fi
# The floor: the same messages as an SSH exec, raw, plus the crypto the
# protocol cannot skip (internal/simfleet/floor.go). No client can do less.
measure "floor: raw exchange + crypto -f $C" "$N" bin/ops-fleet floor -n "$N" -port 2201 -f "$C"
measure "ops exec -f $C" "$N" bin/ops exec -f "$C" -i "$inv" all -- uptime
measure "ops exec -f 1000" "$N" bin/ops exec -f 1000 -i "$inv" all -- uptime
measure "ops exec -f 1000 --handshakes 1000" "$N" bin/ops exec -f 1000 --handshakes 1000 -i "$inv" all -- uptime
# 1000 sessions open at once: the fleet answers `sleep 2` after two seconds.
measure "ops exec -f 1000, sleep 2" "$N" bin/ops exec -f 1000 -i "$inv" all -- sleep 2
# ops play: a playbook's tasks over kept connections (the second task
# costs a session, not a handshake); ansible-playbook on 200 hosts.
play() { # file tasks
  { printf -- '- hosts: all\n  gather_facts: false\n  tasks:\n'; for _ in $(seq "$2"); do printf -- '    - raw: uptime\n'; done; } > "$1"
}
play "$work/play3.yml" 3
play "$work/play1.yml" 1
measure "ops play -f 1000, 3 raw tasks" "$N" bin/ops play -f 1000 -i "$inv" "$work/play3.yml"
measure "ops play -f 1000, 1 raw task" "$N" bin/ops play -f 1000 -i "$inv" "$work/play1.yml"
measure "ops exec -f 1000 (beside ops play)" "$N" bin/ops exec -f 1000 -i "$inv" all -- uptime
# The rolling-restart example (serial 10%, a block with rescue, an until
# health check): ten batches of 100 hosts, and of 20 for ansible-playbook.
measure "ops play -f 1000, rolling-restart.yml" "$N" bin/ops play -f 1000 -i "$inv" -e state_dir=/tmp playbooks/rolling-restart.yml
measure "ansible-playbook -f 50, rolling-restart.yml" 200 env ANSIBLE_SSH_ARGS='-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null' \
  ANSIBLE_LOCAL_TEMP="$work/ansible" ansible-playbook -f 50 -i "$inv" -l 'fleet[0:199]' -e state_dir=/tmp playbooks/rolling-restart.yml
measure "ansible-playbook -f 50, 3 raw tasks" 200 env ANSIBLE_SSH_ARGS='-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null' \
  ANSIBLE_LOCAL_TEMP="$work/ansible" ansible-playbook -f 50 -i "$inv" -l 'fleet[0:199]' "$work/play3.yml"
measure "parallel-ssh -p $C" "$N" parallel-ssh -p "$C" -h "$work/f$N/pssh-hosts" -t 120 -i \
  -O StrictHostKeyChecking=no -O UserKnownHostsFile=/dev/null -O LogLevel=ERROR uptime
measure "ansible -m raw -f 50" "$N" env ANSIBLE_SSH_ARGS='-o ControlMaster=no -o UserKnownHostsFile=/dev/null' \
  ANSIBLE_LOCAL_TEMP="$work/ansible" ansible -i "$inv" all -m raw -a uptime -f 50
# A forwarded agent 50 ms away: signatures must not queue up.
bin/ops-fleet slow-agent -upstream "$SSH_AUTH_SOCK" -listen "$work/slow.sock" -delay 50ms > "$work/slow.ready" & pids+=($!)
for _ in $(seq 50); do [ -S "$work/slow.sock" ] && break; sleep 0.1; done
measure "ops exec -f $C, agent +50ms" "$N" env SSH_AUTH_SOCK="$work/slow.sock" bin/ops exec -f "$C" -i "$inv" all -- uptime
kill "$fleet"; wait "$fleet" 2>/dev/null || true

# A far network: every packet from the fleet held 20 ms (a handshake ≈ 0.2 s).
start_fleet "$N" -delay 20ms
measure "far: ops exec -f 1000" "$N" bin/ops exec -f 1000 -i "$work/f$N/inventory.ini" all -- uptime
measure "far: ops exec -f 1000 --handshakes 1000" "$N" bin/ops exec -f 1000 --handshakes 1000 -i "$work/f$N/inventory.ini" all -- uptime
kill "$fleet"; wait "$fleet" 2>/dev/null || true

# Hostile hosts (the e2e's mix): 5 % stalling in every phase, 1 % flooding,
# 1 % dropping, 1 % refusing auth, a few of each other fault. The run ends
# by its bounds (-T 2, --command-timeout 5); what it costs is the figure.
start_fleet "$N" -faults "stall-kex=1.3%,stall-open=1.2%,stall-exec=1.3%,stall-run=1.2%,flood=1%,drop=1%,refuse-auth=1%,garbage-version=0.5%,drip=0.5%,signal=0.5%"
measure "hostile: ops exec -f 1000 -T 2 --command-timeout 5" "$N" bin/ops exec -f 1000 -T 2 --command-timeout 5 -i "$work/f$N/inventory.ini" all -- uptime
measure "hostile: ops exec -f 1000 --json" "$N" bin/ops exec -f 1000 -T 2 --command-timeout 5 --json -i "$work/f$N/inventory.ini" all -- uptime
kill "$fleet"; wait "$fleet" 2>/dev/null || true

if [ "$LARGE" -gt 0 ]; then
  start_fleet "$LARGE"
  measure "ops exec -f 1000" "$LARGE" bin/ops exec -f 1000 -i "$work/f$LARGE/inventory.ini" all -- uptime
fi
