#!/usr/bin/env bash
# Stop every daemon tests/slurm/up.sh started in DIR, in reverse order; leaves DIR's files.
set -uo pipefail
S=$(cd "$1" && pwd)
stop() {  # stop PIDFILE
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}
stop "$S/run/slurmd.pid"
stop "$S/run/slurmctld.pid"
stop "$S/run/slurmdbd.pid"
stop "$S/mysql/run/mysqld.pid"
stop "$S/munge/run/munged.pid"
# The munge socket directory lives in /tmp (see up.sh); remove it and the link to it.
if [ -L "$S/munge/run" ]; then
  rm -rf "$(readlink "$S/munge/run")"
  rm -f "$S/munge/run"
fi
echo "slurm down"
