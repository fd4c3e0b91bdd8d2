#!/usr/bin/env bash
# `cargo test -p phx-conformance`, default thread count, against external phx-server PROCESSES
# (two nodes clustered over a real redis-server), not the embedded in-process servers: the
# scenario suite and the properties then share one server, as they would against real Phoenix.
# Everything listens on 127.0.0.1; the processes started here are stopped by their own pids.
set -euo pipefail
cd "$(dirname "$0")/.."

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( (RANDOM % 20000) + 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "no free port" >&2; return 1
}

wait_port() { # port [pid]: until something listens, the process exits, or 20 s pass
  for _ in $(seq 1 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then break; fi
    sleep 0.05
  done
  echo "nothing listens on 127.0.0.1:$1" >&2; return 1
}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

cargo build -p phx-server --locked --quiet
bin=target/debug/phx-server
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pids+=($!)
wait_port "$redis_port"

token=phx-external-suite
logs=$(mktemp -d)
# start_node NAME: starts a node on a free port and prints the port. The port is free when
# picked but another process may take it first, so a node that does not come up is retried
# on another port (its log is shown if all attempts fail).
start_node() {
  local port pid
  for _ in 1 2 3; do
    port=$(free_port)
    "$bin" serve --host 127.0.0.1 --port "$port" --node-name "$1@127.0.0.1" \
      --pubsub "redis://127.0.0.1:$redis_port" --control --control-token "$token" \
      --recurring-interval-ms 150 --dedupe-window-ms 200 >"$logs/$1.log" 2>&1 &
    pid=$!
    if wait_port "$port" "$pid" 2>/dev/null; then
      echo "$port $pid"; return 0
    fi
    kill "$pid" 2>/dev/null || true
  done
  echo "phx-server $1 did not start:" >&2; cat "$logs/$1.log" >&2; return 1
}
read -r a pid_a < <(start_node server18); pids+=("$pid_a")
read -r b pid_b < <(start_node remote18); pids+=("$pid_b")

echo "== cargo test -p phx-conformance against phx-server processes on :$a and :$b"
PHX_URL="ws://127.0.0.1:$a/socket" \
PHX_AUTH_URL="ws://127.0.0.1:$a/auth_socket" \
PHX_NODE_B_URL="ws://127.0.0.1:$b/socket" \
PHX_CONTROL=1 PHX_CONTROL_TOKEN="$token" PHX_PHOENIX=1.8.12 \
PHX_RECURRING_INTERVAL_MS=150 PHX_DEDUPE_WINDOW_MS=200 \
  cargo test -p phx-conformance --locked

# The second app, phx-server --app rooms, as an external process under both compat modes: a
# `phx connect` script joins room:lobby with the name the join needs and checks the reply of
# `whoami` (a few hundred ms each; target/debug/phx was built by the cargo test above).
# start_rooms COMPAT: prints "port pid", retrying on another port as start_node does.
start_rooms() {
  local port pid
  for _ in 1 2 3; do
    port=$(free_port)
    "$bin" serve --host 127.0.0.1 --port "$port" --app rooms --compat "$1" \
      >"$logs/rooms$1.log" 2>&1 &
    pid=$!
    if wait_port "$port" "$pid" 2>/dev/null; then
      echo "$port $pid"; return 0
    fi
    kill "$pid" 2>/dev/null || true
  done
  echo "phx-server --app rooms did not start:" >&2; cat "$logs/rooms$1.log" >&2; return 1
}
for compat in 1.8 1.7; do
  read -r rooms_port rooms_pid < <(start_rooms "$compat"); pids+=("$rooms_pid")
  echo "== phx-server --app rooms --compat $compat on :$rooms_port"
  rooms_rc=0
  rooms_out=$(printf '%s\n' 'join room:lobby {"name":"ci"}' 'push room:lobby whoami' |
    target/debug/phx connect "ws://127.0.0.1:$rooms_port/socket" --json --exit-on-eof \
      --eof-wait-ms 5000) || rooms_rc=$?
  if [ "$rooms_rc" -ne 0 ] || ! grep '"type":"reply"' <<<"$rooms_out" | grep -q '"name":"ci"'; then
    echo "$rooms_out" >&2
    echo "phx-server --app rooms --compat $compat did not answer whoami" >&2
    exit 1
  fi
  # Issue #11 items 1 and 7: the protocol profile and the example scenario files for this app.
  target/debug/phx check --profile protocol --url "ws://127.0.0.1:$rooms_port/socket" \
    --topic room:lobby --topic2 room:side --join-payload '{"name":"ci"}' \
    --topic-pattern 'room:{i}' --phoenix "$compat"
  target/debug/phx check --url "ws://127.0.0.1:$rooms_port/socket" --phoenix "$compat" \
    --scenarios conformance/scenarios/examples/rooms
done
