#!/usr/bin/env bash
# e2e: pneumo node against a real PACS (Debian's Orthanc), the way docs/node.md describes it.
#   node_orthanc_test.sh PNEUMO_BINARY SOURCE_DIR SHARED_DATA
# 1. storescu sends three real SIIM DICOMs (synthetic ones when ../shared/data is absent) to the
#    node; Orthanc must show one SEG, one SC and one SR in each source's study; the worklist lists
#    the studies in priority order.
# 2. The PACS is stopped, an image is sent, the PACS restarts: the result arrives.
# 3. kill -9 of the node with queued images; restart: every image processed exactly once.
# 4. Security: a SOP Instance UID with "/" and ".." is refused, nothing is written outside the
#    storage folder, the node keeps running; no PatientID appears in the node's log.
# Exit 77 (skipped) when orthanc or the DCMTK tools are missing.
set -euo pipefail
PNEUMO=$(realpath "$1"); SRC=$(realpath "$2"); DATA=$3
for tool in Orthanc storescu echoscu dcmodify dcmdump curl python3 sqlite3; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/install-deps.sh)"; exit 77; }
done
SHIPPED=$SRC/models/pneumo-siim.pneumo
[ -f "$SHIPPED" ] || { echo "SKIP: no model file $SHIPPED"; exit 77; }

