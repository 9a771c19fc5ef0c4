#!/usr/bin/env bash
# A throwaway Redis Cluster on loopback for tests: N masters, no replicas, nothing kept on disk.
#   infra/redis-cluster.sh start [base-port]   # masters on base-port .. base-port+N-1 (bus ports +10000)
#   infra/redis-cluster.sh stop  [base-port]   # kills exactly the processes `start` recorded
# REDIS_CLUSTER_MASTERS (default 3) sets N; REDIS_CLUSTER_DIR (default $TMPDIR/herald-redis-cluster-<base-port>)
# holds each node's config, log and pid, and the pid list.
set -Eeuo pipefail

command=${1:-}
base_port=${2:-7100}
masters=${REDIS_CLUSTER_MASTERS:-3}
dir=${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/herald-redis-cluster-${base_port}}
pids_file="$dir/pids"

usage () {
  echo "usage: $0 start|stop [base-port]" >&2
  exit 64
}

[[ "$base_port" =~ ^[0-9]+$ ]] && (( base_port >= 1024 && base_port + masters - 1 <= 55535 )) || {
  echo "base-port must leave room for the cluster bus ports (port + 10000 <= 65535)" >&2
  exit 64
}
(( masters >= 3 )) || { echo "a Redis Cluster needs at least 3 masters" >&2; exit 64; }

ports () {
  seq "$base_port" $(( base_port + masters - 1 ))
}

stop_cluster () {
  [[ -f "$pids_file" ]] || return 0
  local pid
  while read -r pid; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  done < "$pids_file"
  # Wait for each to exit so the ports are free when this returns.
  for _ in $(seq 1 100); do
    local alive=0
    while read -r pid; do
      [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && alive=1
    done < "$pids_file"
    (( alive == 0 )) && break
    sleep 0.1
  done
  rm -rf "$dir"
}

wait_for () {
  local what=$1; shift
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $what" >&2
  return 1
}

cluster_ok () {
  local port
  for port in $(ports); do
    redis-cli -h 127.0.0.1 -p "$port" cluster info | grep -q '^cluster_state:ok' || return 1
  done
}

start_cluster () {
  command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 69; }
  if [[ -f "$pids_file" ]]; then
    echo "a cluster is already recorded in $dir; stop it first" >&2
    exit 1
  fi
  mkdir -p "$dir"
  : > "$pids_file"
  # A failed start must not leave servers behind.
  trap 'stop_cluster' ERR
  local port node
  for port in $(ports); do
    node="$dir/$port"
    mkdir -p "$node"
    redis-server --port "$port" --bind 127.0.0.1 --protected-mode no \
      --cluster-enabled yes --cluster-config-file "$node/nodes.conf" --cluster-node-timeout 5000 \
      --appendonly no --save "" --dir "$node" \
      --daemonize yes --pidfile "$node/redis.pid" --logfile "$node/redis.log"
    wait_for "redis-server on port $port" test -s "$node/redis.pid"
    cat "$node/redis.pid" >> "$pids_file"
    wait_for "redis-server on port $port to answer" redis-cli -h 127.0.0.1 -p "$port" ping
  done
  local addresses=()
  for port in $(ports); do addresses+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${addresses[@]}" --cluster-replicas 0 --cluster-yes > "$dir/create.log" 2>&1 || {
    cat "$dir/create.log" >&2
    false
  }
  wait_for "cluster_state:ok on every node" cluster_ok
  trap - ERR
  echo "redis cluster up: ${addresses[*]}"
}

case "$command" in
  start) start_cluster ;;
  stop) stop_cluster ;;
  *) usage ;;
esac
