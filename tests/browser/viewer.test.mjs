// The web viewer in a real browser (ctest browser.viewer, started by run.sh).
//
//   node viewer.test.mjs --pneumo BIN --chromium /usr/bin/chromium --source REPO [--model FILE] [--keep]
//
// 1. `pneumo synth` makes SIIM-format phantoms (half positive); `pneumo serve` starts on a free
//    loopback port with the shipped model (or --model) and is waited for on /ready.
// 2. Every synthetic positive is POSTed once straight to /v1/predict (Node's fetch); the one whose
//    predicted mask is largest (and under half the image) is the test image: the assertions need a
//    mask to look at, and the service is the oracle for what the mask is.
// 3. Headless Chromium opens the page at /, uploads that DICOM through the file input, and the test
//    reads the JSON the page itself received. Asserted:
//    - the shown probability is the JSON's (data-value exactly, the text to 3 decimals), and agrees
//      with the direct request; decision, side, area and the overlay PNG's caption words/format;
//    - a screenshot of the viewport: decoding the JSON's RLE here (independently of viewer.js), the
//      screen pixels well inside the mask are red-tinted and the pixels well outside it are grey;
//      with the overlay toggled off, the inside pixels are grey too (the red was the overlay's);
//    - a malformed upload shows the service's 4xx reason, and the service still answers.
// Exit 0 pass, 1 fail. Screenshots stay in the working folder (shot-*.png) for a failed run.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { PNG } from "pngjs";

