#!/usr/bin/env python3
"""Python peer of bench_loader: torch.utils.data.DataLoader with pneumo's heavy augmentation in cv2.

  loader_peer.py --list LIST [--batch 16] [--batches 40] [--workers 0=all] [--reps 3] [--seed 1]

LIST is the file bench_loader wrote: "synthetic<TAB>N" (the peer rebuilds the same N samples with
numpy, bit for bit) or one "image.png<TAB>mask.png" pair per line (pneumo's preprocess cache,
read with cv2.imread into RAM before the clock starts, as pneumo's SampleStore does).
Per sample, in pneumo's order and with AugmentConfig::heavy()'s probabilities and ranges
(modules/transforms/src/augment.cpp, augment_config.cpp):
  hflip p 0.5 (cv2.flip)
  shift-scale-rotate p 0.7: angle +/-15 deg, scale 1 +/- 0.15, shift +/-0.1 of the size,
      cv2.getRotationMatrix2D + cv2.warpAffine (image INTER_LINEAR, mask INTER_NEAREST, REFLECT_101)
  one of elastic / grid / optical, p 0.3, equally likely (cv2.remap with the same maps):
      elastic alpha 30 sigma 6 (uniform noise, cv2.GaussianBlur), grid 5 steps +/-0.3,
      optical k +/-0.2 with centre shift +/-0.05
  CLAHE p 0.3 (clip 1..4, 8x8 tiles), brightness p 0.5 (+/-0.2*255), contrast p 0.5 (x 1 +/- 0.2
      around the mean), gamma p 0.5 (0.8..1.2), each as a cv2.LUT
then image / 255 and the 0/1 mask as float32 tensors [1, H, W] and a label (mask has any pixel).
Random numbers: numpy Generator seeded per (seed, position, index), so results do not depend on
the worker that runs a sample (the streams differ from pneumo's; the work is the same).
DataLoader(batch_size, sampler = a seeded shuffled order of batches x batch indices,
num_workers = --workers, persistent_workers=True); one untimed warm-up epoch starts the workers
before the clock (in Python's favour). Prints one JSON object on stdout.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

REFLECT = cv2.BORDER_REFLECT_101


def synthetic_samples(count, size):
    """The samples of bench_loader.cpp's synthetic_samples, bit for bit."""
    r = np.arange(size).reshape(-1, 1)
    c = np.arange(size).reshape(1, -1)
    dr = (r - size * 0.4) / (size * 0.15)
    dc = (c - size * 0.3) / (size * 0.08)
    lesion = (dr * dr + dc * dc < 1).astype(np.uint8)
    out = []
    for i in range(count):
        stripe = np.where(((r + i) // 12) % 2 == 1, 30, 0)
        image = (r * 150 // size + stripe + c * 40 // size).astype(np.uint8)
        mask = lesion.copy() if i % 2 else np.zeros((size, size), np.uint8)
        out.append((image, mask))
    return out


def read_list(path):
    with open(path) as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    if rows and rows[0][0] == "synthetic":
        return ("synthetic", int(rows[0][1]))
    samples = []
    for image_png, mask_png in rows:
        image = cv2.imread(image_png, cv2.IMREAD_GRAYSCALE)
        mask = cv2.imread(mask_png, cv2.IMREAD_GRAYSCALE)
        if image is None or mask is None:
            raise ValueError(f"{path}: cannot read {image_png} or {mask_png}")
        samples.append((image, (mask > 0).astype(np.uint8)))
    return ("cache", samples)


def lut_apply(image, fn):
    table = np.clip(np.rint(fn(np.arange(256, dtype=np.float64))), 0, 255).astype(np.uint8)
    return cv2.LUT(image, table)


def remap_both(image, mask, map_x, map_y):
    return (cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=REFLECT),
            cv2.remap(mask, map_x, map_y, cv2.INTER_NEAREST, borderMode=REFLECT))


def elastic(image, mask, rng, alpha=30.0, sigma=6.0):
    rows, cols = image.shape

    def field():
        noise = rng.uniform(-1.0, 1.0, (rows, cols)).astype(np.float32)
        return cv2.GaussianBlur(noise, (0, 0), sigma, sigmaY=sigma, borderType=REFLECT) * alpha

    dx, dy = field(), field()
    gx, gy = np.meshgrid(np.arange(cols, dtype=np.float32), np.arange(rows, dtype=np.float32))
    return remap_both(image, mask, gx + dx, gy + dy)


def grid_axis(length, num_steps, steps):
    out = np.zeros(length, np.float32)
    prev = 0.0
    for idx in range(num_steps):
        start, end = idx * length // num_steps, (idx + 1) * length // num_steps
        n = end - start
        cur = prev + n * steps[idx]
        out[start:end] = prev + (cur - prev) * np.arange(n) / n
        prev = cur
    return out


def grid_distortion(image, mask, rng, num_steps=5, limit=0.3):
    rows, cols = image.shape
    xx = grid_axis(cols, num_steps, 1.0 + rng.uniform(-limit, limit, num_steps))
    yy = grid_axis(rows, num_steps, 1.0 + rng.uniform(-limit, limit, num_steps))
    map_x = np.broadcast_to(xx, (rows, cols)).copy()
    map_y = np.broadcast_to(yy.reshape(-1, 1), (rows, cols)).copy()
    return remap_both(image, mask, map_x, map_y)


def optical_distortion(image, mask, rng, limit=0.2, shift=0.05):
    rows, cols = image.shape
    k = rng.uniform(-limit, limit)
    cx = cols * 0.5 + rng.uniform(-shift, shift) * cols
    cy = rows * 0.5 + rng.uniform(-shift, shift) * rows
    x = (np.arange(cols).reshape(1, -1) - cx) / cols
    y = (np.arange(rows).reshape(-1, 1) - cy) / rows
    r2 = x * x + y * y
    radial = 1.0 + k * r2 + k * r2 * r2
    return remap_both(image, mask, (x * radial * cols + cx).astype(np.float32),
                      (y * radial * rows + cy).astype(np.float32))


def augment_heavy(image, mask, rng):
    rows, cols = image.shape
    if rng.random() < 0.5:
        image, mask = cv2.flip(image, 1), cv2.flip(mask, 1)
    if rng.random() < 0.7:
        angle = rng.uniform(-15, 15)
        scale = 1.0 + rng.uniform(-0.15, 0.15)
        dx, dy = rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1)
        m = cv2.getRotationMatrix2D((cols / 2.0, rows / 2.0), angle, scale)
        m[0, 2] += dx * cols
        m[1, 2] += dy * rows
        image = cv2.warpAffine(image, m, (cols, rows), flags=cv2.INTER_LINEAR, borderMode=REFLECT)
        mask = cv2.warpAffine(mask, m, (cols, rows), flags=cv2.INTER_NEAREST, borderMode=REFLECT)
    if rng.random() < 0.3:
        pick = rng.random() * 3
        if pick < 1:
            image, mask = elastic(image, mask, rng)
        elif pick < 2:
            image, mask = grid_distortion(image, mask, rng)
        else:
            image, mask = optical_distortion(image, mask, rng)
    if rng.random() < 0.3:
        image = cv2.createCLAHE(clipLimit=rng.uniform(1.0, 4.0), tileGridSize=(8, 8)).apply(image)
    if rng.random() < 0.5:
        beta = rng.uniform(-0.2, 0.2) * 255.0
        image = lut_apply(image, lambda v: v + beta)
    if rng.random() < 0.5:
        alpha = 1.0 + rng.uniform(-0.2, 0.2)
        mean = float(image.mean())
        image = lut_apply(image, lambda v: (v - mean) * alpha + mean)
    if rng.random() < 0.5:
        g = rng.uniform(0.8, 1.2)
        image = lut_apply(image, lambda v: 255.0 * np.power(v / 255.0, g))
    return image, mask


class AugmentedSamples(Dataset):
    """Item = (position in the epoch order, store index); the sampler yields those pairs."""

    def __init__(self, samples, seed):
        self.samples = samples
        self.seed = seed

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, item):
        position, index = item
        rng = np.random.default_rng([self.seed, position, index])
        image, mask = self.samples[index]
        image, mask = augment_heavy(image, mask, rng)
        return (torch.from_numpy(image.astype(np.float32) / 255.0).unsqueeze(0),
                torch.from_numpy(mask.astype(np.float32)).unsqueeze(0),
                torch.tensor(float(mask.any())))


