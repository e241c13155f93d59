#!/usr/bin/env bash
# Burst benchmark of pneumo node against a real Orthanc: N real SIIM DICOMs (the 47 files of
# ../shared/data/siim/dicom repeated with fresh Study/Series/SOP Instance UIDs) sent in one
# storescu association; images/s from the first receipt to the last result stored in Orthanc, and
# median / p95 of (result acknowledged by Orthanc - instance durably received) per image, from the
# node's queue.db.
#   bench/node_burst.sh PNEUMO_BINARY [N=200] [MODEL=models/pneumo-siim.pneumo]
set -euo pipefail
PNEUMO=$(realpath "$1"); N=${2:-200}; SRC=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${3:-$SRC/models/pneumo-siim.pneumo}; DATA=$SRC/../shared/data/siim/dicom
T=$(mktemp -d /tmp/pneumo-node-bench.XXXXXX); ORTHANC_PID=""; NODE_PID=""
trap '[ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null; [ -n "$ORTHANC_PID" ] && kill "$ORTHANC_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DP=$(free_port); HP=$(free_port); NP=$(free_port)
cat > "$T/orthanc.json" <<JSON
{ "Name": "bench", "StorageDirectory": "$T/o", "IndexDirectory": "$T/o", "DicomAet": "ORTHANC",
  "DicomPort": $DP, "HttpPort": $HP, "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "Plugins": [] }
JSON
Orthanc "$T/orthanc.json" >"$T/orthanc.log" 2>&1 & ORTHANC_PID=$!
until curl -sf "http://127.0.0.1:$HP/system" >/dev/null; do sleep 0.2; done
mkdir -p "$T/in"; i=0
while [ $i -lt "$N" ]; do
  for f in "$DATA"/*.dcm; do
    [ $i -lt "$N" ] || break
    cp "$f" "$T/in/$i.dcm"; i=$((i + 1))
  done
done
dcmodify -nb -q -gst -gse -gin "$T"/in/*.dcm   # fresh Study/Series/SOP Instance UIDs per file
"$PNEUMO" node --aet PNEUMO --port "$NP" --storage "$T/node" --destination "ORTHANC@127.0.0.1:$DP" \
  --model "$MODEL" --batch 4 >"$T/node.log" 2>&1 & NODE_PID=$!
until echoscu -aec PNEUMO 127.0.0.1 "$NP" 2>/dev/null; do sleep 0.2; done
storescu -xy -aec PNEUMO 127.0.0.1 "$NP" "$T"/in/*.dcm
until [ "$(sqlite3 "$T/node/queue.db" "SELECT COUNT(*) FROM jobs WHERE state IN ('sent','failed')")" -ge "$N" ]; do sleep 1; done
n_orthanc=$(curl -sf "http://127.0.0.1:$HP/instances" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
sqlite3 -separator ' ' "$T/node/queue.db" "SELECT received_s, sent_s, state FROM jobs" | python3 -c '
import sys, statistics
rows = [l.split() for l in sys.stdin]
sent = [(float(a), float(b)) for a, b, s in rows if s == "sent"]
lat = sorted(b - a for a, b in sent)
span = max(b for a, b in sent) - min(a for a, b in sent)
p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
print(f"images: {len(rows)} ({len(sent)} sent, {len(rows) - len(sent)} failed)")
print(f"throughput: {len(sent) / span:.2f} images/s (first receipt to last result in the PACS, {span:.1f} s)")
print(f"receipt -> result in PACS: median {statistics.median(lat):.2f} s, p95 {p95:.2f} s, max {lat[-1]:.2f} s")
'
echo "Orthanc instances: $n_orthanc (expected $((3 * N)))"
