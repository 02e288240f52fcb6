#!/usr/bin/env bash
# Starts and stops the ipcoord services locally for `make dev` / `make down`.
#   services.sh up     start every service in the background (no-op for running ones)
#   services.sh down   stop them (SIGTERM, then wait for a graceful drain)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
run_dir="$root/var/run"
bin="$root/.venv/bin"
services=(intake credit notifications)
declare -A ports=([intake]=50051 [credit]=50052 [notifications]=50053)  # each one's default
mkdir -p "$run_dir"
export IPCOORD_INSECURE_DEV_IDENTITY="${IPCOORD_INSECURE_DEV_IDENTITY:-true}"
export IPCOORD_DATA_DIR="${IPCOORD_DATA_DIR:-$root/var/ipcoord}"
# cnipa reads right holders' inboxes; webhooks may reach this machine (the demo's receiver).
export IPCOORD_OPERATORS="${IPCOORD_OPERATORS:-cnipa}"
export IPCOORD_WEBHOOK_ALLOWED_NETWORKS="${IPCOORD_WEBHOOK_ALLOWED_NETWORKS:-127.0.0.1/32}"

up() {
  local started=()
  for s in "${services[@]}"; do
    pid_file="$run_dir/$s.pid"
    if [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      echo "services.sh: $s already running (pid $(cat "$pid_file"))"; continue
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/${ports[$s]}") 2>/dev/null; then
      # Not ours (no pid file): another checkout's `make dev`, or something else.
      echo "services.sh: cannot start $s: port ${ports[$s]} is taken by another process" \
        "(another checkout's \`make dev\`? \`make down\` there)" >&2
      exit 1
    fi
    nohup "$bin/ipcoord" serve "$s" > "$run_dir/$s.log" 2>&1 < /dev/null &
    echo $! > "$pid_file"
    echo "services.sh: started $s (pid $!), log $run_dir/$s.log"
    started+=("$s")
  done
  wait_ready "${started[@]+"${started[@]}"}"
}

wait_ready() {
  # Until each service just started is ready (its log says so) or has exited, which a
  # start-up error does within seconds: then its log's error line says why.
  local pending=("$@") waited=0 s
  while (( ${#pending[@]} )); do
    local still=()
    for s in "${pending[@]}"; do
      if grep -q '"service ready"' "$run_dir/$s.log" 2>/dev/null; then
        continue
      elif ! kill -0 "$(cat "$run_dir/$s.pid")" 2>/dev/null; then
        echo "services.sh: $s did not start: $(grep '^error:' "$run_dir/$s.log" | tail -n 1)" >&2
        exit 1
      fi
      still+=("$s")
    done
    pending=("${still[@]+"${still[@]}"}")
    (( ${#pending[@]} )) || break
    (( waited++ < 240 )) || { echo "services.sh: still starting after 120 s: ${pending[*]}" >&2; exit 1; }
    sleep 0.5
  done
}

down() {
  for s in "${services[@]}"; do
    pid_file="$run_dir/$s.pid"
    [[ -f $pid_file ]] || continue
    pid="$(cat "$pid_file")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      echo "services.sh: stopped $s"
    fi
    rm -f "$pid_file"
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
