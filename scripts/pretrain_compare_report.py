#!/usr/bin/env python3
"""Table and learning curves of the encoder pre-training comparison (docs/pretraining.md).

    python3 scripts/pretrain_compare_report.py RUNS_DIR OUT_PNG [TAG]   # RUNS_DIR as scripts/pretrain-compare.sh wrote it
                                                    # TAG "long-": the PNEUMO_COMPARE_BUDGET=long rows

Prints two Markdown tables (segmentation on the held-out fold 0 from eval-<row>/eval.json; the
pre-training figures from pre-<row>/pretrain.json) and draws every row's train loss, validation
(fold 1) Kaggle Dice and validation AUC per epoch (seg-<row>/metrics.csv) into one PNG with gnuplot.
A row whose files are missing is listed as missing, never filled in.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

ROWS = [("random", "1. random init"), ("imagenet", "2. ImageNet (torchvision MobileNetV2)"),
        ("classifier", "3. pre-trained as classifier"), ("ae-pl", "4. autoencoder pseudo-labels"),
        ("vae-pl", "5. beta-VAE pseudo-labels")]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    runs, png = sys.argv[1], sys.argv[2]
    tag = sys.argv[3] if len(sys.argv) > 3 else ""
    print("| row | Kaggle Dice (1024², fold 0) | Dice on positives | image AUC | sensitivity / specificity (image) | last val Dice (fold 1) |")
    print("|---|---|---|---|---|---|")
    curves = {}
    for key, name in ROWS:
        ev = load(os.path.join(runs, f"eval-{tag}{key}", "eval.json"))
        metrics = os.path.join(runs, f"seg-{tag}{key}", "metrics.csv")
        rows = list(csv.DictReader(open(metrics))) if os.path.exists(metrics) else []
        if rows:
            curves[key] = rows
        if ev is None:
            print(f"| {name} | missing | missing | missing | missing | missing |")
            continue
        il = ev["image_level"]
        last = float(rows[-1]["val_dice"]) if rows else float("nan")
        print(f"| {name} | {ev['mean_dice']:.4f} (all-empty: {ev['empty_baseline_dice']:.4f}) | "
              f"{ev['mean_dice_positive']:.4f} | {ev['auc']:.4f} | {il['sensitivity']:.3f} / {il['specificity']:.3f} | {last:.4f} |")
    print()
    print("| pre-training | images | stage losses per epoch | held-out accuracy (majority class) | PCA variance kept | DBSCAN: clusters (requested), eps, min_points, noise | seconds |")
    print("|---|---|---|---|---|---|---|")
    for key, name in ROWS[2:]:
        pj = load(os.path.join(runs, f"pre-{key}", "pretrain.json"))
        if pj is None:
            print(f"| {name} | missing | | | | | |")
            continue
        losses = "; ".join(f"{s['name']}: " + ", ".join(f"{e['loss']:.4f}" for e in s["epochs"]) for s in pj["stages"])
        acc = next((s for s in pj["stages"] if "final_accuracy" in s), None)
        acc_text = f"{acc['final_accuracy']:.3f} ({acc['majority_class_accuracy']:.3f}) on {acc['held_out_images']}" if acc else ""
        cl = pj.get("clustering")
        pca = f"{100 * cl['pca']['explained_variance_ratio_total']:.1f} % in {cl['pca']['components']} of {cl['pca']['input_dim']}" if cl else ""
        db = cl["dbscan"] if cl else None
        db_text = (f"{db['clusters']} ({db['requested_clusters']}), {db['eps']:.4g}, {db['min_points']}, {db['noise']}; sizes "
                   + " ".join(str(n) for n in db["cluster_sizes"])) if db else ""
        print(f"| {name} | {pj['images']['used']} | {losses} | {acc_text} | {pca} | {db_text} | {pj['seconds']:.0f} |")

    if not curves:
        return
    with tempfile.TemporaryDirectory() as tmp:
        plots = []
        for panel, (col, title) in enumerate([("train_loss", "train loss"), ("val_dice", "val Kaggle Dice (fold 1)"),
                                              ("val_auc", "val image AUC (fold 1)")]):
            series = []
            for key, name in ROWS:
                if key not in curves:
                    continue
                path = os.path.join(tmp, f"{key}-{col}.dat")
                with open(path, "w") as f:
                    for r in curves[key]:
                        f.write(f"{r['epoch']} {r[col]}\n")
                series.append(f"'{path}' using 1:2 with linespoints lw 2 pt 7 title '{name}'")
            plots.append((title, series))
        script = os.path.join(tmp, "plot.gp")
        with open(script, "w") as f:
            f.write("set terminal pngcairo size 1500,520 font 'sans,10'\n")
            f.write(f"set output '{png}.tmp'\nset multiplot layout 1,3\nset grid\nset xlabel 'epoch'\nset xtics 1\n")
            f.write("set key outside below font ',9'\n")
            for title, series in plots:
                f.write(f"set title '{title}'\nplot " + ", ".join(series) + "\n")
            f.write("unset multiplot\n")
        subprocess.run(["gnuplot", script], check=True)
        os.replace(png + ".tmp", png)


if __name__ == "__main__":
    main()
