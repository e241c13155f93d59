#!/usr/bin/env python3
"""Python peer of `pneumo serve`: the same model behind the standard library's HTTP server, PyTorch.

  peer_server.py --model M [--host 127.0.0.1] [--port 0] [--max-batch 4] [--batch-wait-ms 5] [--threads 0]
                 [--channels-last]

What a Python team would deploy without pneumo, given the same model file and a fair chance:
  - http.server.ThreadingHTTPServer (one thread per connection, HTTP/1.1 keep-alive);
  - POST /v1/predict with a DICOM body: pydicom + the JPEG baseline frame through cv2.imdecode
    (predict_peer.read_dicom_8bit), in the connection's thread;
  - dynamic batching like pneumo serve's: one inference thread takes the first queued image, waits
    up to --batch-wait-ms for more (at most --max-batch), runs the U-Net (torch_unet.py, weights
    from the pneumo model file) once under torch.inference_mode on --threads intra-op threads, in
    PyTorch's default NCHW layout unless --channels-last (pneumo serve runs NHWC on the CPU; the
    flag shows how much of the gap a Python team closes by doing the same);
  - per image, in the connection's thread: the model file's post-processing and the mask back at the
    source size (predict_peer.postprocess / mask_to_source), SIIM RLE, area in px and cm², side;
  - JSON answer {image_id, rows, cols, probability, positive, mask_rle, mask_area_px, mask_area_cm2,
    side}; 400 with a reason for a body it cannot read; GET /health and /ready.
Prints "peer_server.py: listening on HOST:PORT" once the model is loaded and warmed up.
"""
import argparse
import io
import json
import os
import queue
import sys
import threading
import time
import warnings
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pydicom
import torch
from pydicom.encaps import generate_pixel_data_frame

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import predict_peer  # noqa: E402
import torch_unet  # noqa: E402

warnings.filterwarnings("ignore", message="Invalid value for VR UI")


def affected_side(mask, view_position):
    """pneumo::affected_side: each 8-connected component counts for the image half holding its
    centroid (patient's right = image left for PA/AP); bilateral when both halves hold >= 10%."""
    if view_position.upper() in ("LL", "RL", "LATERAL"):
        return "undetermined"
    count, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return "none"
    half = mask.shape[1] / 2.0
    right = left = 0
    for i in range(1, count):
        if centroids[i][0] + 0.5 < half:
            right += int(stats[i, cv2.CC_STAT_AREA])
        else:
            left += int(stats[i, cv2.CC_STAT_AREA])
    total = right + left
    if right >= 0.10 * total and left >= 0.10 * total:
        return "bilateral"
    return "right" if right >= left else "left"


def read_dicom_8bit(body):
    """predict_peer.read_dicom_8bit on a byte buffer, also returning the data set (one parse)."""
    ds = pydicom.dcmread(io.BytesIO(body))
    if ds.file_meta.TransferSyntaxUID != "1.2.840.10008.1.2.4.50" or ds.BitsStored != 8:
        raise ValueError("this peer reads 8-bit JPEG baseline DICOMs only")
    frame = next(generate_pixel_data_frame(ds.PixelData))
    pixels = cv2.imdecode(np.frombuffer(frame, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ValueError("the JPEG frame does not decode")
    if ds.PhotometricInterpretation == "MONOCHROME1":
        pixels = cv2.bitwise_not(pixels)
    return ds, str(ds.SOPInstanceUID), pixels


class Batcher:
    """One inference thread; requests queue up and run in batches of up to max_batch."""

    def __init__(self, config, net, max_batch, wait_s, channels_last=False):
        self.config, self.net, self.max_batch, self.wait_s = config, net, max_batch, wait_s
        self.channels_last = channels_last
        self.size = config["input_size"]
        self.q = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def submit(self, small01):
        fut = Future()
        self.q.put((small01, fut))
        return fut

    def _run(self):
        while True:
            batch = [self.q.get()]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self.q.get(timeout=left))
                except queue.Empty:
                    break
            try:
                x01 = torch.from_numpy(np.stack([b[0] for b in batch])).unsqueeze(1)  # [N,1,S,S]
                with torch.inference_mode():
                    x = torch_unet.normalise_input(self.config, x01)
                    if self.channels_last:
                        x = x.contiguous(memory_format=torch.channels_last)
                    logits, image_logits = self.net(x)
                    probs = torch.sigmoid(logits)[:, 0].numpy()          # [N,S,S]
                    image_p = torch.sigmoid(image_logits)[:, 0].numpy()  # [N]
                for k, (_, fut) in enumerate(batch):
                    fut.set_result((probs[k], float(image_p[k])))
            except Exception as e:  # noqa: BLE001 - handed to every waiting request
                for _, fut in batch:
                    fut.set_exception(e)


def make_handler(batcher, config):
    th = config["thresholds"]
    size = config["input_size"]
    gated = torch_unet.has_gate(config)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # no access log: pneumo serve's is not timed either
            pass

        def reply(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path in ("/health", "/ready"):
                self.reply(200, {"status": "ok"})
            else:
                self.reply(404, {"error": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path.split("?")[0] != "/v1/predict":
                self.reply(404, {"error": "not found"})
                return
            t0 = time.perf_counter()
            try:
                ds, image_id, px = read_dicom_8bit(body)
            except Exception as e:  # noqa: BLE001 - any unreadable body is the client's problem
                self.reply(400, {"error": f"cannot read the DICOM: {e}"})
                return
            try:
                small = cv2.resize(px, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / np.float32(255)
                t1 = time.perf_counter()
                prob, image_p = batcher.submit(small).result()
                t2 = time.perf_counter()
                small_mask = (predict_peer.gated_postprocess(prob, image_p, th) if gated
                              else predict_peer.postprocess(prob, th))
                mask = predict_peer.mask_to_source(small_mask, *px.shape)
                area = int(mask.sum())
                spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
                cm2 = round(area * float(spacing[0]) * float(spacing[1]) / 100.0, 3) if spacing else None
                out = {"image_id": image_id, "rows": int(px.shape[0]), "cols": int(px.shape[1]),
                       "probability": round(image_p, 6), "positive": area > 0,
                       "mask_rle": predict_peer.rle_encode(mask), "mask_area_px": area, "mask_area_cm2": cm2,
                       "side": affected_side(mask, str(ds.get("ViewPosition", ""))),
                       "timings_ms": {"decode": round((t1 - t0) * 1e3, 2), "queue_and_infer": round((t2 - t1) * 1e3, 2),
                                      "postprocess": round((time.perf_counter() - t2) * 1e3, 2)}}
            except Exception as e:  # noqa: BLE001 - the service keeps serving
                self.reply(500, {"error": str(e)})
                return
            self.reply(200, out)

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    ap.add_argument("--max-batch", type=int, default=4)
    ap.add_argument("--batch-wait-ms", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads, 0 = all cores")
    ap.add_argument("--channels-last", action="store_true", help="run the network in NHWC layout")
    args = ap.parse_args()
    torch.set_num_threads(args.threads if args.threads > 0 else os.cpu_count())

    config, net = torch_unet.load_pneumo_model(args.model)
    size = config["input_size"]
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    with torch.inference_mode():  # warm-up, as pneumo serve does before /ready
        net(torch_unet.normalise_input(config, torch.zeros(1, 1, size, size)))
    batcher = Batcher(config, net, args.max_batch, args.batch_wait_ms / 1000.0, args.channels_last)
    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # listen backlog: 64 clients connect at once

    server = Server((args.host, args.port), make_handler(batcher, config))
    print(f"peer_server.py: listening on {args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
