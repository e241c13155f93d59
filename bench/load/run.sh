#!/usr/bin/env bash
# Load benchmark: `pneumo serve` and its Python peer (peer_server.py: the same model file in PyTorch
# behind http.server.ThreadingHTTPServer) under the same closed-loop load, one after the other on
# the same machine, then the images/s ratio. Not a timed test: figures go to docs/benchmarks.md.
#
#   bench/load/run.sh [--clients 64] [--duration 60] [--warmup 5] [--only pneumo|python] [--rounds N]
#
# --rounds N (N >= 2): both servers run at once and the load alternates between them, N windows of
# --duration s each (order swapped every round), so that both sides see the same background load
# on a shared machine; the ratio is the median of the per-round ratios, and the RSS series covers
# all rounds (does the service's memory grow over the whole run?).
#
# Each side: start the server on a free loopback port, wait for /ready, run loadgen.py (64 clients
# POSTing the real SIIM DICOMs in $PNEUMO_SHARED_DATA/siim/dicom for --duration s after --warmup s,
# RSS of the server sampled every 0.5 s), stop it with SIGTERM. pneumo serve runs with its defaults
# and the shipped model; the peer with the same --max-batch (4) and all cores for torch.
# $PNEUMO_PEER_ARGS is added to the peer's command line (e.g. --channels-last).
# Binary: $PNEUMO_BIN (default $PNEUMO_BUILD_DIR/apps/pneumo/pneumo, build/ by default); model:
# $PNEUMO_MODEL (default models/pneumo-siim.pneumo); Python: $PNEUMO_PYTHON (default /usr/bin/python3).
# Results: one JSON line per side in $PNEUMO_BUILD_DIR/bench-load.json, a table on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

CLIENTS=64
DURATION=60
WARMUP=5
ONLY=""
ROUNDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) CLIENTS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

BUILD_DIR="${PNEUMO_BUILD_DIR:-build}"
BIN="${PNEUMO_BIN:-$BUILD_DIR/apps/pneumo/pneumo}"
MODEL="${PNEUMO_MODEL:-$ROOT/models/pneumo-siim.pneumo}"
DATA="${PNEUMO_SHARED_DATA:-$ROOT/../shared/data}/siim/dicom"
PY="${PNEUMO_PYTHON:-/usr/bin/python3}"
RESULTS="$BUILD_DIR/bench-load.json"
WORK="$(mktemp -d)"
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    # A graceful stop first answers the requests still queued (up to 64): give it 2 minutes.
    for _ in $(seq 1 1200); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SERVER_PID" 2>/dev/null && { echo "run.sh: server $SERVER_PID still draining 120 s after SIGTERM, killing it" >&2; kill -KILL "$SERVER_PID"; }
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT

