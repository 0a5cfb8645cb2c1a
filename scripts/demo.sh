#!/usr/bin/env bash
# make demo: the main job on the built-in lab. Expects the lab up and bin/ built.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bin/ops-lab env)"
ops=bin/ops
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "ops config: where every setting comes from"
$ops config

step "ops deploy: build the image, push it (ECR token), pull it on the operation server over SSH"
$ops deploy 2> >(grep '^ops:' >&2)

step "ops check: the operation server, as a checklist"
$ops check

step "the Mackerel inventory, from inside the image on the operation server"
$ops remote-container -- sh -c 'mackerel-inventory --list | head -c 300; echo'

step "ops exec: our own goroutine fan-out (no Ansible; Ansible's inventories and patterns; password sudo), in the image on the operation server"
printf '%s\n' "$OPS_LAB_BECOME_PASSWORD" |
  $ops remote-container -- ops exec -i /usr/local/bin/mackerel-inventory -K all -- sh -c 'echo "$(id -un): $(uptime)"'

step "ansible-playbook --ask-become-pass on the lab's hosts, through the operation server"
echo "(the lab's become password is fed on stdin here; at a terminal you type it at the prompt)" >&2
sudo_marks=/var/tmp/ops-marks
rm -rf "$sudo_marks"
printf '%s\n' "$OPS_LAB_BECOME_PASSWORD" |
  $ops remote-container -- ansible-playbook --ask-become-pass -i /usr/local/bin/mackerel-inventory playbooks/example.yml

step "what the play left on each host (root-owned, named after the host)"
ls -l "$sudo_marks"

step "ops play: the same playbook, run natively by ops at fan-out speed (same YAML, same PLAY RECAP)"
rm -rf "$sudo_marks"
printf '%s\n' "$OPS_LAB_BECOME_PASSWORD" |
  $ops remote-container -- ops play -K -i /usr/local/bin/mackerel-inventory playbooks/example.yml
ls -l "$sudo_marks"

step "the run log: every run above is a commit, pushed to the team's repository"
$ops log list -n 5
id=$($ops log list -n 1 | awk 'NR==3 {print $1}') # after the log's name and the header
step "ops log show $id: the ops play run (the become password is not in it)"
$ops log show "$id"
