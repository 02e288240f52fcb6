#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) for development and tests, run from Maven Central jars.
#
#   kafka.sh fetch    resolve the broker jars into the cache (no-op when already there)
#   kafka.sh up       fetch, format storage once, start, wait until the broker answers (no-op if up)
#   kafka.sh down     stop the broker cleanly (no-op if not running)
#   kafka.sh status   exit 0 when the broker answers on its port
#   kafka.sh pid      print the broker's process id (exit 1 when it is not running)
#   kafka.sh tls      print the TLS listener's host:port and the directory of its PEM files
#                     (ca.crt, and client.crt/client.key for a client: TLS client authentication)
#
# Everything lives outside the repository so that clones share one download:
#   IPCOORD_CACHE     (default ~/.cache/ipcoord)  jars in $IPCOORD_CACHE/kafka/<version>/libs
#   KAFKA_PORT        (default 9092), KAFKA_CONTROLLER_PORT (default 9093),
#   KAFKA_TLS_PORT    (default 9094) a second listener with TLS and client certificates
#                     required, as a Strimzi cluster's; its test CA is made once, in the run dir
#   KAFKA_RUN_DIR     (default $IPCOORD_CACHE/run/kafka-$KAFKA_PORT) data, logs and pid file
#   KAFKA_HEAP_OPTS   (default -Xmx1G -Xms256m)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
cache="${IPCOORD_CACHE:-$HOME/.cache/ipcoord}"
libs="$cache/kafka/$version/libs"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
tls_port="${KAFKA_TLS_PORT:-9094}"
run_dir="${KAFKA_RUN_DIR:-$cache/run/kafka-$port}"
tls_dir="$run_dir/tls"
pid_file="$run_dir/kafka.pid"
start_timeout="${KAFKA_START_TIMEOUT:-90}"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }

answers() {
  # The broker answers when its listener accepts connections and, for a broker this script
  # started, it has logged that it started (remembered in a marker: the log rolls over).
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 1
  [[ -f $run_dir/ready || ! -f $pid_file ]] && return 0
  if grep -q "Kafka Server started" "$run_dir/logs/server.log" 2>/dev/null; then
    touch "$run_dir/ready"
    return 0
  fi
  return 1
}

running_pid() {
  [[ -f $pid_file ]] || return 1
  local pid; pid="$(cat "$pid_file")"
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

fetch() {
  if [[ -f $libs/.complete ]]; then return 0; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch the broker jars"; exit 1; }
  log "resolving Apache Kafka $version jars into $libs (once)"
  rm -rf "$libs"; mkdir -p "$libs"
  # Maven 3.8 prints colour codes even in batch mode; strip them (pipefail keeps its status).
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$libs" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'
  touch "$libs/.complete"
}

make_tls() {
  # A local CA, the broker's certificate (localhost) and one client certificate. Development
  # and tests only: the CA key sits next to them. PEM throughout (Kafka reads PEM stores).
  [[ -f $tls_dir/broker.pem ]] && return 0
  command -v openssl >/dev/null || { log "openssl is required for the TLS listener"; exit 1; }
  rm -rf "$tls_dir"; mkdir -p "$tls_dir"
  (
    cd "$tls_dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ipcoord local Kafka CA" \
      -keyout ca.key -out ca.crt 2>/dev/null
    for name in broker client; do
      local subject="/CN=localhost" ext="subjectAltName=DNS:localhost,IP:127.0.0.1"
      [[ $name == client ]] && subject="/CN=ipcoord-dev" ext="extendedKeyUsage=clientAuth"
      openssl req -newkey rsa:2048 -nodes -subj "$subject" -keyout "$name.key" \
        -out "$name.csr" 2>/dev/null
      openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile <(echo "$ext") -out "$name.crt" 2>/dev/null
      rm "$name.csr"
    done
    # Kafka's PEM key store: the unencrypted PKCS#8 key, then the certificate.
    openssl pkcs8 -topk8 -nocrypt -in broker.key | cat - broker.crt > broker.pem
  )
}

up() {
  if answers; then log "broker already answering on localhost:$port"; return 0; fi
  if pid="$(running_pid)"; then
    log "broker process $pid exists but does not answer yet; waiting"
  else
    fetch
    command -v java >/dev/null || { log "Java 17+ is required"; exit 1; }
    mkdir -p "$run_dir/data" "$run_dir/logs"
    make_tls
    sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
        -e "s|@TLS_PORT@|$tls_port|g" -e "s|@TLS_DIR@|$tls_dir|g" \
        -e "s|@DATA_DIR@|$run_dir/data|g" "$here/server.properties.template" > "$run_dir/server.properties"
    local jvm_props=(-Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$run_dir/logs")
    if [[ ! -f $run_dir/data/meta.properties ]]; then
      local cluster_id
      cluster_id="$(java -cp "$libs/*" "${jvm_props[@]}" kafka.tools.StorageTool random-uuid)"
      java -cp "$libs/*" "${jvm_props[@]}" kafka.tools.StorageTool format --standalone \
           --ignore-formatted -t "$cluster_id" -c "$run_dir/server.properties" >/dev/null
    fi
    : > "$run_dir/logs/server.log"
    rm -f "$run_dir/ready"
    # setsid: the broker outlives the make/CI shell that started it, until `kafka.sh down`.
    # shellcheck disable=SC2086
    setsid nohup java ${KAFKA_HEAP_OPTS:--Xmx1G -Xms256m} -XX:+UseG1GC -Djava.awt.headless=true \
        "${jvm_props[@]}" -cp "$libs/*" kafka.Kafka "$run_dir/server.properties" \
        > "$run_dir/logs/stdout.log" 2>&1 < /dev/null &
    echo $! > "$pid_file"
    log "started Apache Kafka $version (pid $!), data in $run_dir"
  fi
  local waited=0
  until answers; do
    if ! running_pid >/dev/null; then
      log "broker exited during start; last lines of its logs:"
      tail -n 30 "$run_dir/logs/stdout.log" "$run_dir/logs/server.log" >&2 || true
      rm -f "$pid_file"; exit 1
    fi
    (( waited++ >= start_timeout )) && { log "broker did not answer within ${start_timeout}s"; exit 1; }
    sleep 1
  done
  log "broker answering on localhost:$port"
}

down() {
  local pid
  if ! pid="$(running_pid)"; then rm -f "$pid_file"; log "broker not running"; return 0; fi
  log "stopping broker (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then log "broker did not stop in 30s; killing"; kill -KILL "$pid"; fi
  rm -f "$pid_file" "$run_dir/ready"
}

case "${1:-}" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  status) answers ;;
  version) echo "$version" ;;
  tls) echo "localhost:$tls_port $tls_dir" ;;
  pid) running_pid ;;
  *) echo "usage: $0 fetch|up|down|status|version|tls|pid" >&2; exit 2 ;;
esac
