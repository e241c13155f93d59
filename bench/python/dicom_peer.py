#!/usr/bin/env python3
"""Python peer of bench_dicom: read SIIM DICOMs to 8-bit and resize to 512x512.

Per file, exactly:
  1. pydicom.dcmread(path)                       (header + encapsulated pixel data bytes)
  2. pydicom.encaps.generate_pixel_data_frame    (the single JPEG baseline frame)
  3. cv2.imdecode(..., IMREAD_UNCHANGED)         (libjpeg-turbo inside OpenCV)
     Debian's pydicom 2.3 has no JPEG handler here (no pylibjpeg, GDCM or Pillow installed),
     so ds.pixel_array cannot decode these files; this is the usual workaround.
  4. 8-bit mapping as pneumo::read_dicom does it for these files (8 bits stored, unsigned, no
     rescale, VOI window or LUT): values kept as stored, MONOCHROME1 inverted (255 - v). Any
     other file is rejected: the peer does not implement windowing.
  5. cv2.resize to --size x --size, INTER_AREA (what pneumo::resize_image uses to shrink).
OpenCV runs single-threaded (cv2.setNumThreads(1)); parallelism comes only from
--processes N (a multiprocessing.Pool, created before the clock starts). Each work item is
one file; the item list is the sorted file list repeated --repeat times. One untimed warm-up
pass over the files precedes the timed repetitions. Prints one JSON object on stdout.
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

SETTINGS = {"size": 512}


def init_worker(size):
    cv2.setNumThreads(1)
    SETTINGS["size"] = size


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
    frame = next(generate_pixel_data_frame(ds.PixelData))
    pixels = cv2.imdecode(np.frombuffer(frame, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint8 or pixels.ndim != 2:
        raise ValueError(f"{path}: not an 8-bit grayscale JPEG frame")
    image = to_8bit(ds, pixels)
    size = SETTINGS["size"]
    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return int(small.sum(dtype=np.int64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--processes", type=int, default=1, help="1 = plain loop; N = Pool(N)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(args.dir, "**", "*.dcm"), recursive=True))
    if not files:
        print(f"dicom_peer.py: no .dcm files under {args.dir}", file=sys.stderr)
        return 3
    items = files * max(1, args.repeat)
    init_worker(args.size)

    pool = None
    if args.processes > 1:
        pool = multiprocessing.Pool(args.processes, initializer=init_worker,
                                    initargs=(args.size,))
        run = lambda paths: pool.map(load_resized, paths)
    else:
        run = lambda paths: [load_resized(p) for p in paths]

    run(files)  # warm-up: page cache, imports, pool workers
    times = []
    sums = []
    for _ in range(max(1, args.reps)):
        t0 = time.perf_counter()
        sums = run(items)
        times.append(time.perf_counter() - t0)
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
        "check": {"files": len(files), "items": len(items), "pixel_sum": sum(sums),
                  "mean_pixel": sum(sums) / pixels},
        "ok": True,
        "peer": "pydicom.dcmread + encaps frame + cv2.imdecode + cv2.resize(INTER_AREA)"
                + (f", Pool({args.processes})" if pool else ""),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
