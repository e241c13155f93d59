#!/usr/bin/env python3
"""Python peer of `pneumo predict`: DICOM folder -> masks + SIIM submission CSV with PyTorch.

  predict_peer.py --model M --input DIR --out OUT [--batch 4] [--threads 0=all]

What a Python user would write, doing what `pneumo predict --no-seg --no-sc` does for the
submission (bench/run.sh times the whole process of both with bench_cli):
  per file (sorted, recursive *.dcm): pydicom.dcmread, the JPEG baseline frame
      (pydicom.encaps.generate_pixel_data_frame) -> cv2.imdecode (Debian's pydicom has no JPEG
      handler, see dicom_peer.py), 8-bit values as stored (MONOCHROME1 inverted), ImageId =
      SOPInstanceUID;
  per batch of --batch images: cv2.resize to the model's input_size (INTER_AREA), / 255,
      normalise_input, the same U-Net (torch_unet.py, weights from the pneumo model file) under
      torch.inference_mode, sigmoid;
  per image: threshold (> pixel_threshold from the model file), mask back to the source size as
      pneumo::resize_mask does (bilinear coverage >= 0.5), mask PNG (0/255) to OUT/masks/,
      SIIM relative RLE (column-major) into OUT/submission.csv.
Only plain thresholding is implemented: a model file asking for triplet thresholds or a minimum
component area is rejected. Reading is single-process (the usual script); torch uses --threads.
"""
import argparse
import glob
import os
import sys
import warnings

import cv2
import numpy as np
import pydicom
import torch
from pydicom.encaps import generate_pixel_data_frame

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_unet  # noqa: E402

# The 12 second-stage test files carry SOPInstanceUIDs like "ID_..." (not UID-shaped); pydicom
# warns once per file. pneumo reads them silently too.
warnings.filterwarnings("ignore", message="Invalid value for VR UI")


def read_dicom_8bit(path):
    ds = pydicom.dcmread(path)
    if ds.file_meta.TransferSyntaxUID != "1.2.840.10008.1.2.4.50" or ds.BitsStored != 8:
        raise ValueError(f"{path}: this peer reads 8-bit JPEG baseline DICOMs only")
    frame = next(generate_pixel_data_frame(ds.PixelData))
    pixels = cv2.imdecode(np.frombuffer(frame, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        pixels = cv2.bitwise_not(pixels)
    return str(ds.SOPInstanceUID), pixels


def mask_to_source(mask, rows, cols):
    """pneumo::resize_mask: coverage by bilinear (enlarging) or area (shrinking), >= 0.5."""
    if mask.shape == (rows, cols):
        return mask
    shrinking = rows <= mask.shape[0] and cols <= mask.shape[1]
    coverage = cv2.resize(mask.astype(np.float32), (cols, rows),
                          interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    out = (coverage >= np.float32(0.5 - 1e-6)).astype(np.uint8)
    best = coverage.max()
    if best > 0 and not out.any():  # a tiny lesion stays positive
        out = (coverage >= best - np.float32(1e-6)).astype(np.uint8)
    return out


def rle_encode(mask):
    """SIIM relative RLE of a 0/1 mask, column-major (as rle_peer.py's numpy encoder)."""
    flat = mask.T.ravel()
    padded = np.zeros(flat.size + 2, dtype=np.uint8)
    padded[1:-1] = flat
    edges = np.flatnonzero(np.diff(padded))
    if edges.size == 0:
        return "-1"
    starts, ends = edges[0::2], edges[1::2]
    gaps = starts - np.concatenate(([0], ends[:-1]))
    pairs = np.empty(2 * starts.size, dtype=np.int64)
    pairs[0::2] = gaps
    pairs[1::2] = ends - starts
    return " ".join(map(str, pairs.tolist()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    args = ap.parse_args()
    torch.set_num_threads(args.threads if args.threads > 0 else os.cpu_count())

    config, net = torch_unet.load_pneumo_model(args.model)
    th = config["thresholds"]
    if th.get("triplet") or th.get("min_component_area", 0) > 1:
        print("predict_peer.py: only plain thresholding is implemented", file=sys.stderr)
        return 2
    size, pixel_threshold = config["input_size"], th["pixel_threshold"]
    files = sorted(glob.glob(os.path.join(args.input, "**", "*.dcm"), recursive=True))
    os.makedirs(os.path.join(args.out, "masks"), exist_ok=True)
    rows = []
    with torch.inference_mode():
        for first in range(0, len(files), args.batch):
            batch = [read_dicom_8bit(p) for p in files[first:first + args.batch]]
            small = np.stack([cv2.resize(px, (size, size), interpolation=cv2.INTER_AREA) for _, px in batch])
            x01 = torch.from_numpy(small.astype(np.float32) / np.float32(255.0)).unsqueeze(1)  # [N,1,S,S]
            probs = torch.sigmoid(net(torch_unet.normalise_input(config, x01))[0])[:, 0].numpy()
            for (image_id, px), prob in zip(batch, probs):
                mask = mask_to_source((prob > pixel_threshold).astype(np.uint8), *px.shape)
                if not cv2.imwrite(os.path.join(args.out, "masks", image_id + ".png"), mask * 255):
                    raise OSError(f"cannot write the mask of {image_id}")
                rows.append(f"{image_id},{rle_encode(mask)}")
    temp = os.path.join(args.out, ".submission.csv.tmp")
    with open(temp, "w") as f:
        f.write("ImageId,EncodedPixels\n" + "".join(r + "\n" for r in rows))
    os.replace(temp, os.path.join(args.out, "submission.csv"))
    print(f"predict_peer.py: {len(rows)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
