#!/usr/bin/env python3
"""Pairs the records bench/run.sh collected, prints the side-by-side table, writes JSON.

Input: one record per line, tab-separated: CASE, KIND, GOAL, PAYLOAD where KIND is
  pneumo | python   PAYLOAD is the JSON object the side printed, or {"error": "..."}
  note              PAYLOAD is free text shown under the table
  skip              PAYLOAD is the reason the case did not run
speed-up = python seconds / pneumo seconds (median of each side's repetitions). Both sides'
"check" objects must hold every key EXPECTED_CHECK_KEYS lists for the case (a side that stops
reporting one is a failure, not a silently smaller comparison) and agree on all the keys they
share (integers exactly, floats within 0.5 %), which shows both sides did the same work. A case
with no entry there must report the same non-empty key set on both sides. Exit status 1 when a
side failed or the checks are missing or disagree; a missed goal is a figure, not a failure.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile


def load(path):
    cases, order, skips = {}, [], []
    with open(path) as f:
        for raw in f:
            parts = raw.rstrip("\n").split("\t", 3)
            if len(parts) != 4:
                continue
            name, kind, goal, payload = parts
            if kind == "skip":
                skips.append({"case": name, "reason": payload})
                continue
            if name not in cases:
                cases[name] = {"case": name, "goal": None, "notes": []}
                order.append(name)
            entry = cases[name]
            if goal:
                entry["goal"] = float(goal)
            if kind == "note":
                entry["notes"].append(payload)
            else:
                try:
                    entry[kind] = json.loads(payload)
                except json.JSONDecodeError:
                    entry[kind] = {"error": f"unreadable output: {payload[:200]}"}
    return [cases[n] for n in order], skips


# The check keys each case must report on both sides, by case-name prefix (longest match wins).
EXPECTED_CHECK_KEYS = {
    "rle/": {"rows", "positive_rows", "reencoded_equal"},
    "dicom/": {"files", "items", "mean_pixel"},
    "csv-index": {"rows", "duplicate_rows", "images", "positive_images", "negative_images", "mask_rows",
                  "multi_mask_images"},
    "forward/": {"batch", "size", "parameters", "mean_abs_logit"},
    "train-step/": {"batch", "size", "steps", "first_loss", "last_loss"},
    "loader/": {"samples", "input_pixel_sum", "input_mask_pixels", "items", "size"},
    "predict": {"rows", "positive", "mask_pixels"},
}


def expected_keys(case):
    """The required check keys of `case`, or None when no prefix matches."""
    matches = [prefix for prefix in EXPECTED_CHECK_KEYS if case.startswith(prefix)]
    return EXPECTED_CHECK_KEYS[max(matches, key=len)] if matches else None


def missing_checks(case, a, b):
    """Problems with the key sets of the two sides' check objects."""
    problems = []
    required = expected_keys(case)
    if required is None:
        if not a or not b:
            problems.append("a side reported no check values")
        elif set(a) != set(b):
            problems.append(f"check keys differ: pneumo {sorted(set(a) - set(b))} vs python {sorted(set(b) - set(a))}")
        return problems
    for side_name, side in (("pneumo", a), ("python", b)):
        missing = sorted(required - set(side))
        if missing:
            problems.append(f"{side_name} check lacks {', '.join(missing)}")
    return problems


def compare_checks(a, b):
    """Names of the common check fields whose values differ."""
    differ = []
    for key in sorted(set(a) & set(b)):
        x, y = a[key], b[key]
        if isinstance(x, float) or isinstance(y, float):
            if abs(x - y) > 0.005 * max(abs(x), abs(y), 1e-9):
                differ.append(f"{key} {x:.4g} vs {y:.4g}")
        elif x != y:
            differ.append(f"{key} {x} vs {y}")
    return differ


def seconds_text(s):
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def per_item_text(side):
    if not side.get("items"):
        return ""
    per = side["seconds"] / side["items"]
    unit = side.get("unit", "item").rstrip("s")
    if per < 1e-3:
        return f"{per * 1e6:.1f} us/{unit}"
    return f"{per * 1e3:.2f} ms/{unit}"


def summarise(entry):
    p, q = entry.get("pneumo"), entry.get("python")
    problems = []
    for side_name, side in (("pneumo", p), ("python", q)):
        if side is None:
            problems.append(f"{side_name} did not run")
        elif "error" in side:
            problems.append(f"{side_name}: {side['error']}")
        elif not side.get("ok", True):
            problems.append(f"{side_name} check failed: {side.get('check')}")
    entry["speedup"] = None
    entry["speedup_min"] = None
    entry["goal_met"] = None
    if not problems:
        if p.get("items") != q.get("items"):
            problems.append(f"item counts differ: pneumo {p.get('items')}, python {q.get('items')}")
        problems += missing_checks(entry["case"], p.get("check", {}), q.get("check", {}))
        problems += compare_checks(p.get("check", {}), q.get("check", {}))
        entry["speedup"] = q["seconds"] / p["seconds"] if p["seconds"] > 0 else None
        # Ratio of the fastest repetitions: steadier than the median on a busy machine.
        entry["speedup_min"] = (q["seconds_min"] / p["seconds_min"]
                                if p.get("seconds_min") and q.get("seconds_min") else None)
        if entry["goal"] is not None and entry["speedup"] is not None:
            entry["goal_met"] = entry["speedup"] >= entry["goal"]
    entry["problems"] = problems
    return entry


