#!/usr/bin/env python3
"""Python peer of bench_csv_index: parse + index train-rle.csv with pandas.

Timed, per repetition (the file is in the page cache after one untimed warm-up):
  pandas.read_csv(path, skipinitialspace=True, dtype=str), strip the column names and the
  EncodedPixels text, count exact duplicate rows (DataFrame.duplicated) and drop them, then
  groupby("ImageId", sort=False) and aggregate per image: mask rows (EncodedPixels != "-1").
  Reported: data rows, duplicate rows, images, positive / negative images, mask rows, images
  with more than one mask. pandas does not look inside the RLE text; pneumo's
  csv-index (validate=false) does not either, csv-index/validate decodes every RLE as well.
Prints one JSON object on stdout.
"""
import argparse
import json
import resource
import statistics
import sys
import time

import pandas as pd


def index_labels(path):
    df = pd.read_csv(path, skipinitialspace=True, dtype=str)
    df.columns = [c.strip() for c in df.columns]
    df["EncodedPixels"] = df["EncodedPixels"].str.strip()
    duplicated = df.duplicated()
    unique = df[~duplicated]
    masks_per_image = (unique["EncodedPixels"] != "-1").groupby(unique["ImageId"], sort=False).sum()
    return {
        "rows": int(len(df)),
        "duplicate_rows": int(duplicated.sum()),
        "images": int(len(masks_per_image)),
        "positive_images": int((masks_per_image > 0).sum()),
        "negative_images": int((masks_per_image == 0).sum()),
        "mask_rows": int(masks_per_image.sum()),
        "multi_mask_images": int((masks_per_image > 1).sum()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    index_labels(args.csv)  # warm-up
    times = []
    check = {}
    for _ in range(max(1, args.reps)):
        t0 = time.perf_counter()
        check = index_labels(args.csv)
        times.append(time.perf_counter() - t0)

    out = {
        "side": "python", "seconds": statistics.median(times), "seconds_min": min(times),
        "reps": len(times), "items": check["rows"], "unit": "rows",
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "check": check, "ok": True,
        "peer": "pandas.read_csv + duplicated + groupby(ImageId)",
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
