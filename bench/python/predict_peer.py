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
  per image: the model file's post-processing at the model size, as pneumo::apply_postprocess
      does it (plain: p > pixel_threshold; triplet: empty unless >= triplet_min_area pixels have
      p > top_threshold, then p > bottom_threshold; then 8-connected components smaller than
      min_component_area removed), mask back to the source size as pneumo::resize_mask does
      (bilinear coverage >= 0.5), mask PNG (0/255) to OUT/masks/, SIIM relative RLE
      (column-major) into OUT/submission.csv.
Reading is single-process (the usual script); torch uses --threads.
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
import rle_peer  # noqa: E402
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


def postprocess(prob, th):
    """pneumo::apply_postprocess without a classifier gate (see modules/eval/.../postprocess.hpp)."""
    if th.get("triplet"):
        if int((prob > th["top_threshold"]).sum()) < th["triplet_min_area"]:
            return np.zeros(prob.shape, np.uint8)
        mask = (prob > th["bottom_threshold"]).astype(np.uint8)
    else:
        mask = (prob > th["pixel_threshold"]).astype(np.uint8)
    min_area = th.get("min_component_area", 0)
    if min_area > 1 and mask.any():
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        small = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] < min_area]
        if small:
            mask[np.isin(labels, small)] = 0
    return mask


def gated_postprocess(prob, image_p, th):
    """pneumo::apply_postprocess with a gate (joint models): closed gate -> empty; an open gate
    never leaves the mask empty (largest component of p > threshold, else p >= half the peak)."""
    if image_p < th["classifier_threshold"]:
        return np.zeros(prob.shape, np.uint8)
    mask = postprocess(prob, th)
    if mask.any():
        return mask
    low = (prob > (th["bottom_threshold"] if th.get("triplet") else th["pixel_threshold"])).astype(np.uint8)
    if low.any():
        count, labels, stats, _ = cv2.connectedComponentsWithStats(low, connectivity=8)
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        return (labels == biggest).astype(np.uint8)
    peak = float(prob.max())
    if not peak > 0:
        out = np.zeros(prob.shape, np.uint8)
        out.flat[int(np.argmax(prob))] = 1
        return out
    return (prob >= peak * 0.5).astype(np.uint8)


def rle_encode(mask):
    """SIIM relative RLE of a 0/1 mask, column-major: rle_peer.py's numpy encoder on the transpose."""
    return rle_peer.rle_encode_numpy(mask.T.ravel())


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
    size = config["input_size"]
    gated = torch_unet.has_gate(config)
    files = sorted(glob.glob(os.path.join(args.input, "**", "*.dcm"), recursive=True))
    os.makedirs(os.path.join(args.out, "masks"), exist_ok=True)
    rows = []
    with torch.inference_mode():
        for first in range(0, len(files), args.batch):
            batch = [read_dicom_8bit(p) for p in files[first:first + args.batch]]
            small = np.stack([cv2.resize(px, (size, size), interpolation=cv2.INTER_AREA) for _, px in batch])
            x01 = torch.from_numpy(small.astype(np.float32) / np.float32(255.0)).unsqueeze(1)  # [N,1,S,S]
            logits, image_logits = net(torch_unet.normalise_input(config, x01))
            probs = torch.sigmoid(logits)[:, 0].numpy()
            image_ps = torch.sigmoid(image_logits)[:, 0].numpy()
            for (image_id, px), prob, image_p in zip(batch, probs, image_ps):
                small_mask = gated_postprocess(prob, image_p, th) if gated else postprocess(prob, th)
                mask = mask_to_source(small_mask, *px.shape)
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
