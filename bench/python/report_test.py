#!/usr/bin/env python3
"""Tests report.py's check-key rules: a side that stops reporting an expected check key fails the
run (exit 1), extra keys are fine, matching checks pass. Run by ctest (bench_report_test)."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def side(check, seconds):
    return json.dumps({"seconds": seconds, "seconds_min": seconds, "items": 3, "peak_rss_kb": 1024, "check": check})


def run(records):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "records.tsv")
        with open(path, "w") as f:
            for case, kind, payload in records:
                f.write(f"{case}\t{kind}\t\t{payload}\n")
        out = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), path, "--out",
                              os.path.join(d, "results.json")], capture_output=True, text=True)
        return out.returncode, out.stdout + out.stderr


def main():
    full = {"rows": 3, "positive_rows": 1, "reencoded_equal": 3}
    failures = []

    code, text = run([("rle/numpy", "pneumo", side(full, 1)), ("rle/numpy", "python", side(full, 2))])
    if code != 0:
        failures.append(f"matching checks should pass, got {code}:\n{text}")

    partial = {"rows": 3, "positive_rows": 1}  # the peer no longer reports reencoded_equal
    code, text = run([("rle/numpy", "pneumo", side(full, 1)), ("rle/numpy", "python", side(partial, 2))])
    if code != 1 or "python check lacks reencoded_equal" not in text:
        failures.append(f"a missing expected key must fail, got {code}:\n{text}")

    extra = dict(full, pixel_sum=5)
    code, text = run([("rle/numpy", "pneumo", side(extra, 1)), ("rle/numpy", "python", side(full, 2))])
    if code != 0:
        failures.append(f"an extra key on one side is fine, got {code}:\n{text}")

    code, text = run([("new-case", "pneumo", side({"a": 1}, 1)), ("new-case", "python", side({"b": 1}, 2))])
    if code != 1 or "check keys differ" not in text:
        failures.append(f"an unlisted case must report the same keys on both sides, got {code}:\n{text}")

    for f in failures:
        print("FAIL:", f)
    print("report_test:", "ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
