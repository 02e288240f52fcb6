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
  wait_ready "${started[@]+"${started[@]}"}" || {
    echo "services.sh: the others keep running; 'make down' stops them" >&2
    return 1
  }
}

wait_ready() {
  # Until each service just started answers its health check SERVING, or has exited, which a
  # start-up error does within seconds: then its log says why (its error line, else its end).
  (( $# )) || return 0
  local args=() s
  for s in "$@"; do args+=("$s" "${ports[$s]}" "$(cat "$run_dir/$s.pid")"); done
  "$bin/python" - "$run_dir" "${args[@]}" <<'PY'
import os, sys, time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

run_dir, rest = Path(sys.argv[1]), sys.argv[2:]
pending = {rest[i]: (int(rest[i + 1]), int(rest[i + 2])) for i in range(0, len(rest), 3)}


def serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


deadline = time.monotonic() + 300
while pending:
    for name, (port, pid) in list(pending.items()):
        if serving(port):
            del pending[name]
        elif not alive(pid):
            lines = (run_dir / f"{name}.log").read_text(errors="replace").splitlines()
            errors = [line for line in lines if line.startswith("error:")]
            why = errors[-1] if errors else "\n  ".join(lines[-5:])
            print(f"services.sh: {name} did not start: {why}", file=sys.stderr)
            sys.exit(1)
    if pending and time.monotonic() > deadline:
        print(f"services.sh: still starting after 300 s: {', '.join(pending)}", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.5)
PY
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
