#!/usr/bin/env python3
"""Closed-loop HTTP load generator for `pneumo serve` and its Python peer (standard library only).

  loadgen.py --url http://127.0.0.1:8080 --files DIR [--clients 64] [--duration 60] [--warmup 5]
             [--pid PID] [--label NAME] [--json OUT]

Every client is a thread with its own keep-alive HTTP/1.1 connection that POSTs one DICOM after
another to /v1/predict (Content-Type application/dicom; files from DIR, recursive *.dcm, read into
memory first; client k starts at file k and walks the list), waiting for each answer before the
next request (closed loop: 64 clients = at most 64 requests in flight).
Requests that finish during --warmup seconds are not counted; then --duration seconds are measured.
Counted per request: the status (2xx, 429, other 4xx, 5xx) and the latency from sending the
request to reading the whole response; a "dropped connection" is a request that got no HTTP
response at all (connection refused/reset/closed early, or no answer within 120 s); the client
then reconnects. A 429 is honoured: the client sleeps for Retry-After (capped at 1 s) and retries.
With --pid, the server's resident set size (VmRSS in /proc/PID/status) is sampled every 0.5 s over
the whole run, and VmHWM (the kernel's peak) is read at the end.
Prints one JSON object on the last line (and writes it to --json): images_per_s (200s per second of
the measured window), p50/p95/p99/max latency in ms, counts, RSS samples and summary.
"""
import argparse
import glob
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def read_status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(q / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies_ms = []
        self.counts = {"ok": 0, "429": 0, "4xx": 0, "5xx": 0, "dropped": 0, "other": 0}
        self.examples = {}  # first error text per kind, for the report

    def add(self, kind, latency_ms=None, example=None):
        with self.lock:
            self.counts[kind] += 1
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)
            if example and kind not in self.examples:
                self.examples[kind] = example[:300]


def client(idx, host, port, path, bodies, t_measure, t_end, stats, stop):
    conn = None
    i = idx % len(bodies)
    while not stop.is_set() and time.monotonic() < t_end:
        body = bodies[i]
        i = (i + 1) % len(bodies)
        t0 = time.monotonic()
        counted = t0 >= t_measure
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=120)
            conn.request("POST", path, body=body, headers={"Content-Type": "application/dicom"})
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            retry_after = resp.getheader("Retry-After")
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            if conn is not None:
                conn.close()
            conn = None
            if time.monotonic() < t_end and counted:
                stats.add("dropped", example=f"{type(e).__name__}: {e}")
            time.sleep(0.05)
            continue
        t1 = time.monotonic()
        # Count what completes inside the measured window.
        if t1 < t_measure or t1 > t_end:
            pass
        elif 200 <= status < 300:
            stats.add("ok", (t1 - t0) * 1000.0)
        elif status == 429:
            stats.add("429")
        elif 400 <= status < 500:
            stats.add("4xx", example=f"{status}: {data[:200]!r}")
        elif status >= 500:
            stats.add("5xx", example=f"{status}: {data[:200]!r}")
        else:
            stats.add("other", example=f"{status}")
        if status == 429:
            try:
                wait = float(retry_after) if retry_after else 0.1
            except ValueError:
                wait = 0.1
            time.sleep(min(1.0, max(0.01, wait)))
    if conn is not None:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--files", required=True, help="folder of DICOMs (recursive *.dcm)")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds before the measured window")
    ap.add_argument("--pid", type=int, help="server process to sample RSS from")
    ap.add_argument("--label", default="")
    ap.add_argument("--json", help="also write the result object here")
    args = ap.parse_args()

    url = urllib.parse.urlparse(args.url)
    host, port = url.hostname, url.port or 80
    path = (url.path.rstrip("/") or "") + "/v1/predict"
    files = sorted(glob.glob(os.path.join(args.files, "**", "*.dcm"), recursive=True))
    if not files:
        print(f"loadgen.py: no *.dcm under {args.files}", file=sys.stderr)
        return 2
    bodies = []
    for f in files:
        with open(f, "rb") as fh:
            bodies.append(fh.read())

    stats = Stats()
    stop = threading.Event()
    t_start = time.monotonic()
    t_measure = t_start + args.warmup
    t_end = t_measure + args.duration
    rss = []  # (seconds since start, kB)

    def sampler():
        while not stop.is_set():
            kb = read_status_kb(args.pid, "VmRSS")
            if kb is not None:
                rss.append((round(time.monotonic() - t_start, 2), kb))
            stop.wait(0.5)

    threads = [threading.Thread(target=client, args=(k, host, port, path, bodies, t_measure, t_end, stats, stop),
                                daemon=True) for k in range(args.clients)]
    if args.pid:
        threading.Thread(target=sampler, daemon=True).start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, t_end - time.monotonic()) + 130)
    stop.set()
    hung = sum(t.is_alive() for t in threads)

    lat = sorted(stats.latencies_ms)
    result = {
        "label": args.label, "clients": args.clients, "duration_s": args.duration, "warmup_s": args.warmup,
        "files": len(files), "ok": stats.counts["ok"], "status_429": stats.counts["429"],
        "status_4xx": stats.counts["4xx"], "status_5xx": stats.counts["5xx"], "dropped": stats.counts["dropped"],
        "other": stats.counts["other"], "hung_clients": hung,
        "images_per_s": round(stats.counts["ok"] / args.duration, 3),
        "latency_ms": {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99),
                       "max": lat[-1] if lat else None},
        "errors": stats.examples,
    }
    for k, v in result["latency_ms"].items():
        if v is not None:
            result["latency_ms"][k] = round(v, 1)
    if args.pid:
        kbs = [kb for _, kb in rss]
        measured = [kb for t, kb in rss if t >= args.warmup]
        tenth = max(1, len(measured) // 10)
        result["rss_mb"] = {
            "peak_sampled": round(max(kbs) / 1024, 1) if kbs else None,
            "vm_hwm": round((read_status_kb(args.pid, "VmHWM") or 0) / 1024, 1),
            "first_10pct_max": round(max(measured[:tenth]) / 1024, 1) if measured else None,
            "last_10pct_max": round(max(measured[-tenth:]) / 1024, 1) if measured else None,
            "samples": len(kbs),
        }
        result["rss_series_mb"] = [[t, round(kb / 1024, 1)] for t, kb in rss[::4]]
    text = json.dumps(result)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
