#!/usr/bin/env python3
"""Python peer of bench_torch: the same MobileNetV2 U-Net in PyTorch, forward or training step.

  torch_peer.py forward    --model M --reference R [--reps 20] [--warmup 3] [--threads N]
  torch_peer.py train-step --model M --reference R [--reps 10] [--warmup 2] [--threads N]
                           [--lr 1e-3] [--weight-decay 1e-4]

M is the pneumo model file bench_torch wrote (torch.save-compatible dict); the network is
bench/python/torch_unet.py, built from json.loads(d["config"]) and loaded with
load_state_dict(d["tensors"], strict=True). R holds the inputs bench_torch used (and its
outputs), so both sides compute on the same tensors.

forward: eval mode, torch.inference_mode(), `warmup` untimed then `reps` timed forwards of the
normalised input; the mask logits must match pneumo's (R["mask_logits"]) within --tolerance
(absolute, default 1e-3), else "ok" is false.
train-step: train mode; per step zero_grad, forward, BCE + Dice, backward, AdamW(lr,
weight_decay) step; `warmup` + `reps` steps (the last `reps` timed). Each step's loss must match
pneumo's (R["losses"]) within --loss-tolerance (relative, default 1e-3).
torch.set_num_threads(--threads, default all cores). Prints one JSON object on stdout.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_unet  # noqa: E402


def torch_info():
    return {"torch_threads": torch.get_num_threads(),
            "mkldnn_available": torch.backends.mkldnn.is_available(),
            "mkldnn_enabled": torch.backends.mkldnn.enabled,
            "torch_version": torch.__version__}


def timed(reps, fn):
    times = []
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def result(times, items, check, ok, peer, **extra):
    out = {"side": "python", "seconds": statistics.median(times), "seconds_min": min(times),
           "reps": len(times), "items": items, "unit": "images",
           "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           "check": check, "ok": ok, "peer": peer, "torch": torch_info()}
    out.update(extra)
    return out


def run_forward(args):
    config, net = torch_unet.load_pneumo_model(args.model)
    ref = torch.load(args.reference)
    input01 = ref["input01"]
    x = torch_unet.normalise_input(config, input01)
    out = {}
    with torch.inference_mode():
        for _ in range(args.warmup):
            out["logits"] = net(x)[0]
        times = timed(args.reps, lambda: out.__setitem__("logits", net(x)[0]))
    logits = out["logits"]
    diff = (logits - ref["mask_logits"]).abs().max().item()
    batch, size = input01.shape[0], input01.shape[-1]
    check = {"batch": batch, "size": size, "parameters": sum(p.numel() for p in net.parameters()),
             "mean_abs_logit": logits.abs().mean().item()}
    return result(times, batch, check, diff <= args.tolerance,
                  "torch_unet.py (same module names, weights from the pneumo model file), eval, inference_mode",
                  max_abs_diff_vs_pneumo=diff, max_abs_logit=logits.abs().max().item())


def run_train_step(args):
    config, net = torch_unet.load_pneumo_model(args.model)
    ref = torch.load(args.reference)
    input01, masks = ref["input01"], ref["masks"]
    x = torch_unet.normalise_input(config, input01)
    net.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    losses = []

    def step():
        optimizer.zero_grad()
        loss = torch_unet.bce_dice_loss(net(x)[0], masks)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    for _ in range(args.warmup):
        step()
    times = timed(args.reps, step)
    pneumo_losses = ref["losses"].tolist()
    worst = max((abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses, pneumo_losses)), default=float("inf"))
    ok = len(losses) == len(pneumo_losses) and worst <= args.loss_tolerance
    batch, size = input01.shape[0], input01.shape[-1]
    check = {"batch": batch, "size": size, "steps": len(losses), "first_loss": losses[0], "last_loss": losses[-1]}
    return result(times, batch, check, ok,
                  "torch_unet.py train(): zero_grad + forward + BCE+Dice + backward + torch.optim.AdamW.step",
                  losses=losses, max_rel_loss_diff_vs_pneumo=worst)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["forward", "train-step"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--reps", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    ap.add_argument("--loss-tolerance", type=float, default=1e-3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    args = ap.parse_args()
    forward = args.mode == "forward"
    if args.reps is None:
        args.reps = 20 if forward else 10
    if args.warmup is None:
        args.warmup = 3 if forward else 2
    torch.set_num_threads(args.threads if args.threads > 0 else os.cpu_count())
    out = run_forward(args) if forward else run_train_step(args)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
