// The dedup page: what instant upload and dedup at rest saved, from the server's
// counters (GET /_fastgate/dedup; the root user sees the server's, any other user their
// own instant uploads), sampled every two seconds while signed in and drawn as an
// inline SVG chart. Samples are kept in sessionStorage, so the chart survives a reload.

import { formatBytes, h } from "./app.js";

const EVERY_MS = 2000;
const MAX_SAMPLES = 1800; // an hour
const SVG = "http://www.w3.org/2000/svg";
let sampler = null;

/** Leaves the dedup page (sampling goes on). */
export function stopDedup() {
  if (sampler) sampler.draw = null;
}

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

const SERIES = [
  { field: "bytes_not_received", label: "bytes not received (instant uploads)", cls: "s-received" },
  { field: "bytes_not_stored", label: "bytes not stored (dedup)", cls: "s-stored" },
];

/** A line chart of the cumulative counters over the sampled time. */
function chart(samples) {
  const W = 760, H = 260, L = 80, R = 16, T = 16, B = 36;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "dedup savings over time" });
  const t0 = samples[0].at_ms;
  const t1 = Math.max(samples[samples.length - 1].at_ms, t0 + 10000);
  const top = Math.max(1, ...samples.flatMap((x) => SERIES.map((k) => x[k.field])));
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / top) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(s("text", { x: L - 8, y: y(v) + 4, class: "axis", "text-anchor": "end" }, formatBytes(v)));
  }
  const secs = Math.round((t1 - t0) / 1000);
  svg.append(s("text", { x: L, y: H - 10, class: "axis" }, new Date(t0).toLocaleTimeString()));
  svg.append(s("text", { x: W - R, y: H - 10, class: "axis", "text-anchor": "end" }, `${new Date(t1).toLocaleTimeString()} (${secs} s)`));
  for (const k of SERIES) {
    const pts = samples.map((p) => `${x(p.at_ms).toFixed(1)},${y(p[k.field]).toFixed(1)}`);
    if (pts.length === 1) pts.push(`${(W - R).toFixed(1)},${y(samples[0][k.field]).toFixed(1)}`);
    svg.append(s("polyline", { points: pts.join(" "), class: `line ${k.cls}` }));
  }
  return svg;
}

function cards(last) {
  const items = [
    ["Instant uploads", String(last.hits), "writes completed without their body"],
    ["Not received", formatBytes(last.bytes_not_received), "bytes clients did not have to send"],
    ["Not stored", formatBytes(last.bytes_not_stored), "bytes not written to disk again"],
  ];
  if (last.scope === "server") {
    items.push(["Received", formatBytes(last.bytes_received), "upload bytes that crossed the network"]);
    items.push(["Stored", formatBytes(last.stored_bytes), `${last.stored_chunks} distinct chunks on disk`]);
  }
  return h("div", { class: "cards" }, items.map(([title, value, note]) =>
    h("div", { class: "stat" }, h("div", { class: "muted" }, title), h("div", { class: "value" }, value), h("div", { class: "muted small" }, note))));
}

/** Samples the counters every few seconds while signed in (in the background, so the
 * chart shows the uploads of this session), and redraws the page when it is shown. */
export function startSampling(s3) {
  if (sampler && sampler.s3 === s3) return;
  stopSampling();
  const key = `fastgate.dedup-samples:${s3.creds.accessKey}`;
  let samples = [];
  try {
    samples = JSON.parse(sessionStorage.getItem(key)) || [];
  } catch {
    samples = [];
  }
  const take = async () => {
    const now = await s3.dedup();
    // A server restart resets its counters: start the chart again.
    const last = samples[samples.length - 1];
    if (last && (now.bytes_not_stored < last.bytes_not_stored || now.scope !== last.scope)) samples = [];
    samples.push(now);
    if (samples.length > MAX_SAMPLES) samples = samples.slice(-MAX_SAMPLES);
    sessionStorage.setItem(key, JSON.stringify(samples));
    if (sampler?.draw) sampler.draw(samples);
  };
  sampler = { s3, take, timer: setInterval(() => take().catch(() => {}), EVERY_MS), draw: null };
  take().catch(() => {});
}

export function stopSampling() {
  if (sampler) clearInterval(sampler.timer);
  sampler = null;
}

export async function showDedup(s3, container) {
  startSampling(s3);
  const body = h("div", { id: "dedup-body" });
  const scopeNote = h("p", { class: "muted" });
  container.replaceChildren(h("section", { class: "card", id: "dedup" },
    h("h2", {}, "Dedup savings"), scopeNote, body,
    h("div", { class: "legend" }, SERIES.map((k) => h("span", { class: `key ${k.cls}` }, k.label)))));
  sampler.draw = (samples) => {
    const now = samples[samples.length - 1];
    scopeNote.textContent = now.scope === "server"
      ? "The whole server since it started (you are its root user), sampled while you are signed in."
      : "Your own instant uploads since the server started, sampled while you are signed in. Server-wide figures are for the root user: they would tell whether someone else stores a file you guess.";
    body.replaceChildren(cards(now), chart(samples));
    body.dataset.samples = String(samples.length);
  };
  await sampler.take();
}