// ---- arguments and clean-up --------------------------------------------------------------------
const argv = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};
const PNEUMO = arg("--pneumo");
const CHROMIUM = arg("--chromium", "/usr/bin/chromium");
const SOURCE = arg("--source", path.resolve(path.dirname(new URL(import.meta.url).pathname), "../.."));
const MODEL = arg("--model", path.join(SOURCE, "models", "pneumo-siim.pneumo"));
const KEEP = argv.includes("--keep");
if (!PNEUMO) { console.error("usage: viewer.test.mjs --pneumo BIN [--chromium PATH] [--source REPO] [--model FILE]"); process.exit(2); }

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pneumo-browser-"));
let server = null, context = null;
const serverLog = path.join(tmp, "serve.log");
async function cleanup() {
  if (context) await context.close().catch(() => {});
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((r) => { const t = setTimeout(() => { server.kill("SIGKILL"); r(); }, 20000); server.once("exit", () => { clearTimeout(t); r(); }); });
  }
  if (!KEEP) fs.rmSync(tmp, { recursive: true, force: true });
}
function fail(message) {
  const err = new Error(message);
  err.testFailure = true;
  throw err;
}
function check(cond, message) { if (!cond) fail(message); else console.log("ok   " + message); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- helpers -----------------------------------------------------------------------------------
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// SIIM relative RLE ("start length ..." with starts relative to the previous run's end, pixels
// counted down the columns) -> row-major 0/1. Written here, apart from viewer.js, as the oracle.
function rleToMask(rle, rows, cols) {
  const m = new Uint8Array(rows * cols);
  const t = String(rle).trim();
  if (t === "-1" || t === "") return m;
  const v = t.split(/\s+/).map((s) => parseInt(s, 10));
  let pos = 0;
  for (let i = 0; i + 1 < v.length; i += 2) {
    pos += v[i];
    for (let k = pos; k < pos + v[i + 1]; ++k) m[(k % rows) * cols + Math.floor(k / rows)] = 1;
    pos += v[i + 1];
  }
  return m;
}

// Summed-area table of a 0/1 mask, for "are all / none of the pixels in this box set".
function integral(mask, rows, cols) {
  const s = new Int32Array((rows + 1) * (cols + 1));
  for (let r = 0; r < rows; ++r) {
    let line = 0;
    for (let c = 0; c < cols; ++c) {
      line += mask[r * cols + c];
      s[(r + 1) * (cols + 1) + c + 1] = s[r * (cols + 1) + c + 1] + line;
    }
  }
  return (r0, c0, r1, c1) => {  // inclusive box, clipped
    r0 = Math.max(0, r0); c0 = Math.max(0, c0); r1 = Math.min(rows - 1, r1); c1 = Math.min(cols - 1, c1);
    const W = cols + 1;
    return s[(r1 + 1) * W + c1 + 1] - s[r0 * W + c1 + 1] - s[(r1 + 1) * W + c0] + s[r0 * W + c0];
  };
}

// Classifies screen pixels of the image against the mask: inside = every source pixel within
// `margin` is in the mask, outside = none is; red = R exceeds max(G, B) by more than 40 (the grey
// radiograph has R = G = B; the 35% red fill adds about 90 to R - G).
function redFractions(png, geom, mask, rows, cols) {
  const box = integral(mask, rows, cols);
  const perScreenPx = cols / geom.w;  // source pixels per screen pixel
  const margin = Math.ceil(2 * perScreenPx) + 2;
  const out = { inside: 0, insideRed: 0, outside: 0, outsideRed: 0 };
  for (let y = Math.ceil(geom.y); y < Math.min(png.height, Math.floor(geom.y + geom.h)); ++y) {
    for (let x = Math.ceil(geom.x); x < Math.min(png.width, Math.floor(geom.x + geom.w)); ++x) {
      const sc = Math.floor((x + 0.5 - geom.x) * cols / geom.w), sr = Math.floor((y + 0.5 - geom.y) * rows / geom.h);
      if (sc < 0 || sr < 0 || sc >= cols || sr >= rows) continue;
      const n = box(sr - margin, sc - margin, sr + margin, sc + margin);
      const i = 4 * (y * png.width + x);
      const red = png.data[i] - Math.max(png.data[i + 1], png.data[i + 2]) > 40;
      const area = (Math.min(rows - 1, sr + margin) - Math.max(0, sr - margin) + 1) * (Math.min(cols - 1, sc + margin) - Math.max(0, sc - margin) + 1);
      if (n === area) { out.inside++; if (red) out.insideRed++; }
      else if (n === 0) { out.outside++; if (red) out.outsideRed++; }
    }
  }
  return out;
}

async function screenshot(page, name) {
  const file = path.join(process.cwd(), `shot-${name}.png`);
  const buf = await page.locator("#viewport").screenshot({ path: file, animations: "disabled" });
  return PNG.sync.read(buf);
}

// ---- the test ----------------------------------------------------------------------------------
async function main() {
  check(fs.existsSync(MODEL), `model file exists: ${MODEL}`);

  // 1. Phantoms and the service.
  const data = path.join(tmp, "data");
  execFileSync(PNEUMO, ["-q", "synth", "--out", data, "--count", "16", "--seed", "11", "--size", "512",
    "--positive-share", "0.5"], { stdio: ["ignore", "ignore", "inherit"] });
  const csv = fs.readFileSync(path.join(data, "train-rle.csv"), "utf8").trim().split("\n").slice(1);
  const positives = [...new Set(csv.map((l) => l.split(",")).filter(([, r]) => r.trim() !== "-1").map(([id]) => id.trim()))];
  const files = new Map();
  const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p); else if (e.name.endsWith(".dcm")) files.set(e.name.slice(0, -4), p);
  } };
  walk(path.join(data, "dicom"));
  check(positives.length > 0 && positives.every((id) => files.has(id)), `synth made ${positives.length} positive DICOMs with labels`);

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logFd = fs.openSync(serverLog, "w");
  server = spawn(PNEUMO, ["serve", "--model", MODEL, "--host", "127.0.0.1", "--port", String(port),
    "--web-root", path.join(SOURCE, "web")],
    { stdio: ["ignore", logFd, logFd] });
  const deadline = Date.now() + 240000;
  let ready = false;
  while (Date.now() < deadline && server.exitCode === null) {
    try { if ((await fetch(base + "/ready")).status === 200) { ready = true; break; } } catch { /* not listening yet */ }
    await sleep(250);
  }
  if (!ready) fail(`pneumo serve did not become ready on ${base} (exit code ${server.exitCode}; its log follows)`);
  console.log(`ok   pneumo serve ready on ${base}`);

  // 2. The test image: the synthetic positive with the largest predicted mask.
  let pick = null;
  for (const id of positives) {
    const body = fs.readFileSync(files.get(id));
    const r = await fetch(base + "/v1/predict", { method: "POST", headers: { "Content-Type": "application/dicom" }, body });
    if (r.status !== 200) fail(`direct POST of ${id}: ${r.status} ${await r.text()}`);
    const j = await r.json();
    const area = Number(j.mask_area_px);
    if (j.positive && area > 0 && area < 0.5 * j.rows * j.cols && (!pick || area > pick.json.mask_area_px)) pick = { id, file: files.get(id), json: j };
  }
  if (!pick) fail(`the model predicted no mask (or one over half the image) on any of the ${positives.length} synthetic positives: nothing to check the overlay against`);
  console.log(`ok   test image ${pick.id}: direct p = ${pick.json.probability}, mask ${pick.json.mask_area_px} px`);

  // 3. The browser.
  const profile = path.join(tmp, "chromium-profile");
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] || await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(base + "/");
  await page.waitForFunction(() => document.getElementById("service-status").dataset.state === "ready", null, { timeout: 30000 });
  check(true, "the page loads from / and reports the service ready");
  check(await page.locator("#worklist-panel").isHidden(), "the worklist panel stays hidden without /v1/worklist");

  const answered = page.waitForResponse((r) => r.url().includes("/v1/predict") && r.request().method() === "POST", { timeout: 120000 });
  await page.setInputFiles("#file-input", pick.file);
  const response = await answered;
  check(response.status() === 200, `the page's POST /v1/predict answered ${response.status()}`);
  const json = await response.json();
  await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state) && (document.body.dataset.state === "error" || document.getElementById("stage").dataset.ready === "true"), null, { timeout: 120000 });
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state !== "done") fail("the page shows an error: " + await page.textContent("#request-status"));

  const shownP = await page.locator("#probability").getAttribute("data-value");
  const shownText = (await page.textContent("#probability")).trim();
  check(shownP === String(json.probability), `shown probability value ${shownP} equals the JSON's ${json.probability}`);
  check(shownText === Number(json.probability).toFixed(3), `shown probability text "${shownText}" is the JSON's to 3 decimals`);
  check(Math.abs(json.probability - pick.json.probability) < 1e-4, `the page's answer agrees with the direct request (${json.probability} vs ${pick.json.probability})`);
  check(await page.locator("#decision").getAttribute("data-positive") === String(json.positive), "decision matches 'positive'");
  check((await page.textContent("#side")).trim() === String(json.side), `side shown is the JSON's (${json.side})`);
  const cm2 = json.mask_area_cm2;
  check((await page.locator("#area-cm2").getAttribute("data-value")) === (cm2 == null ? "" : String(cm2)), `area cm² shown is the JSON's (${cm2})`);
  const captionLines = await page.locator("#caption span").allTextContents();
  if (Array.isArray(json.caption)) {
    check(JSON.stringify(captionLines) === JSON.stringify(json.caption), `caption lines are the JSON's: ${JSON.stringify(json.caption)}`);
  }
  const caption = captionLines.join(" ");
  check(json.positive ? caption.includes("THIS IMAGE CONTAINS PNEUMOTHORAX") && caption.includes(`p = ${Number(json.probability).toFixed(2)}`)
    : caption.includes(`no pneumothorax detected (p = ${Number(json.probability).toFixed(2)})`),
  `caption is the overlay PNG's: "${caption.trim()}"`);

  // Screenshot vs the mask decoded here.
  const rle = json.mask_rle ?? json.rle ?? json.encoded_pixels;
  check(typeof rle === "string", "the JSON carries the mask RLE");
  const rows = json.rows, cols = json.cols;
  const mask = rleToMask(rle, rows, cols);
  const maskPixels = mask.reduce((a, b) => a + b, 0);
  check(maskPixels === Number(json.mask_area_px), `RLE decodes to mask_area_px (${maskPixels})`);
  const geom = await page.evaluate(() => {
    const v = document.getElementById("viewport").getBoundingClientRect();
    const c = document.getElementById("image-canvas").getBoundingClientRect();
    return { x: c.left - v.left, y: c.top - v.top, w: c.width, h: c.height };
  });
  check(geom.w > 100 && Math.abs(geom.w / geom.h - cols / rows) < 0.01, `image shown at ${geom.w.toFixed(0)}x${geom.h.toFixed(0)} px, aspect kept`);

  const on = redFractions(await screenshot(page, "overlay"), geom, mask, rows, cols);
  console.log(`     overlay on: ${on.insideRed}/${on.inside} red inside the mask, ${on.outsideRed}/${on.outside} red outside`);
  check(on.inside >= 100, "enough screen pixels lie well inside the mask to judge");
  check(on.insideRed / on.inside >= 0.95, "screen pixels well inside the mask are red (overlay on)");
  check(on.outsideRed / on.outside <= 0.002, "screen pixels well outside the mask are not red");

  await page.locator("#overlay-toggle").click();
  const off = redFractions(await screenshot(page, "no-overlay"), geom, mask, rows, cols);
  console.log(`     overlay off: ${off.insideRed}/${off.inside} red inside the mask`);
  check(off.insideRed / off.inside <= 0.002, "with the overlay toggled off the mask area is grey");

  // Window/level redraws the radiograph: a narrow window changes the screen.
  const before = await page.evaluate(() => document.getElementById("image-canvas").toDataURL());
  await page.evaluate(() => {
    const w = document.getElementById("window-width");
    w.value = "16";
    w.dispatchEvent(new Event("input", { bubbles: true }));
  });
  const after = await page.evaluate(() => document.getElementById("image-canvas").toDataURL());
  check(before !== after, "changing the window width redraws the radiograph");

  // A malformed upload: the service's reason is shown, and the service keeps serving.
  await page.setInputFiles("#file-input", { name: "broken.dcm", mimeType: "application/dicom", buffer: Buffer.from("this is not a DICOM file") });
  await page.waitForFunction(() => document.body.dataset.state === "error", null, { timeout: 60000 });
  const why = (await page.textContent("#request-status")).trim();
  check(/^4\d\d /.test(why), `a malformed upload shows the 4xx reason: "${why.slice(0, 120)}"`);
  check((await fetch(base + "/health")).status === 200, "the service still answers /health");

  check(pageErrors.length === 0, "no JavaScript errors on the page" + (pageErrors.length ? ": " + pageErrors.join("; ") : ""));
}

try {
  await main();
  await cleanup();
  console.log("PASS: the viewer shows the service's answer and its mask where the mask is");
  process.exit(0);
} catch (err) {
  console.log("FAIL: " + (err.testFailure ? err.message : err.stack));
  if (fs.existsSync(serverLog)) console.log("--- serve log (tail) ---\n" + fs.readFileSync(serverLog, "utf8").slice(-2000));
  console.log(`screenshots: ${process.cwd()}/shot-*.png`);
  await cleanup();
  process.exit(1);
}
