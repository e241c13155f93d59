#!/usr/bin/env python3
"""Python peer of bench_dicom: read SIIM DICOMs to 8-bit and resize to 512x512.

Per file, exactly:
  1. pydicom.dcmread(path)                       (header + encapsulated pixel data bytes)
  2. pydicom.encaps.generate_pixel_data_frame    (the single JPEG baseline frame)
  3. --decode full (default, the Kaggle-style loader):
       cv2.imdecode(..., IMREAD_UNCHANGED)       (libjpeg-turbo inside OpenCV, full size)
     --decode reduced (what pneumo::read_dicom_resized does, for a like-for-like comparison):
       cv2.imdecode(..., IMREAD_REDUCED_GRAYSCALE_D) with D the largest of 8, 4, 2 that divides
       the stored size and leaves at least --size pixels (D = 2 for 1024 -> 512): libjpeg's
       DCT-domain scaling, driven by OpenCV
     Debian's pydicom 2.3 has no JPEG handler here (no pylibjpeg, GDCM or Pillow installed),
     so ds.pixel_array cannot decode these files; this is the usual workaround.
  4. 8-bit mapping as pneumo::read_dicom does it for these files (8 bits stored, unsigned, no
     rescale, VOI window or LUT): values kept as stored, MONOCHROME1 inverted (255 - v). Any
     other file is rejected: the peer does not implement windowing.
  5. cv2.resize to --size x --size, INTER_AREA (what pneumo::resize_image uses to shrink); with
     --decode reduced only when the reduced image is not already that size.
OpenCV runs single-threaded (cv2.setNumThreads(1)); parallelism comes only from
--processes N (a multiprocessing.Pool, created before the clock starts). Each work item is
one file; the item list is the sorted file list repeated --repeat times. One untimed warm-up
pass over the files precedes the timed repetitions. Prints one JSON object on stdout (with the
process's CPU time per repetition when there is no pool, the steadier figure on a busy machine); its check
names the pixel sum `pixel_sum` (full decode) or `pixel_sum_reduced_decode` (reduced decode), as
bench_dicom does, so that only like is compared with like exactly.
"""
import argparse
import glob
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time

import cv2
import numpy as np
import pydicom
from pydicom.encaps import generate_pixel_data_frame

SETTINGS = {"size": 512, "decode": "full"}
REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}


def init_worker(size, decode):
    cv2.setNumThreads(1)
    SETTINGS["size"] = size
    SETTINGS["decode"] = decode


def reduction(rows, cols, size):
    """The largest DCT-domain reduction that divides rows x cols and keeps >= size pixels."""
    for denom in (8, 4, 2):
        if rows % denom == 0 and cols % denom == 0 and rows // denom >= size and cols // denom >= size:
            return denom
    return 1


def to_8bit(ds, pixels):
    if (ds.BitsStored != 8 or ds.get("PixelRepresentation", 0) != 0 or "WindowCenter" in ds
            or "VOILUTSequence" in ds or "ModalityLUTSequence" in ds
            or float(ds.get("RescaleSlope", 1)) != 1 or float(ds.get("RescaleIntercept", 0)) != 0):
        raise ValueError("not 8-bit-as-stored; this peer implements no windowing")
    if ds.PhotometricInterpretation == "MONOCHROME1":
        return cv2.bitwise_not(pixels)
    return pixels


def load_resized(path):
    ds = pydicom.dcmread(path)
    if ds.file_meta.TransferSyntaxUID != "1.2.840.10008.1.2.4.50":
        raise ValueError(f"{path}: expected JPEG baseline, got {ds.file_meta.TransferSyntaxUID}")
    frame = np.frombuffer(next(generate_pixel_data_frame(ds.PixelData)), dtype=np.uint8)
    size = SETTINGS["size"]
    denom = reduction(ds.Rows, ds.Columns, size) if SETTINGS["decode"] == "reduced" else 1
    pixels = cv2.imdecode(frame, REDUCED_FLAGS[denom] if denom > 1 else cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint8 or pixels.ndim != 2:
        raise ValueError(f"{path}: not an 8-bit grayscale JPEG frame")
    image = to_8bit(ds, pixels)
    if image.shape != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return int(image.sum(dtype=np.int64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--processes", type=int, default=1, help="1 = plain loop; N = Pool(N)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--decode", choices=["full", "reduced"], default="full",
                    help="full: IMREAD_UNCHANGED (Kaggle-style); reduced: IMREAD_REDUCED_GRAYSCALE_D")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(args.dir, "**", "*.dcm"), recursive=True))
    if not files:
        print(f"dicom_peer.py: no .dcm files under {args.dir}", file=sys.stderr)
        return 3
    items = files * max(1, args.repeat)
    init_worker(args.size, args.decode)

    pool = None
    if args.processes > 1:
        pool = multiprocessing.Pool(args.processes, initializer=init_worker,
                                    initargs=(args.size, args.decode))
        run = lambda paths: pool.map(load_resized, paths)
    else:
        run = lambda paths: [load_resized(p) for p in paths]

    run(files)  # warm-up: page cache, imports, pool workers
    times = []
    sums = []
    cpu0 = time.process_time()
    for _ in range(max(1, args.reps)):
        t0 = time.perf_counter()
        sums = run(items)
        times.append(time.perf_counter() - t0)
    cpu_per_rep = (time.process_time() - cpu0) / len(times)
    if pool:
        pool.close()
        pool.join()

    pixels = len(items) * args.size * args.size
    out = {
        "side": "python", "seconds": statistics.median(times), "seconds_min": min(times),
        "reps": len(times), "items": len(items), "unit": "images",
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "peak_rss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "workers": max(1, args.processes),
        # CPU time of this process per repetition (as bench_dicom's); a Pool's workers are not
        # counted, so it is left out there
        **({} if pool else {"cpu_seconds": cpu_per_rep}),
        "check": {"files": len(files), "items": len(items),
                  ("pixel_sum" if args.decode == "full" else "pixel_sum_reduced_decode"): sum(sums),
                  "mean_pixel": sum(sums) / pixels},
        "ok": True,
        "decode": args.decode,
        "peer": "pydicom.dcmread + encaps frame + "
                + ("cv2.imdecode(IMREAD_UNCHANGED) + cv2.resize(INTER_AREA)" if args.decode == "full"
                   else "cv2.imdecode(IMREAD_REDUCED_GRAYSCALE_D) (+ cv2.resize(INTER_AREA) if needed)")
                + (f", Pool({args.processes})" if pool else ""),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