def print_table(entries, skips, out):
    if not entries:
        print("(no case ran)", file=out)
    header = ["case", "items", "pneumo", "python", "speed-up", "goal", "status", "RSS pneumo", "RSS python"]
    rows = []
    for e in entries:
        p, q = e.get("pneumo") or {}, e.get("python") or {}
        ok = "error" not in p and "error" not in q and p and q

        def rss(side):
            kb = side.get("peak_rss_kb")
            extra = side.get("peak_rss_children_kb")
            text = f"{kb / 1024:.0f} MiB" if kb else "-"
            return text + (f" (+{extra / 1024:.0f}/worker)" if extra else "")

        rows.append([
            e["case"],
            str(p.get("items", q.get("items", "-"))),
            f"{seconds_text(p['seconds'])} ({per_item_text(p)})" if ok else "-",
            f"{seconds_text(q['seconds'])} ({per_item_text(q)})" if ok else "-",
            f"{e['speedup']:.1f}x" if e["speedup"] else "-",
            f">= {e['goal']:g}x" if e["goal"] is not None else "-",
            "FAIL" if e["problems"] else {True: "met", False: "missed", None: ""}[e["goal_met"]],
            rss(p) if ok else "-", rss(q) if ok else "-",
        ])
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    if not rows:
        widths = [0] * len(header)
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    print(line(header), file=out)
    print(line(["-" * w for w in widths]), file=out)
    for r in rows:
        print(line(r), file=out)
    print(file=out)
    for e in entries:
        for side_name in ("pneumo", "python"):
            side = e.get(side_name) or {}
            if side.get("peer"):
                print(f"  {e['case']}: python peer = {side['peer']}", file=out)
        for note in e["notes"]:
            print(f"  {e['case']}: {note}", file=out)
        for problem in e["problems"]:
            print(f"  {e['case']}: PROBLEM {problem}", file=out)
    for s in skips:
        print(f"  skip {s['case']}: {s['reason']}", file=out)


def markdown(entries, skips, result):
    """The table as Markdown, for pasting into docs/benchmarks.md."""
    lines = [f"Run {result['date']}, commit {result['commit']}, {result['machine']['cpus']} cpus "
             f"({result['machine']['cpu']}), load average {result['machine']['load_avg_1m']}"
             + (", --quick" if result["quick"] else "") + ".", "",
             "| case | items | pneumo | python | speed-up | goal | peak RSS pneumo / python |",
             "|---|---:|---:|---:|---:|---|---|"]
    for e in entries:
        p, q = e.get("pneumo") or {}, e.get("python") or {}
        if e["problems"]:
            lines.append(f"| {e['case']} | | | | | | FAIL: {'; '.join(e['problems'])} |")
            continue
        goal = "—" if e["goal"] is None else f"≥ {e['goal']:g}× ({'met' if e['goal_met'] else 'missed'})"
        rss = f"{p['peak_rss_kb'] / 1024:.0f} / {q['peak_rss_kb'] / 1024:.0f} MiB"
        lines.append(f"| {e['case']} | {p['items']} | {seconds_text(p['seconds'])} ({per_item_text(p)}) | "
                     f"{seconds_text(q['seconds'])} ({per_item_text(q)}) | **{e['speedup']:.1f}×** | {goal} | {rss} |")
    for s in skips:
        lines.append(f"\nskipped {s['case']}: {s['reason']}")
    return "\n".join(lines) + "\n"


def git_commit(root):
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "bench"],
                               capture_output=True, text=True).stdout.strip()
        return commit + ("+dirty-bench" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_atomic(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".bench-results-", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records")
    ap.add_argument("--out", required=True, help="JSON results file")
    ap.add_argument("--root", default=".", help="repository root (for the commit)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()

    entries, skips = load(args.records)
    entries = [summarise(e) for e in entries]
    print_table(entries, skips, sys.stdout)
    result = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": git_commit(args.root),
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
                    "load_avg_1m": round(os.getloadavg()[0], 2)},
        "cases": entries,
        "skipped": skips,
    }
    write_atomic(args.out, json.dumps(result, indent=2) + "\n")
    markdown_path = os.path.splitext(args.out)[0] + ".md"
    write_atomic(markdown_path, markdown(entries, skips, result))
    print(f"\nload average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus"
          " -- other work on the machine slows both sides")
    print(f"results: {args.out} (table as Markdown: {markdown_path})")
    return 1 if any(e["problems"] for e in entries) else 0


if __name__ == "__main__":
    sys.exit(main())
