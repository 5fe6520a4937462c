#!/usr/bin/env bash
# Records the committed traces: the Rust test app behind the real router with
# --record, one worker session per trace, driven by curl. Each session ends
# with the router's shutdown (GOAWAY), so the trace holds every cause of what
# the worker sent.
# Usage: conformance/traces/record.sh [NAME...]   (from the repository root, after
#        cargo build -p zroute-router -p zroute-conformance -p zroute-worker --examples;
#        `websocket` needs Python's `websockets`: PYTHON names an interpreter with it)
# Without NAMEs it records them all.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=conformance/traces
bin=target/debug
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# record NAME COMMAND...: runs COMMAND (curl against $url) with a fresh router and worker.
record() {
  local name=$1; shift
  rm -rf "$work/rec" "$work/log"
  "$bin/zroute-router" --http 127.0.0.1:0 --admin 127.0.0.1:0 --workers 'tcp://127.0.0.1:*' \
    --log-format json --record "$work/rec" 2>"$work/log" &
  local router=$!
  local endpoint="" http=""
  for _ in $(seq 100); do
    endpoint=$(jq -r 'select(.fields.message=="workers endpoint bound") | .fields.endpoint' "$work/log" 2>/dev/null | head -1)
    http=$(jq -r 'select(.fields.message=="http listening") | .fields.addr' "$work/log" 2>/dev/null | head -1)
    [ -n "$endpoint" ] && [ -n "$http" ] && break
    sleep 0.1
  done
  "$bin/examples/testapp" w1 --connect "$endpoint" 2>/dev/null &
  local worker=$!
  url="http://$http"
  for _ in $(seq 100); do
    grep -q '"worker registered"' "$work/log" && break
    sleep 0.1
  done
  "$@"
  kill -TERM "$router"; wait "$router" || true
  kill -TERM "$worker" 2>/dev/null; wait "$worker" 2>/dev/null || true
  mv "$work"/rec/*.trace "$out/$name.trace"
  "$bin/zroute-conformance" trace to-json "$out/$name.trace" -o "$out/$name.json"
  echo "recorded $out/$name.trace"
}

hello() { curl -sS "$url/hello" >/dev/null; }
echo_streamed() {
  # A body sent in three chunks with pauses: the router forwards each as it comes.
  { printf 'first chunk,'; sleep 0.2; printf 'second chunk,'; sleep 0.2; printf 'last chunk'; } |
    curl -sS -X POST -T - -H 'content-type: text/plain' "$url/echo" >/dev/null
}
stream() { curl -sS "$url/stream?n=5&size=100" >/dev/null; }
trailers() { curl -sS "$url/trailers" >/dev/null; }
cancel() {
  # The client gives up on a slow request: the router resets the stream (CANCEL).
  curl -sS --max-time 0.3 "$url/slow?ms=5000" >/dev/null 2>&1 || true
  curl -sS "$url/hello" >/dev/null
}

websocket() {
  # Text, binary, then the worker closes (the test app's close:CODE:REASON) and
  # the client answers: the whole close handshake of spec §8.8.3.
  "${PYTHON:-python3}" - "$url" <<'PY'
import sys
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

with connect(sys.argv[1].replace("http://", "ws://") + "/ws/echo", subprotocols=["echo"]) as ws:
    ws.send("hello")
    assert ws.recv() == "hello"
    ws.send(b"\x00\x01\x02")
    assert ws.recv() == b"\x00\x01\x02"
    ws.send("close:4000:done")
    try:
        ws.recv()
    except ConnectionClosed:
        pass
PY
}

all=(hello echo stream trailers cancel websocket)
for name in "${@:-${all[@]}}"; do
  case $name in
    hello) record hello hello ;;
    echo) record echo echo_streamed ;;
    stream) record stream stream ;;
    trailers) record trailers trailers ;;
    cancel) record cancel cancel ;;
    websocket) record websocket websocket ;;
    *) echo "unknown trace $name" >&2; exit 2 ;;
  esac
done