def epoch_order(count, want, seed):
    rng = np.random.default_rng(seed)
    order = []
    while len(order) < want:
        order.extend(rng.permutation(count).tolist())
    return list(enumerate(order[:want]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--workers", type=int, default=0, help="0 = all cores")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    workers = args.workers if args.workers > 0 else os.cpu_count()

    kind, payload = read_list(args.list)
    samples = synthetic_samples(payload, args.size) if kind == "synthetic" else payload
    pixel_sum = sum(int(img.sum(dtype=np.int64)) for img, _ in samples)
    mask_pixels = sum(int(np.count_nonzero(m)) for _, m in samples)
    size = samples[0][0].shape[0]

    order = epoch_order(len(samples), args.batch * args.batches, args.seed)
    loader = DataLoader(AugmentedSamples(samples, args.seed), batch_size=args.batch, sampler=order,
                        num_workers=workers, persistent_workers=True, prefetch_factor=2)
    counts = {}

    def epoch():
        n = 0
        for images, masks, labels in loader:
            n += images.shape[0]
        counts["images"] = n

    epoch()  # warm-up: starts the worker processes
    times = []
    for _ in range(max(1, args.reps)):
        t0 = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t0)
    images = counts["images"]
    # Largest worker, read before the persistent workers exit with the loader.
    del loader
    out = {
        "side": "python", "seconds": statistics.median(times), "seconds_min": min(times), "reps": len(times),
        "items": images, "unit": "images",
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "peak_rss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "workers": workers,
        "images_per_second": images / statistics.median(times),
        "check": {"samples": len(samples), "input_pixel_sum": pixel_sum, "input_mask_pixels": mask_pixels,
                  "items": images, "size": size},
        "ok": images == args.batch * args.batches,
        "peer": f"torch DataLoader(num_workers={workers}, persistent) + cv2 heavy augmentation",
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