T=$(mktemp -d /tmp/pneumo-node-e2e.XXXXXX)
ORTHANC_PID=""; NODE_PID=""
cleanup() {
  [ -n "$NODE_PID" ] && kill -9 "$NODE_PID" 2>/dev/null || true
  [ -n "$ORTHANC_PID" ] && kill "$ORTHANC_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- node log"; tail -40 "$T/node.log" 2>/dev/null || true; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DICOM_PORT=$(free_port); HTTP_PORT=$(free_port); NODE_PORT=$(free_port)
while [ "$HTTP_PORT" = "$DICOM_PORT" ]; do HTTP_PORT=$(free_port); done
while [ "$NODE_PORT" = "$DICOM_PORT" ] || [ "$NODE_PORT" = "$HTTP_PORT" ]; do NODE_PORT=$(free_port); done
API="http://127.0.0.1:$HTTP_PORT"

cat > "$T/orthanc.json" <<JSON
{ "Name": "pneumo-e2e", "StorageDirectory": "$T/orthanc-db", "IndexDirectory": "$T/orthanc-db",
  "DicomAet": "ORTHANC", "DicomPort": $DICOM_PORT, "HttpPort": $HTTP_PORT,
  "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "Plugins": [],
  "DicomModalities": { "pneumo": [ "PNEUMO", "127.0.0.1", $NODE_PORT ] } }
JSON
start_orthanc() {
  Orthanc "$T/orthanc.json" >>"$T/orthanc.log" 2>&1 &
  ORTHANC_PID=$!
  for _ in $(seq 100); do curl -sf "$API/system" >/dev/null && return 0; sleep 0.2; done
  fail "Orthanc did not start (see $T/orthanc.log)"
}
stop_orthanc() { kill "$ORTHANC_PID"; wait "$ORTHANC_PID" 2>/dev/null || true; ORTHANC_PID=""; }

# The shipped model's gate (0.90, tuned for Kaggle Dice) calls most images negative, which would
# leave the worklist with nothing to order. The node serves a copy whose gate is open
# (classifier_threshold 0: every image suspected, each with its own mask area), so the order
# "larger area first" is checked on the shipped network's own masks.
MODEL=${PNEUMO_NODE_TEST_MODEL:-$T/open-gate.pneumo}
if [ ! -f "$MODEL" ]; then
  /usr/bin/python3 - "$SHIPPED" "$MODEL" <<'PY' || fail "could not write $MODEL (python3-torch)"
import json, sys, torch
d = torch.load(sys.argv[1])
config = json.loads(d["config"])
config["thresholds"]["classifier_threshold"] = 0.0
d["config"] = json.dumps(config)
torch.save(d, sys.argv[2])
PY
fi

cat > "$T/node.json" <<JSON
{ "ae_title": "PNEUMO", "port": $NODE_PORT, "storage": "$T/node", "worklist": "$T/worklist.db",
  "destination": "ORTHANC@127.0.0.1:$DICOM_PORT", "models": ["$MODEL"], "workers": 1, "batch": 4,
  "retry_initial_s": 0.5, "retry_max_s": 2, "network_timeout_s": 10 }
JSON
start_node() {
  "$PNEUMO" node --config "$T/node.json" >>"$T/node.log" 2>&1 &
  NODE_PID=$!
  for _ in $(seq 300); do
    echoscu -aec PNEUMO 127.0.0.1 "$NODE_PORT" 2>/dev/null && return 0
    kill -0 "$NODE_PID" 2>/dev/null || fail "node exited"
    sleep 0.2
  done
  fail "node did not answer C-ECHO"
}

# Inputs: real SIIM files (UID-shaped names), else synthetic.
mkdir -p "$T/in"
if [ -d "$DATA/siim/dicom" ]; then
  # two labelled positives (large masks in train-rle.csv) and a negative first, so that the
  # worklist order has something to order; then more files
  D="$DATA/siim/dicom"; P=1.2.276.0.7230010.3.1.4.8323329
  mapfile -t FILES < <( (ls "$D/$P.12743.1517875241.599591.dcm" "$D/$P.1000.1517875165.878027.dcm" \
                            "$D/$P.615.1517875163.703375.dcm"; ls "$D"/1.2.*.dcm) | awk '!seen[$0]++' | head -10)
  echo "using real SIIM DICOMs from $DATA/siim/dicom"
else
  echo "NOTE: $DATA/siim/dicom absent: synthetic DICOMs"
  "$PNEUMO" synth --out "$T/synth" --count 10 --size 256 --seed 11 >/dev/null
  mapfile -t FILES < <(find "$T/synth" -name '*.dcm' | sort | head -10)
fi
[ ${#FILES[@]} -ge 10 ] || fail "need 10 input DICOMs, have ${#FILES[@]}"
sop_of() { dcmdump +P SOPInstanceUID "$1" | sed -E 's/.*\[(.*)\].*/\1/'; }
study_of() { dcmdump +P StudyInstanceUID "$1" | sed -E 's/.*\[(.*)\].*/\1/'; }

# Results in Orthanc for a source: "SEG OT SR" modalities of instances in its study, sorted.
results_for() {
  python3 - "$API" "$(study_of "$1")" <<'PY'
import json, sys, urllib.request
api, study = sys.argv[1], sys.argv[2]
req = urllib.request.Request(api + "/tools/find", data=json.dumps(
    {"Level": "Instance", "Query": {"StudyInstanceUID": study}, "Expand": True}).encode())
found = json.load(urllib.request.urlopen(req))
mods = sorted(i["MainDicomTags"].get("Modality") or
              json.load(urllib.request.urlopen(api + "/series/%s" % i["ParentSeries"]))["MainDicomTags"]["Modality"]
              for i in found)
print(" ".join(mods))
PY
}
wait_results() {  # wait_results TIMEOUT FILE...
  local timeout=$1; shift
  local deadline=$((SECONDS + timeout))
  for f in "$@"; do
    while [ "$(results_for "$f")" != "OT SEG SR" ]; do
      [ $SECONDS -lt $deadline ] || fail "no SEG+SC+SR for $(basename "$f") within ${timeout}s (got: '$(results_for "$f")')"
      sleep 0.5
    done
  done
}

start_orthanc
start_node

# --- 1. three images, results in the PACS, worklist order
storescu -xy -aec PNEUMO 127.0.0.1 "$NODE_PORT" "${FILES[@]:0:3}" || fail "storescu to the node failed"
wait_results 180 "${FILES[@]:0:3}"
echo "ok: SEG, SC and SR of 3 images stored in Orthanc, each in its source's study"
if command -v dciodvfy >/dev/null; then
  for f in "$T/node/results/$(sop_of "${FILES[0]}")"/{seg,sc,sr}.dcm; do
    errs=$(dciodvfy "$f" 2>&1 | grep '^Error' || true)
    [ -z "$errs" ] || fail "dciodvfy errors in $(basename "$f") of a real SIIM image: $errs"
  done
  echo "ok: the node's SEG, SC and SR of a real SIIM image pass dciodvfy"
fi
"$PNEUMO" worklist --db "$T/worklist.db"
"$PNEUMO" worklist --db "$T/worklist.db" --json > "$T/wl.json"
python3 - "$T/wl.json" <<'PY' || fail "worklist order"
import json, sys
s = json.load(open(sys.argv[1]))["studies"]
assert len(s) == 3, s
assert all(x["status"] == "done" for x in s), s
key = lambda x: (-int(bool(x["suspected"])), -(x["area_cm2"] or 0) if x["suspected"] else 0, x["received_at"])
assert [x["study_uid"] for x in s] == [x["study_uid"] for x in sorted(s, key=key)], s
assert [x["rank"] for x in s] == [1, 2, 3]
areas = [x["area_cm2"] for x in s if x["suspected"]]
assert len(areas) >= 2 and len(set(areas)) >= 2, "need suspected studies of different areas to check the order: %s" % s
print("ok: worklist in priority order:", [(x["suspected"], x["area_cm2"]) for x in s])
PY

# The node predicts through the same library path as `pneumo predict`: same record per image.
"$PNEUMO" predict --model "$MODEL" --input "${FILES[@]:0:3}" --out "$T/predict" --no-png --no-seg --no-sc >/dev/null \
  || fail "pneumo predict on the same three files failed"
for f in "${FILES[@]:0:3}"; do sqlite3 "$T/node/queue.db" "SELECT result FROM jobs WHERE sop_uid='$(sop_of "$f")'"; done \
  > "$T/node-results.jsonl"
python3 - "$T/predict/predictions.json" "$T/node-results.jsonl" <<'PY' || fail "node results differ from pneumo predict"
import json, sys
pred = {r["image_id"]: r for r in json.load(open(sys.argv[1]))["predictions"]}
node = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
assert len(node) == 3 and len(pred) == 3, (len(node), len(pred))
for r in node:
    p = pred[r["image_id"]]
    for k in ("probability", "positive", "threshold", "decided_by", "mask_area_px", "side"):
        assert r[k] == p[k], (r["image_id"], k, r[k], p[k])
print("ok: node results equal pneumo predict's records (probability, decision, area, side)")
PY

# --- 2. PACS down: the result waits and arrives after the restart
stop_orthanc
storescu -xy -aec PNEUMO 127.0.0.1 "$NODE_PORT" "${FILES[3]}" || fail "storescu (PACS down) failed"
SOP3=$(sop_of "${FILES[3]}")
for _ in $(seq 600); do
  a=$(sqlite3 "$T/node/queue.db" "SELECT send_attempts FROM jobs WHERE sop_uid='$SOP3'")
  [ "${a:-0}" -ge 1 ] && break; sleep 0.2
done
[ "${a:-0}" -ge 1 ] || fail "no failed send attempt while the PACS was down"
start_orthanc
wait_results 60 "${FILES[3]}"
echo "ok: PACS restarted, the result arrived after $(sqlite3 "$T/node/queue.db" "SELECT send_attempts FROM jobs WHERE sop_uid='$SOP3'") attempts"

# --- 3. kill -9 with queued images, restart, each processed once
storescu -xy -aec PNEUMO 127.0.0.1 "$NODE_PORT" "${FILES[@]:4:6}" || fail "storescu (burst) failed"
kill -9 "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true; NODE_PID=""
left=$(sqlite3 "$T/node/queue.db" "SELECT COUNT(*) FROM jobs WHERE state IN ('queued','running')")
echo "killed the node with $left image(s) queued or running"
start_node
wait_results 240 "${FILES[@]:4:6}"
bad=$(sqlite3 "$T/node/queue.db" "SELECT COUNT(*) FROM jobs WHERE processed_count != 1 OR state != 'sent'")
total=$(sqlite3 "$T/node/queue.db" "SELECT COUNT(*) FROM jobs")
[ "$bad" = 0 ] && [ "$total" = 10 ] || fail "after the crash: $bad of $total jobs not processed exactly once and sent"
n=$(curl -sf "$API/instances" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 30 ] || fail "Orthanc holds $n instances, expected 30 (3 per source, none twice)"
echo "ok: kill -9 mid-queue: 10 jobs processed exactly once, 30 results in Orthanc"

# --- 4. security: path-like UID refused; node still answers; no PatientID in the log
cp "${FILES[0]}" "$T/src-with-bad-uid.dcm"
dcmodify -nb -m "SOPInstanceUID=../../evil" "$T/src-with-bad-uid.dcm"
[ "$(sop_of "$T/src-with-bad-uid.dcm")" = "../../evil" ] || fail "could not make the test file with a path-like UID"
storescu -v -xy -aec PNEUMO 127.0.0.1 "$NODE_PORT" "$T/src-with-bad-uid.dcm" >"$T/evil.log" 2>&1 || true
grep -qi "c000\|cannotunderstand\|cannot understand" "$T/evil.log" || fail "path-like UID not refused with 0xC000: $(cat "$T/evil.log")"
[ -z "$(find "$T" -name 'evil*' ! -name evil.log)" ] || fail "a file named after the path-like UID exists: $(find "$T" -name 'evil*')"
echoscu -aec PNEUMO 127.0.0.1 "$NODE_PORT" || fail "node stopped answering after the refused UID"
for f in "${FILES[@]}"; do
  pid=$(dcmdump +P PatientID "$f" | sed -E 's/.*\[(.*)\].*/\1/')
  [ -n "$pid" ] && grep -qF "$pid" "$T/node.log" && fail "PatientID of $(basename "$f") appears in the node log"
done
echo "ok: path-like UID refused (0xC000), node still running, no PatientID in the log"

# --- 5. the viewer's worklist: pneumo serve --worklist lists the node's studies and serves their images
SERVE_PORT=$(free_port)
"$PNEUMO" serve --model "$MODEL" --port "$SERVE_PORT" --worklist "$T/worklist.db" --node-storage "$T/node" \
  >"$T/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$SERVE_PORT/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$SERVE_PORT/v1/worklist" > "$T/served-worklist.json" || fail "GET /v1/worklist failed"
"$PNEUMO" worklist --db "$T/worklist.db" --json > "$T/wl-final.json"
python3 - "$T/served-worklist.json" "$T/wl-final.json" <<'PY' || fail "served worklist differs from pneumo worklist"
import json, sys
served, cli = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert [i["id"] for i in served["items"]] == [s["study_uid"] for s in cli["studies"]]
assert all(i["url"] == "/v1/worklist/images/" + s["sop_uids"][0] for i, s in zip(served["items"], cli["studies"]))
PY
first_sop=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["studies"][0]["sop_uids"][0])' "$T/wl-final.json")
curl -sf "http://127.0.0.1:$SERVE_PORT/v1/worklist/images/$first_sop" -o "$T/opened.dcm" || fail "cannot open the first study"
cmp -s "$T/opened.dcm" "$T/node/images/$first_sop.dcm" || fail "the opened study is not the node's stored image"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
echo "ok: pneumo serve --worklist lists the studies in the worklist's order and opens the stored image"

kill -TERM "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true; NODE_PID=""
echo "PASS"
