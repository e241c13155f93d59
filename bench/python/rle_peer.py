#!/usr/bin/env python3
"""Python peer of bench_rle: decode + re-encode SIIM relative RLE masks.

Two peers, chosen with --peer:
  reference  rle2mask / mask2rle exactly as in the challenge's mask_functions.py
             (rle2mask: float64 mask, gap loop over numpy slices; mask2rle: per-pixel double
             loop over the 1024x1024 mask). mask2rle costs ~0.15 s per mask, so run.sh gives this
             peer (and pneumo) a fixed subset: --select positive --limit 200.
  numpy      the vectorised variant Kaggle kernels use: uint8 mask, cumulative starts, slice
             assignment; encode with np.diff over the zero-padded flat uint8 mask. run.sh runs it
             on every row.

Rows are read (every data row, duplicates kept, field trimmed) before the clock starts and
selected with --select/--limit exactly as bench_rle selects them. The timed loop is decode +
encode of each row and a check that the re-encoding equals the input text. Prints one JSON
object on stdout.
"""
import argparse
import csv
import json
import resource
import statistics
import sys
import time

import numpy as np


# ---- mask_functions.py (SIIM-ACR challenge), verbatim apart from formatting ----------------
def mask2rle(img, width, height):
    rle = []
    lastColor = 0
    currentPixel = 0
    runStart = -1
    runLength = 0

    for x in range(width):
        for y in range(height):
            currentColor = img[x][y]
            if currentColor != lastColor:
                if currentColor == 255:
                    runStart = currentPixel
                    runLength = 1
                else:
                    rle.append(str(runStart))
                    rle.append(str(runLength))
                    runStart = -1
                    runLength = 0
                    currentPixel = 0
            elif runStart > -1:
                runLength += 1
            lastColor = currentColor
            currentPixel += 1

    return " ".join(rle)


def rle2mask(rle, width, height):
    mask = np.zeros(width * height)
    array = np.asarray([int(x) for x in rle.split()])
    starts = array[0::2]
    lengths = array[1::2]

    current_position = 0
    for index, start in enumerate(starts):
        current_position += start
        mask[current_position:current_position + lengths[index]] = 255
        current_position += lengths[index]

    return mask.reshape(width, height)
# ----------------------------------------------------------------------------------------------


def rle_decode_numpy(rle, width, height):
    """Vectorised decode: relative (gap, length) pairs -> flat column-major uint8 mask."""
    mask = np.zeros(width * height, dtype=np.uint8)
    if rle == "-1":
        return mask
    values = np.array(rle.split(), dtype=np.int64)
    gaps, lengths = values[0::2], values[1::2]
    ends_before = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    starts = np.cumsum(gaps) + ends_before
    for start, length in zip(starts, lengths):
        mask[start:start + length] = 1
    return mask


def rle_encode_numpy(mask):
    """Vectorised encode: np.diff over the zero-padded flat mask (kept uint8, no int64 copy)."""
    padded = np.zeros(mask.size + 2, dtype=np.uint8)
    padded[1:-1] = mask
    edges = np.flatnonzero(np.diff(padded))
    if edges.size == 0:
        return "-1"
    starts, ends = edges[0::2], edges[1::2]
    gaps = starts - np.concatenate(([0], ends[:-1]))
    pairs = np.empty(2 * starts.size, dtype=np.int64)
    pairs[0::2] = gaps
    pairs[1::2] = ends - starts
    return " ".join(map(str, pairs.tolist()))


def load_rows(path, positive_only, limit):
    """EncodedPixels of every data row (duplicates kept), as bench_rle reads them."""
    rows = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)  # header "ImageId, EncodedPixels"
        for record in reader:
            if not record:
                continue
            encoded = record[1].strip()
            if positive_only and encoded == "-1":
                continue
            rows.append(encoded)
            if limit and len(rows) >= limit:
                break
    return rows


def run_reference(encodings):
    same = 0
    for rle in encodings:
        if rle == "-1":  # mask_functions.py has no empty case; kernels test for "-1" first
            img = np.zeros((1024, 1024))
            encoded = mask2rle(img, 1024, 1024) or "-1"
        else:
            img = rle2mask(rle, 1024, 1024)
            encoded = mask2rle(img, 1024, 1024)
        if encoded == rle:
            same += 1
    return same


def run_numpy(encodings):
    same = 0
    for rle in encodings:
        if rle_encode_numpy(rle_decode_numpy(rle, 1024, 1024)) == rle:
            same += 1
    return same


PEERS = {
    "reference": (run_reference, "mask_functions.py rle2mask + per-pixel mask2rle"),
    "numpy": (run_numpy, "numpy slice decode + np.diff encode"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--peer", choices=sorted(PEERS), required=True)
    ap.add_argument("--select", choices=["all", "positive"], default="all")
    ap.add_argument("--limit", type=int, default=0, help="first N selected rows (0 = all)")
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()

    encodings = load_rows(args.csv, args.select == "positive", args.limit)
    fn, description = PEERS[args.peer]

    times = []
    same = 0
    for _ in range(max(1, args.reps)):
        t0 = time.perf_counter()
        same = fn(encodings)
        times.append(time.perf_counter() - t0)

    out = {
        "side": "python", "seconds": statistics.median(times), "seconds_min": min(times),
        "reps": len(times), "items": len(encodings), "unit": "rows",
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "check": {"rows": len(encodings), "positive_rows": sum(e != "-1" for e in encodings),
                  "reencoded_equal": same},
        "ok": same == len(encodings),
        "peer": description,
    }
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