[ -d "$DATA" ] || { echo "run.sh: no DICOMs at $DATA (set PNEUMO_SHARED_DATA)" >&2; exit 2; }
[ -f "$MODEL" ] || { echo "run.sh: no model file at $MODEL" >&2; exit 2; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() {  # URL PID LOG
  for _ in $(seq 1 1200); do
    kill -0 "$2" 2>/dev/null || { echo "run.sh: the server exited before /ready; log:" >&2; tail -n 20 "$3" >&2; return 1; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/ready" || true)" = 200 ] && return 0
    sleep 0.25
  done
  echo "run.sh: $1/ready not 200 after 300 s" >&2
  return 1
}

run_side() {  # LABEL command...
  local label="$1"; shift
  local port log
  port="$(free_port)"
  log="$WORK/$label.log"
  "$@" --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:$port" "$SERVER_PID" "$log"
  echo "== $label: $CLIENTS clients, ${WARMUP} s warm-up + ${DURATION} s on $(find "$DATA" -name '*.dcm' | wc -l) DICOMs" >&2
  "$PY" "$ROOT/bench/load/loadgen.py" --url "http://127.0.0.1:$port" --files "$DATA" --clients "$CLIENTS" \
    --duration "$DURATION" --warmup "$WARMUP" --pid "$SERVER_PID" --label "$label" --json "$WORK/$label.json" >/dev/null
  stop_server
  cat "$WORK/$label.json" >>"$RESULTS.tmp"
}

mkdir -p "$BUILD_DIR"
rm -f "$RESULTS.tmp"
if [ "$ROUNDS" -ge 2 ]; then
  [ -z "$ONLY" ] || { echo "run.sh: --rounds compares both sides; drop --only" >&2; exit 2; }
  [ -x "$BIN" ] || { echo "run.sh: no pneumo binary at $BIN (bash scripts/build.sh, or set PNEUMO_BIN)" >&2; exit 2; }
  P_PORT="$(free_port)"; Y_PORT="$(free_port)"
  while [ "$Y_PORT" = "$P_PORT" ]; do Y_PORT="$(free_port)"; done
  "$BIN" serve --model "$MODEL" --host 127.0.0.1 --port "$P_PORT" >"$WORK/pneumo.log" 2>&1 &
  P_PID=$!
  # shellcheck disable=SC2086 # PNEUMO_PEER_ARGS is a list of words
  "$PY" "$ROOT/bench/load/peer_server.py" --model "$MODEL" --max-batch 4 ${PNEUMO_PEER_ARGS:-} --host 127.0.0.1 \
    --port "$Y_PORT" >"$WORK/python.log" 2>&1 &
  Y_PID=$!
  trap 'kill -TERM $P_PID $Y_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
  wait_ready "http://127.0.0.1:$P_PORT" "$P_PID" "$WORK/pneumo.log"
  wait_ready "http://127.0.0.1:$Y_PORT" "$Y_PID" "$WORK/python.log"
  for r in $(seq 1 "$ROUNDS"); do
    order="pneumo python"; [ $((r % 2)) = 0 ] && order="python pneumo"
    for side in $order; do
      if [ "$side" = pneumo ]; then port=$P_PORT; pid=$P_PID; else port=$Y_PORT; pid=$Y_PID; fi
      echo "== round $r/$ROUNDS $side: $CLIENTS clients, ${WARMUP} s warm-up + ${DURATION} s" >&2
      "$PY" "$ROOT/bench/load/loadgen.py" --url "http://127.0.0.1:$port" --files "$DATA" --clients "$CLIENTS" \
        --duration "$DURATION" --warmup "$WARMUP" --pid "$pid" --label "$side" --json "$WORK/$side-$r.json" >/dev/null
      "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); r["round"]=int(sys.argv[2]); print(json.dumps(r))' \
        "$WORK/$side-$r.json" "$r" >>"$RESULTS.tmp"
    done
  done
  mv "$RESULTS.tmp" "$RESULTS"
  "$PY" - "$RESULTS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rounds = sorted({r["round"] for r in rows})
by = {(r["label"], r["round"]): r for r in rows}
print(f"{'round':>5} {'pneumo img/s':>13} {'python img/s':>13} {'ratio':>6}   pneumo p50/p95/p99 ms     python p50/p95/p99 ms")
ratios = []
for k in rounds:
    p, y = by[("pneumo", k)], by[("python", k)]
    ratio = p["images_per_s"] / y["images_per_s"] if y["images_per_s"] > 0 else float("nan")
    ratios.append(ratio)
    fmt = lambda r: "/".join(f"{r['latency_ms'][q] or 0:.0f}" for q in ("p50", "p95", "p99"))
    print(f"{k:5d} {p['images_per_s']:13.2f} {y['images_per_s']:13.2f} {ratio:6.2f}   {fmt(p):24} {fmt(y)}")
for side in ("pneumo", "python"):
    rs = [by[(side, k)] for k in rounds]
    tot = lambda key: sum(r[key] for r in rs)
    first, last = rs[0]["rss_mb"], rs[-1]["rss_mb"]
    print(f"{side}: {tot('ok')} x 200, {tot('status_429')} x 429, {tot('status_4xx')} other 4xx, {tot('status_5xx')} x 5xx, "
          f"{tot('dropped')} dropped; {tot('ok') / sum(r['duration_s'] for r in rs):.2f} images/s over all rounds; "
          f"RSS max in the first 10 % of round 1 {first['first_10pct_max']} MB, in the last 10 % of round {rounds[-1]} "
          f"{last['last_10pct_max']} MB, peak (VmHWM) {max(r['rss_mb']['vm_hwm'] for r in rs)} MB")
print(f"images/s ratio pneumo/python, median of {len(ratios)} rounds: {statistics.median(ratios):.2f} "
      f"(min {min(ratios):.2f}, max {max(ratios):.2f}; goal >= 1.5)")
EOF
  exit 0
fi
if [ "$ONLY" != python ]; then
  [ -x "$BIN" ] || { echo "run.sh: no pneumo binary at $BIN (bash scripts/build.sh, or set PNEUMO_BIN)" >&2; exit 2; }
  run_side pneumo "$BIN" serve --model "$MODEL"
fi
if [ "$ONLY" != pneumo ]; then
  # shellcheck disable=SC2086 # PNEUMO_PEER_ARGS is a list of words
  run_side python "$PY" "$ROOT/bench/load/peer_server.py" --model "$MODEL" --max-batch 4 ${PNEUMO_PEER_ARGS:-}
fi
mv "$RESULTS.tmp" "$RESULTS"

"$PY" - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'server':8} {'img/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'200':>6} {'429':>5} {'4xx':>4} {'5xx':>4} {'drop':>5} {'RSS peak MB':>12} {'RSS first/last 10% MB':>22}")
for r in rows:
    rss = r.get("rss_mb", {})
    lat = r["latency_ms"]
    print(f"{r['label']:8} {r['images_per_s']:7.2f} {lat['p50'] or 0:8.0f} {lat['p95'] or 0:8.0f} {lat['p99'] or 0:8.0f} "
          f"{r['ok']:6d} {r['status_429']:5d} {r['status_4xx']:4d} {r['status_5xx']:4d} {r['dropped']:5d} "
          f"{rss.get('vm_hwm', 0):12.0f} {str(rss.get('first_10pct_max'))+' / '+str(rss.get('last_10pct_max')):>22}")
    for k, v in r.get("errors", {}).items():
        print(f"         first {k}: {v}")
by = {r["label"]: r for r in rows}
if "pneumo" in by and "python" in by and by["python"]["images_per_s"] > 0:
    print(f"images/s ratio pneumo/python: {by['pneumo']['images_per_s'] / by['python']['images_per_s']:.2f} (goal >= 1.5)")
EOF
