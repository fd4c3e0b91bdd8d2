#!/usr/bin/env bash
# The receive-path bench, phx-client against phoenix.js 1.8.16 under node, in the same run and
# against the same phx-server: receive rate at 1 socket and at 1,000 sockets, events missing,
# and RSS per idle socket with one joined channel. Each round alternates which client goes first.
#
# Run with: bash client/examples/receive_rate.sh   (env: ROUNDS=3 PORT=4411 ONE=200000 MANY=1000 IDLE=1000)
# Needs node and npm (it installs phoenix@1.8.16 and ws under target/ once).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
PORT=${PORT:-4411}
ONE=${ONE:-200000}  # broadcasts to the single socket
MANY=${MANY:-1000}  # broadcasts to each of the 1,000 sockets
IDLE=${IDLE:-1000}  # idle sockets for the RSS figure
JS_DIR=target/phoenix-js-1.8.16

if [ ! -d "$JS_DIR/node_modules/phoenix" ] || [ ! -d "$JS_DIR/node_modules/ws" ]; then
  npm install --no-audit --no-fund --silent --prefix "$JS_DIR" phoenix@1.8.16 ws
fi
cargo build --release -q -p phx-server --bin phx-server
cargo build --release -q -p phx-client --example receive_rate

# A large outbound queue: the server must not drop either client as a slow consumer, so a
# client that falls behind is measured, not disconnected.
target/release/phx-server serve --port "$PORT" --control --idle-timeout-ms 600000 --outbound-queue 10000000 2>/dev/null &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done

WS="ws://127.0.0.1:$PORT/socket"
CONTROL="http://127.0.0.1:$PORT"
rs() { target/release/examples/receive_rate "$@"; RUNTIME=multi target/release/examples/receive_rate "$@"; }
js() { NODE_PATH="$JS_DIR/node_modules" node --expose-gc client/examples/receive_rate.js "$@"; }

echo "# commit $(git rev-parse --short HEAD), $(nproc) cores, phoenix.js $(node -p "require('./$JS_DIR/node_modules/phoenix/package.json').version")"
for round in $(seq "$ROUNDS"); do
  for spec in "1 $ONE" "1000 $MANY"; do
    if [ $((round % 2)) -eq 1 ]; then
      rs rate "$WS" "$CONTROL" $spec; js rate "$WS" "$CONTROL" $spec
    else
      js rate "$WS" "$CONTROL" $spec; rs rate "$WS" "$CONTROL" $spec
    fi
  done
done
rs idle "$WS" "$IDLE"
js idle "$WS" "$IDLE"
