// pneumo viewer: one file, no build step, no dependencies.
//
// Flow: a dropped/picked file -> POST /v1/predict?outputs=overlay (Content-Type from the file's
// magic bytes) -> JSON. The radiograph and the mask are drawn on two stacked canvases at the
// source size, so the mask lines up pixel for pixel:
//   - the radiograph: a PNG/JPEG upload is decoded by the browser; a DICOM is parsed here
//     (parseDicom below: explicit/implicit VR little endian; uncompressed 8/16-bit, or 8-bit JPEG
//     baseline frames, which the browser's own JPEG decoder reads). Grey values keep their
//     modality values, so window/level works on the real data. When the browser cannot decode the
//     file (JPEG lossless, JPEG-LS, JPEG 2000, RLE, deflate, big endian), the service's overlay
//     PNG is shown instead (mask and caption burned in; the toggle then has nothing to hide).
//   - the mask: decoded here from the response's SIIM relative RLE (column-major, source size),
//     filled red at the chosen opacity (default 0.35, the overlay PNG's kFillAlpha) and outlined.
//   - the caption: the overlay PNG's text ("THIS IMAGE CONTAINS PNEUMOTHORAX" / "p = 0.93", or
//     "no pneumothorax detected (p = 0.04)"), shown in a banner above the image instead of over it.
// The worklist panel stays hidden unless GET /v1/worklist answers 200 (pneumo serve --worklist:
// the DICOM node's studies in priority order, items {id, label, url}; clicking one fetches the
// study's image from url and predicts it). It refreshes every 15 s.
// For tests: window.pneumoViewer exposes the state; document.body.dataset.state is
// idle | busy | done | error.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    status: $("service-status"), drop: $("drop-zone"), input: $("file-input"), request: $("request-status"),
    worklist: $("worklist-panel"), worklistItems: $("worklist-items"),
    caption: $("caption"), viewport: $("viewport"), stage: $("stage"), empty: $("empty-hint"),
    image: $("image-canvas"), mask: $("mask-canvas"),
    overlayToggle: $("overlay-toggle"), opacity: $("opacity"), opacityValue: $("opacity-value"),
    wc: $("window-center"), wcValue: $("window-center-value"), ww: $("window-width"), wwValue: $("window-width-value"),
    wlReset: $("window-reset"), zoom: $("zoom"), zoomValue: $("zoom-value"), zoomFit: $("zoom-fit"), zoomOne: $("zoom-one"),
    decision: $("decision"), probability: $("probability"), areaCm2: $("area-cm2"), areaPx: $("area-px"), side: $("side"),
    imageId: $("image-id"), imageSize: $("image-size"), modelSha: $("model-sha"), timings: $("timings"),
    imageSource: $("image-source"), downloadOverlay: $("download-overlay"), downloadJson: $("download-json"),
  };

  const state = {
    response: null,      // the parsed JSON of the last prediction
    grey: null,          // {rows, cols, values: Float32Array, invert, defaultCenter, defaultWidth, min, max}
    mask: null,          // Uint8Array rows*cols, row-major, 0/1
    rows: 0, cols: 0,
    center: 127.5, width: 256,
    view: { scale: 1, tx: 0, ty: 0 },
    imageSource: "",     // "browser-decoded dicom" | "browser-decoded png/jpeg" | "service overlay"
  };
  const objectUrls = [];

  // ---- small helpers -------------------------------------------------------------------------
  function setBodyState(s) { document.body.dataset.state = s; }
  function setRequest(text, s) { el.request.textContent = text; el.request.dataset.state = s; }
  function fmt(x, digits) { return Number.isFinite(x) ? x.toFixed(digits) : "—"; }
  // The overlay PNG's probability text (overlay.cpp format_probability: "p = %.2f").
  function overlayProbability(p) { return "p = " + p.toFixed(2); }
  // First defined value among dotted paths: pick(obj, "mask.rle", "rle").
  function pick(obj, ...paths) {
    for (const path of paths) {
      let v = obj;
      for (const k of path.split(".")) { v = v == null ? undefined : v[k]; }
      if (v !== undefined && v !== null) return v;
    }
    return undefined;
  }
  function base64ToBytes(b64) {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; ++i) out[i] = s.charCodeAt(i);
    return out;
  }

  // What the bytes are, from their magic numbers (the file name can lie or be missing).
  function sniff(bytes) {
    if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return "image/png";
    if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg";
    return "application/dicom";  // DICOM with or without the DICM preamble; the service judges
  }

  // ---- SIIM relative RLE -> row-major 0/1 mask ------------------------------------------------
  // "start length start length ...", each start relative to the end of the previous run, pixel
  // index counted down the columns (column-major); "-1" or "" = empty.
  function decodeRle(rle, rows, cols) {
    const mask = new Uint8Array(rows * cols);
    const text = String(rle == null ? "" : rle).trim();
    if (text === "" || text === "-1") return mask;
    const nums = text.split(/\s+/).map(Number);
    if (nums.length % 2 !== 0 || nums.some((n) => !Number.isInteger(n) || n < 0)) {
      throw new Error("mask RLE is not pairs of non-negative integers");
    }
    let pos = 0;
    for (let i = 0; i < nums.length; i += 2) {
      pos += nums[i];
      const end = pos + nums[i + 1];
      if (end > rows * cols) throw new Error(`mask RLE run ends at ${end}, past the ${rows}x${cols} image`);
      for (let k = pos; k < end; ++k) {
        const col = Math.floor(k / rows), row = k - col * rows;
        mask[row * cols + col] = 1;
      }
      pos = end;
    }
    return mask;
  }

  // ---- DICOM (just enough to show the pixels) -------------------------------------------------
  const TS_IMPLICIT_LE = "1.2.840.10008.1.2";
  const TS_EXPLICIT_LE = "1.2.840.10008.1.2.1";
  const TS_JPEG_BASELINE = "1.2.840.10008.1.2.4.50";
  const TS_JPEG_EXTENDED = "1.2.840.10008.1.2.4.51";
  const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);

  // Returns {ts, rows, cols, bitsAllocated, bitsStored, signed, photometric, samples, frames,
  // slope, intercept, windowCenter, windowWidth, pixelData (Uint8Array) | fragments [Uint8Array]}.
  // Throws Error with a one-line reason when the file is not something this parser handles.
  function parseDicom(bytes) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const text = (o, n) => new TextDecoder("latin1").decode(bytes.subarray(o, o + n)).replace(/[\0 ]+$/, "").trim();
    const out = { ts: TS_IMPLICIT_LE, samples: 1, frames: 1, slope: 1, intercept: 0, signed: false };
    let off = 0;
    if (bytes.length >= 132 && text(128, 4) === "DICM") off = 132;

    // Reads elements from off to end. explicit: VR in the stream. Returns the offset after.
    // depth > 0 means inside a sequence item: values are skipped, not recorded.
    function walk(start, end, explicit, depth, untilItemEnd) {
      let o = start;
      while (o + 8 <= end) {
        const group = dv.getUint16(o, true), elem = dv.getUint16(o + 2, true);
        const tag = group * 0x10000 + elem;
        if (group === 0xfffe) {  // item / delimiters
          const len = dv.getUint32(o + 4, true);
          o += 8;
          if (elem === 0xe00d) { if (untilItemEnd) return o; continue; }
          if (elem === 0xe0dd) return o;
          continue;  // item start outside a sequence walk: ignore
        }
        let vr = "", len, hdr;
        const metaGroup = group === 0x0002;
        if (explicit || metaGroup) {
          vr = String.fromCharCode(bytes[o + 4], bytes[o + 5]);
          if (LONG_VRS.has(vr)) { len = dv.getUint32(o + 8, true); hdr = 12; } else { len = dv.getUint16(o + 6, true); hdr = 8; }
        } else {
          len = dv.getUint32(o + 4, true); hdr = 8;
        }
        const valueAt = o + hdr;
        if (len === 0xffffffff) {
          if (tag === 0x7fe00010 && depth === 0) {  // encapsulated pixel data
            out.fragments = [];
            let p = valueAt, first = true;
            while (p + 8 <= end) {
              const g = dv.getUint16(p, true), e = dv.getUint16(p + 2, true), l = dv.getUint32(p + 4, true);
              p += 8;
              if (g !== 0xfffe || e === 0xe0dd) break;
              if (!first) out.fragments.push(bytes.subarray(p, p + l));  // first item: offset table
              first = false;
              p += l;
            }
            return p;
          }
          o = walkSequence(valueAt, end, explicit, depth + 1);
          continue;
        }
        if (valueAt + len > end) throw new Error("truncated DICOM element " + tag.toString(16).padStart(8, "0"));
        if (vr === "SQ" || (!explicit && !metaGroup && isImplicitSequence(tag))) {
          walkSequence(valueAt, valueAt + len, explicit, depth + 1);
        } else if (depth === 0) {
          record(tag, valueAt, len);
        }
        o = valueAt + len;
      }
      return o;
    }
    function walkSequence(start, end, explicit, depth) {
      let p = start;
      while (p + 8 <= end) {
        const g = dv.getUint16(p, true), e = dv.getUint16(p + 2, true), l = dv.getUint32(p + 4, true);
        p += 8;
        if (g !== 0xfffe) throw new Error("malformed DICOM sequence");
        if (e === 0xe0dd) return p;  // sequence end
        if (e !== 0xe000) continue;
        p = l === 0xffffffff ? walk(p, end, explicit, depth, true) : p + l;
      }
      return p;
    }
    // Implicit VR needs a dictionary to know sequences; only the ones that occur in X-ray headers
    // with a defined length matter (undefined lengths are walked as sequences anyway).
    function isImplicitSequence(tag) {
      return tag === 0x00081032 || tag === 0x00082112 || tag === 0x00081140 || tag === 0x00081115 || tag === 0x00400275;
    }
    function record(tag, at, len) {
      const u16 = () => dv.getUint16(at, true);
      const ds = () => parseFloat(text(at, len).split("\\")[0]);
      switch (tag) {
        case 0x00020010: out.ts = text(at, len); break;
        case 0x00280002: out.samples = u16(); break;
        case 0x00280004: out.photometric = text(at, len); break;
        case 0x00280008: out.frames = parseInt(text(at, len), 10) || 1; break;
        case 0x00280010: out.rows = u16(); break;
        case 0x00280011: out.cols = u16(); break;
        case 0x00280100: out.bitsAllocated = u16(); break;
        case 0x00280101: out.bitsStored = u16(); break;
        case 0x00280103: out.signed = u16() === 1; break;
        case 0x00281050: out.windowCenter = ds(); break;
        case 0x00281051: out.windowWidth = ds(); break;
        case 0x00281052: out.intercept = ds(); break;
        case 0x00281053: out.slope = ds(); break;
        case 0x7fe00010: out.pixelData = bytes.subarray(at, at + len); break;
        default: break;
      }
    }

    // File meta group (always explicit VR LE), then the data set in its transfer syntax.
    let o = off;
    while (o + 8 <= bytes.length && dv.getUint16(o, true) === 0x0002) {
      const vr = String.fromCharCode(bytes[o + 4], bytes[o + 5]);
      const long = LONG_VRS.has(vr);
      const len = long ? dv.getUint32(o + 8, true) : dv.getUint16(o + 6, true);
      const at = o + (long ? 12 : 8);
      record(dv.getUint16(o, true) * 0x10000 + dv.getUint16(o + 2, true), at, len);
      o = at + len;
    }
    if (out.ts === "1.2.840.10008.1.2.2") throw new Error("big endian DICOM: not decoded in the browser");
    if (out.ts === "1.2.840.10008.1.2.1.99") throw new Error("deflated DICOM: not decoded in the browser");
    walk(o, bytes.length, out.ts !== TS_IMPLICIT_LE, 0, false);
    if (!out.rows || !out.cols) throw new Error("no Rows/Columns in the DICOM header");
    if (!out.pixelData && !out.fragments) throw new Error("no pixel data in the DICOM");
    return out;
  }

  // Decoded modality values of a parsed DICOM: {rows, cols, values, invert, defaultCenter, defaultWidth}.
  async function dicomGrey(d) {
    if (d.samples !== 1) throw new Error("colour DICOM: not shown");
    if (d.frames > 1) throw new Error("multi-frame DICOM: not shown");
    const n = d.rows * d.cols;
    let stored;
    if (d.fragments) {
      if ((d.ts !== TS_JPEG_BASELINE && d.ts !== TS_JPEG_EXTENDED) || d.bitsAllocated !== 8) {
        throw new Error("transfer syntax " + d.ts + " is not decoded in the browser");
      }
      const rgba = await decodeImageBytes(new Blob(d.fragments, { type: "image/jpeg" }));
      if (rgba.rows !== d.rows || rgba.cols !== d.cols) throw new Error("JPEG frame size differs from Rows/Columns");
      stored = new Float32Array(n);
      for (let i = 0; i < n; ++i) stored[i] = rgba.data[4 * i];
    } else {
      if (d.ts !== TS_IMPLICIT_LE && d.ts !== TS_EXPLICIT_LE) throw new Error("transfer syntax " + d.ts + " is not decoded in the browser");
      const px = d.pixelData;
      const dv = new DataView(px.buffer, px.byteOffset, px.byteLength);
      stored = new Float32Array(n);
      if (d.bitsAllocated === 8) {
        if (px.length < n) throw new Error("pixel data shorter than Rows x Columns");
        for (let i = 0; i < n; ++i) stored[i] = d.signed ? (px[i] << 24) >> 24 : px[i];
      } else if (d.bitsAllocated === 16) {
        if (px.length < 2 * n) throw new Error("pixel data shorter than Rows x Columns");
        const bits = d.bitsStored || 16, maskBits = bits >= 32 ? 0xffffffff : (1 << bits) - 1;
        for (let i = 0; i < n; ++i) {
          let v = dv.getUint16(2 * i, true) & maskBits;
          if (d.signed && v & (1 << (bits - 1))) v -= 1 << bits;
          stored[i] = v;
        }
      } else {
        throw new Error(d.bitsAllocated + "-bit pixels are not shown");
      }
    }
    const plain8 = d.bitsAllocated === 8 && !d.signed && d.slope === 1 && d.intercept === 0 &&
      !Number.isFinite(d.windowCenter);
    const values = stored;
    if (d.slope !== 1 || d.intercept !== 0) for (let i = 0; i < n; ++i) values[i] = values[i] * d.slope + d.intercept;
    const grey = { rows: d.rows, cols: d.cols, values, invert: d.photometric === "MONOCHROME1" };
    addRange(grey);
    if (plain8) { grey.defaultCenter = 127.5; grey.defaultWidth = 256; }
    else if (Number.isFinite(d.windowCenter) && d.windowWidth > 0) { grey.defaultCenter = d.windowCenter; grey.defaultWidth = d.windowWidth; }
    else { grey.defaultCenter = (grey.min + grey.max + 1) / 2; grey.defaultWidth = Math.max(1, grey.max - grey.min + 1); }
    return grey;
  }

  // PNG/JPEG bytes (Blob) -> {rows, cols, data: RGBA Uint8ClampedArray}, by the browser.
  async function decodeImageBytes(blob) {
    const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const c = document.createElement("canvas");
    c.width = bitmap.width; c.height = bitmap.height;
    const ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    return { rows: c.height, cols: c.width, data: ctx.getImageData(0, 0, c.width, c.height).data };
  }

  // An 8-bit picture -> grey values as the service reads it (OpenCV's BGR->grey weights).
  function rgbaToGrey(rgba) {
    const n = rgba.rows * rgba.cols, values = new Float32Array(n), d = rgba.data;
    for (let i = 0; i < n; ++i) values[i] = Math.round(0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2]);
    const grey = { rows: rgba.rows, cols: rgba.cols, values, invert: false, defaultCenter: 127.5, defaultWidth: 256 };
    addRange(grey);
    return grey;
  }
  function addRange(grey) {
    let lo = Infinity, hi = -Infinity;
    for (const v of grey.values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    grey.min = lo; grey.max = hi;
  }

  // ---- drawing --------------------------------------------------------------------------------
  // DICOM PS3.3 C.11.2.1.2 linear window: (v - (c - 0.5)) / (w - 1) + 0.5, clamped to [0, 1].
  function drawImage() {
    const g = state.grey;
    if (!g) return;
    const ctx = el.image.getContext("2d");
    const img = ctx.createImageData(g.cols, g.rows);
    const c = state.center, w = Math.max(1, state.width);
    const lo = c - 0.5 - (w - 1) / 2, span = Math.max(1e-6, w - 1);
    for (let i = 0, n = g.values.length; i < n; ++i) {
      let t = (g.values[i] - lo) / span;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      let v = Math.round(t * 255);
      if (g.invert) v = 255 - v;
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  // Red fill at the chosen opacity, red outline (mask pixels with a 4-neighbour outside) opaque.
  function drawMask() {
    const m = state.mask, rows = state.rows, cols = state.cols;
    const ctx = el.mask.getContext("2d");
    ctx.clearRect(0, 0, cols, rows);
    if (!m) return;
    const opacity = Number(el.opacity.value);
    const img = ctx.createImageData(cols, rows);
    const fill = Math.round(opacity * 255), edge = Math.max(fill, Math.round(Math.min(1, opacity * 2.5) * 255));
    let count = 0;
    for (let r = 0; r < rows; ++r) {
      for (let c = 0; c < cols; ++c) {
        const i = r * cols + c;
        if (!m[i]) continue;
        ++count;
        const border = r === 0 || c === 0 || r === rows - 1 || c === cols - 1 ||
          !m[i - 1] || !m[i + 1] || !m[i - cols] || !m[i + cols];
        img.data[4 * i] = 255;
        img.data[4 * i + 3] = border ? edge : fill;
      }
    }
    ctx.putImageData(img, 0, 0);
    el.mask.dataset.maskPixels = String(count);
  }

  function applyOverlayVisibility() {
    el.mask.style.visibility = el.overlayToggle.checked ? "visible" : "hidden";
    el.mask.dataset.visible = String(el.overlayToggle.checked);
  }

  function applyView() {
    const v = state.view;
    el.stage.style.transform = `translate(${v.tx}px, ${v.ty}px) scale(${v.scale})`;
    // Sharp pixels when enlarged (reading), smooth when reduced.
    const rendering = v.scale >= 2 ? "pixelated" : "auto";
    el.image.style.imageRendering = el.mask.style.imageRendering = rendering;
    el.zoom.value = String(v.scale);
    el.zoomValue.textContent = Math.round(v.scale * 100) + "%";
    el.stage.dataset.scale = String(v.scale);
  }
  function fitView() {
    if (!state.cols) return;
    const vw = el.viewport.clientWidth, vh = el.viewport.clientHeight;
    const s = Math.min(vw / state.cols, vh / state.rows);
    state.view = { scale: s, tx: (vw - state.cols * s) / 2, ty: (vh - state.rows * s) / 2 };
    applyView();
  }
  function zoomAt(scale, px, py) {
    const v = state.view, s = Math.min(8, Math.max(0.05, scale));
    // keep the image point under (px, py) fixed
    v.tx = px - ((px - v.tx) * s) / v.scale;
    v.ty = py - ((py - v.ty) * s) / v.scale;
    v.scale = s;
    applyView();
  }

  function setWindow(center, width) {
    state.center = center; state.width = Math.max(1, width);
    el.wc.value = String(center); el.ww.value = String(state.width);
    el.wcValue.textContent = fmt(center, 0); el.wwValue.textContent = fmt(state.width, 0);
    drawImage();
  }
  function resetWindow() {
    const g = state.grey;
    if (!g) return;
    const lo = Math.min(g.min, g.defaultCenter - g.defaultWidth / 2), hi = Math.max(g.max, g.defaultCenter + g.defaultWidth / 2);
    el.wc.min = String(Math.floor(lo)); el.wc.max = String(Math.ceil(hi));
    el.ww.min = "1"; el.ww.max = String(Math.ceil(Math.max(hi - lo + 1, g.defaultWidth)));
    setWindow(g.defaultCenter, g.defaultWidth);
  }

  // ---- result panel ---------------------------------------------------------------------------
  function showResult(json, rows, cols) {
    const p = Number(pick(json, "probability"));
    const positive = Boolean(pick(json, "positive"));
    el.decision.textContent = positive ? "pneumothorax" : "no pneumothorax detected";
    el.decision.dataset.positive = String(positive);
    el.probability.textContent = fmt(p, 3);
    el.probability.dataset.value = String(pick(json, "probability"));
    const cm2 = pick(json, "mask_area_cm2", "area_cm2", "area.cm2");
    const px = pick(json, "mask_area_px", "area_px", "area.px");
    el.areaCm2.textContent = cm2 === undefined ? "n/a (no pixel spacing)" : fmt(Number(cm2), 2) + " cm²";
    el.areaCm2.dataset.value = cm2 === undefined ? "" : String(cm2);
    el.areaPx.textContent = px === undefined ? "—" : px + " px";
    el.side.textContent = String(pick(json, "side") ?? "—");
    el.imageId.textContent = String(pick(json, "image_id") ?? "—");
    el.imageSize.textContent = `${cols} × ${rows}`;
    el.modelSha.textContent = String(pick(json, "model_sha256", "model.sha256", "models.0.sha256") ?? "—");
    const t = pick(json, "timings_ms", "timings");
    el.timings.textContent = t && typeof t === "object"
      ? Object.entries(t).map(([k, v]) => `${k} ${typeof v === "number" ? v.toFixed(1) : v}`).join(", ") + " ms"
      : "—";

    // The overlay PNG's caption: the service's own lines when it sends them ("caption"), else the
    // same words and number format as overlay.cpp.
    let lines = pick(json, "caption");
    if (!Array.isArray(lines) || lines.length === 0 || lines.some((l) => typeof l !== "string")) {
      lines = positive ? ["THIS IMAGE CONTAINS PNEUMOTHORAX", overlayProbability(p)]
        : ["no pneumothorax detected (" + overlayProbability(p) + ")"];
    }
    el.caption.hidden = false;
    el.caption.className = "caption " + (positive ? "positive" : "negative");
    el.caption.replaceChildren(...lines.map((line, k) => {
      const span = document.createElement("span");
      span.className = k === 0 && positive ? "headline" : "line";
      span.textContent = line;
      return span;
    }));
    el.caption.dataset.positive = String(positive);
  }

  function clearResult() {
    for (const k of ["decision", "probability", "areaCm2", "areaPx", "side", "imageId", "imageSize", "modelSha", "timings", "imageSource"]) {
      el[k].textContent = "—";
      delete el[k].dataset.value;
    }
    el.caption.hidden = true;
    el.downloadOverlay.hidden = el.downloadJson.hidden = true;
    while (objectUrls.length) URL.revokeObjectURL(objectUrls.pop());
  }

  // ---- the request ----------------------------------------------------------------------------
  async function predictBytes(bytes, name) {
    const type = sniff(bytes);
    setBodyState("busy");
    setRequest(`predicting ${name || "image"}…`, "busy");
    clearResult();
    let response, json;
    try {
      response = await fetch("/v1/predict?outputs=overlay", { method: "POST", headers: { "Content-Type": type }, body: bytes });
      const body = await response.text();
      try { json = JSON.parse(body); } catch { json = null; }
      if (!response.ok) {
        const why = json ? pick(json, "error.message", "message", "error") : body.slice(0, 200);
        throw new Error(`${response.status} ${response.statusText}: ${typeof why === "string" ? why : JSON.stringify(why)}`);
      }
      if (!json) throw new Error("the service answered 200 without JSON");
      await show(json, bytes, type);
      setRequest(`${name || "image"}: done`, "done");
      setBodyState("done");
    } catch (err) {
      setRequest(String(err.message || err), "error");
      setBodyState("error");
    }
    return json;
  }

  async function show(json, bytes, type) {
    state.response = json;
    const rows = Number(pick(json, "rows", "source.rows", "image.rows"));
    const cols = Number(pick(json, "cols", "source.cols", "image.cols"));
    const overlayB64 = pick(json, "outputs.overlay", "outputs.overlay_png", "overlay_png", "overlay");
    const sourceB64 = pick(json, "outputs.image", "outputs.image_png", "image_png", "source_png");

    // The radiograph: the service's own grey rendering if it sends one, else decoded here.
    let grey = null, why = "";
    try {
      if (typeof sourceB64 === "string") {
        grey = rgbaToGrey(await decodeImageBytes(new Blob([base64ToBytes(sourceB64)], { type: "image/png" })));
        state.imageSource = "service image PNG";
      } else if (type === "application/dicom") {
        grey = await dicomGrey(parseDicom(bytes));
        state.imageSource = "DICOM decoded in the browser";
      } else {
        grey = rgbaToGrey(await decodeImageBytes(new Blob([bytes], { type })));
        state.imageSource = "PNG/JPEG decoded in the browser";
      }
      if (Number.isFinite(rows) && Number.isFinite(cols) && (grey.rows !== rows || grey.cols !== cols)) {
        throw new Error(`decoded ${grey.cols}x${grey.rows}, the service says ${cols}x${rows}`);
      }
    } catch (err) {
      grey = null;
      why = String(err.message || err);
    }
    let overlayRgba = null;
    if (typeof overlayB64 === "string") {
      const blob = new Blob([base64ToBytes(overlayB64)], { type: "image/png" });
      const url = URL.createObjectURL(blob);
      objectUrls.push(url);
      el.downloadOverlay.href = url;
      el.downloadOverlay.download = safeName(pick(json, "image_id") || "image") + "-overlay.png";
      el.downloadOverlay.hidden = false;
      if (!grey) overlayRgba = await decodeImageBytes(blob);
    }
    if (!grey && !overlayRgba) throw new Error("cannot show this image: " + why);

    state.rows = grey ? grey.rows : overlayRgba.rows;
    state.cols = grey ? grey.cols : overlayRgba.cols;
    for (const c of [el.image, el.mask]) { c.width = state.cols; c.height = state.rows; }
    el.stage.style.width = state.cols + "px";
    el.stage.style.height = state.rows + "px";

    if (grey) {
      state.grey = grey;
      resetWindow();
      state.mask = decodeRle(pick(json, "mask_rle", "rle", "mask.rle", "encoded_pixels", "EncodedPixels"), state.rows, state.cols);
      el.wc.disabled = el.ww.disabled = el.wlReset.disabled = false;
      el.overlayToggle.disabled = false;
    } else {
      // Fallback: the service's overlay PNG (mask and caption burned in), no window/level.
      state.grey = null; state.mask = null;
      el.image.getContext("2d").putImageData(new ImageData(overlayRgba.data, overlayRgba.cols, overlayRgba.rows), 0, 0);
      el.wc.disabled = el.ww.disabled = el.wlReset.disabled = true;
      el.overlayToggle.disabled = true;
      state.imageSource = "service overlay PNG (" + why + ")";
    }
    drawMask();
    applyOverlayVisibility();
    showResult(json, state.rows, state.cols);
    el.imageSource.textContent = state.imageSource;
    const jsonUrl = URL.createObjectURL(new Blob([JSON.stringify(stripBase64(json), null, 2)], { type: "application/json" }));
    objectUrls.push(jsonUrl);
    el.downloadJson.href = jsonUrl;
    el.downloadJson.download = safeName(pick(json, "image_id") || "image") + ".json";
    el.downloadJson.hidden = false;

    el.stage.hidden = false;
    el.empty.hidden = true;
    fitView();
    el.stage.dataset.ready = "true";
  }

  function safeName(s) { return String(s).replace(/[^A-Za-z0-9._-]/g, "_"); }
  function stripBase64(json) {
    const copy = JSON.parse(JSON.stringify(json));
    if (copy.outputs && typeof copy.outputs === "object") {
      for (const k of Object.keys(copy.outputs)) if (typeof copy.outputs[k] === "string") copy.outputs[k] = `<${copy.outputs[k].length} base64 chars>`;
    }
    return copy;
  }

  async function predictFile(file) {
    if (!file) return null;
    el.stage.dataset.ready = "false";
    const bytes = new Uint8Array(await file.arrayBuffer());
    return predictBytes(bytes, file.name);
  }

  // ---- service status and the worklist hook ---------------------------------------------------
  async function checkService() {
    try {
      const r = await fetch("/ready", { cache: "no-store" });
      el.status.textContent = r.ok ? "service ready" : `service not ready (${r.status})`;
      el.status.dataset.state = r.ok ? "ready" : "starting";
      if (!r.ok) setTimeout(checkService, 2000);
    } catch {
      el.status.textContent = "service unreachable";
      el.status.dataset.state = "down";
      setTimeout(checkService, 5000);
    }
  }
  async function loadWorklist() {
    let items;
    try {
      const r = await fetch("/v1/worklist", { cache: "no-store", headers: { Accept: "application/json" } });
      if (!r.ok) return;
      const j = await r.json();
      items = Array.isArray(j) ? j : Array.isArray(j.items) ? j.items : null;
    } catch { return; }
    if (!items) return;
    el.worklistItems.replaceChildren(...items.map((it) => {
      const li = document.createElement("li");
      li.textContent = it.label || it.id || it.url || "item";
      li.dataset.id = it.id || "";
      if (it.url) li.addEventListener("click", async () => {
        const r = await fetch(it.url);
        if (!r.ok) { setRequest(`worklist item: ${r.status}`, "error"); return; }
        predictBytes(new Uint8Array(await r.arrayBuffer()), it.label || it.id);
      });
      return li;
    }));
    el.worklist.hidden = false;
    // New studies arrive while the page is open: refresh while the worklist exists.
    clearTimeout(loadWorklist.timer);
    loadWorklist.timer = setTimeout(loadWorklist, 15000);
  }

  // ---- events ---------------------------------------------------------------------------------
  el.input.addEventListener("change", () => predictFile(el.input.files[0]));
  for (const ev of ["dragenter", "dragover"]) el.drop.addEventListener(ev, (e) => { e.preventDefault(); el.drop.classList.add("over"); });
  for (const ev of ["dragleave", "drop"]) el.drop.addEventListener(ev, () => el.drop.classList.remove("over"));
  el.drop.addEventListener("drop", (e) => { e.preventDefault(); predictFile(e.dataTransfer.files[0]); });
  // Dropping anywhere on the page loads the file instead of navigating away.
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => { e.preventDefault(); if (e.dataTransfer.files[0]) predictFile(e.dataTransfer.files[0]); });

  el.overlayToggle.addEventListener("change", applyOverlayVisibility);
  el.opacity.addEventListener("input", () => { el.opacityValue.textContent = Number(el.opacity.value).toFixed(2); drawMask(); });
  el.wc.addEventListener("input", () => setWindow(Number(el.wc.value), state.width));
  el.ww.addEventListener("input", () => setWindow(state.center, Number(el.ww.value)));
  el.wlReset.addEventListener("click", resetWindow);
  el.zoom.addEventListener("input", () => zoomAt(Number(el.zoom.value), el.viewport.clientWidth / 2, el.viewport.clientHeight / 2));
  el.zoomFit.addEventListener("click", fitView);
  el.zoomOne.addEventListener("click", () => zoomAt(1, el.viewport.clientWidth / 2, el.viewport.clientHeight / 2));
  el.viewport.addEventListener("wheel", (e) => {
    if (!state.cols) return;
    e.preventDefault();
    const r = el.viewport.getBoundingClientRect();
    zoomAt(state.view.scale * Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  el.viewport.addEventListener("contextmenu", (e) => e.preventDefault());
  let drag = null;
  el.viewport.addEventListener("pointerdown", (e) => {
    if (!state.cols) return;
    const wl = e.shiftKey || e.button === 2;
    drag = { x: e.clientX, y: e.clientY, wl, tx: state.view.tx, ty: state.view.ty, c: state.center, w: state.width };
    el.viewport.setPointerCapture(e.pointerId);
    el.viewport.classList.add("dragging");
  });
  el.viewport.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (drag.wl && state.grey) {
      const range = Math.max(1, state.grey.max - state.grey.min + 1) / 256;  // 1 px = 1/256 of the range
      setWindow(drag.c + dy * range, drag.w + dx * range);
    } else if (!drag.wl) {
      state.view.tx = drag.tx + dx; state.view.ty = drag.ty + dy;
      applyView();
    }
  });
  const endDrag = () => { drag = null; el.viewport.classList.remove("dragging"); };
  el.viewport.addEventListener("pointerup", endDrag);
  el.viewport.addEventListener("pointercancel", endDrag);
  window.addEventListener("resize", () => { if (state.cols) fitView(); });

  el.opacityValue.textContent = Number(el.opacity.value).toFixed(2);
  setBodyState("idle");
  checkService();
  loadWorklist();

  window.pneumoViewer = { state, predictBytes, predictFile, decodeRle, parseDicom, fitView };
})();
