#!/usr/bin/env bash
# `make dev`: start the services (no-op for running ones), run the demo on them, then follow
# the notifications until Ctrl-C, which stops the services (`make down` also stops the broker).
# Without a terminal (a script, CI) it returns after the summary and leaves them running.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
why() {
  # A service that did not start says why in the last error line of its log.
  for log in "$root"/var/run/*.log; do
    line="$(grep '^error:' "$log" | tail -n 1 || true)"
    [[ -n $line ]] && echo "dev.sh: $(basename "$log" .log): $line" >&2
  done
  return 0
}
bash "$root/deploy/local/services.sh" up
if [[ -t 0 && -t 1 ]]; then
  # Ctrl-C reaches the demo too (it stops watching); then the services stop.
  trap 'true' INT
  "$root/.venv/bin/ipcoord" demo --watch || status=$?
  trap - INT
  if [[ ${status:-0} -ne 0 ]]; then why; exit "$status"; fi
  bash "$root/deploy/local/services.sh" down
  echo "dev.sh: services stopped; the broker still runs ('make down' stops it)."
else
  "$root/.venv/bin/ipcoord" demo || { status=$?; why; exit "$status"; }
  echo "dev.sh: services keep running (logs in var/run/); 'make down' stops everything."
fi
