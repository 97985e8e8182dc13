// The fleet page's script (served by bridge/http/fleet-page.ts as /fleet/fleet.js): reads
// /fleet/summary every few seconds and draws the devices, the feeds (a chart of recent values in
// inline SVG) and the batches. No library, no build step; text goes in as text (textContent),
// never as HTML.

const REFRESH_MS = 3000;
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  node.append(...children.filter((c) => c !== undefined && c !== null));
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** A hex id shortened for display, whole in its title. */
const short = (hex, n = 10) => (hex.length > n + 4 ? `${hex.slice(0, n)}…${hex.slice(-4)}` : hex);
const hexCell = (hex, n) => el("span", { class: "hex", title: hex }, short(hex, n));

/** "4 s", "3 min", "2 h", "5 d" ago. */
function age(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

const clock = (ms) => new Date(ms).toLocaleTimeString();

function renderDevices(summary, now) {
  const body = $("devices").tBodies[0];
  const rows = summary.devices.map((d) => {
    const last = d.lastReading;
    const signedAgoMs = last ? now - Number(last.timestamp) * 1000 : null;
    const reasons = Object.entries(d.rejections)
      .sort((a, b) => b[1] - a[1])
      .map(([reason, n]) => `${reason} ${n}`)
      .join(", ");
    const rejectionText = d.rejected === 0 ? "0" : `${d.rejected} (${reasons})`;
    const title = d.lastRejection ? `last: ${d.lastRejection.reason} at ${clock(d.lastRejection.at)}` : null;
    return el(
      "tr",
      { "data-device": d.name },
      el("td", {}, hexCell(d.name, 12)),
      el("td", {}, el("span", { class: `badge ${d.status}`, "data-field": "status" }, d.status)),
      el("td", {}, d.curve ?? "—"),
      el("td", {}, last ? hexCell(last.feedId, 10) : "—"),
      el("td", { class: "num", "data-field": "value" }, last ? last.value : "—"),
      el(
        "td",
        { class: "num", "data-field": "sequence" },
        last ? el("a", { href: `readings/${last.id}` }, last.sequence) : "—",
      ),
      el(
        "td",
        {
          "data-field": "age",
          class: signedAgoMs !== null && signedAgoMs > 5 * 60_000 ? "stale" : null,
          title: last ? `signed ${new Date(Number(last.timestamp) * 1000).toISOString()}` : null,
        },
        signedAgoMs === null ? "—" : `${age(signedAgoMs)} ago`,
      ),
      el("td", { class: "num", "data-field": "accepted" }, String(d.accepted)),
      el(
        "td",
        { class: `rejections${d.rejected ? " some" : ""}`, "data-field": "rejections", title },
        rejectionText,
      ),
    );
  });
  body.replaceChildren(...rows);
  $("devices-count").textContent =
    summary.devicesTotal > summary.devices.length
      ? `(${summary.devices.length} of ${summary.devicesTotal})`
      : `(${summary.devicesTotal})`;
  $("devices-empty").hidden = rows.length > 0;
}

/**
 * A line chart of a feed's recent values, oldest to newest left to right (evenly spaced: readings
 * of one second share a timestamp), min and max labelled, the span of their signed times below.
 */
function chart(points) {
  const w = 360;
  const h = 120;
  const pad = { left: 44, right: 6, top: 8, bottom: 16 };
  const root = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${w} ${h}`,
    role: "img",
    "aria-label": `${points.length} recent values`,
  });
  if (points.length === 0) return root;
  const ys = points.map((p) => Number(p.value));
  const times = points.map((p) => Number(p.timestamp));
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const labels = [String(y1), String(y0)];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const px = (i) =>
    pad.left + (points.length === 1 ? 0.5 : i / (points.length - 1)) * (w - pad.left - pad.right);
  const py = (y) => pad.top + (1 - (y - y0) / (y1 - y0)) * (h - pad.top - pad.bottom);
  for (const [y, label] of [
    [Math.max(...ys), labels[0]],
    [Math.min(...ys), labels[1]],
  ]) {
    root.append(svg("line", { class: "grid", x1: pad.left, x2: w - pad.right, y1: py(y), y2: py(y) }));
    const t = svg("text", { x: pad.left - 4, y: py(y) + 3, "text-anchor": "end" });
    t.textContent = label;
    root.append(t);
  }
  const span = svg("text", { x: w - pad.right, y: h - 3, "text-anchor": "end" });
  span.textContent = `${points.length} readings over ${age((Math.max(...times) - Math.min(...times)) * 1000)}`;
  root.append(span);
  const coords = ys.map((y, i) => `${px(i).toFixed(1)},${py(y).toFixed(1)}`);
  root.append(svg("polyline", { class: "line", points: coords.join(" ") }));
  const last = ys.length - 1;
  root.append(svg("circle", { class: "dot", r: 2.5, cx: px(last), cy: py(ys[last]) }));
  return root;
}

function renderFeeds(summary) {
  const cards = summary.feeds.map((f) => {
    const newest = f.recent.at(-1);
    const committed = f.latestCommitted;
    return el(
      "article",
      { class: "feed", "data-feed": f.feedId },
      el("h3", {}, "feed ", hexCell(f.feedId, 14)),
      el(
        "dl",
        {},
        el("dt", {}, "latest committed"),
        el(
          "dd",
          { "data-field": "committed" },
          committed ? el("a", { href: `feeds/${f.feedId}/latest` }, committed.value) : "—",
        ),
        el("dt", {}, "latest accepted"),
        el("dd", { "data-field": "accepted" }, newest ? newest.value : "—"),
      ),
      chart(f.recent),
    );
  });
  $("feeds").replaceChildren(...cards);
  $("feeds-empty").hidden = cards.length > 0;
}

function renderBatches(summary) {
  const rows = summary.batches.map((b) =>
    el(
      "tr",
      { "data-batch": b.root },
      el("td", {}, clock(b.committedAt)),
      el("td", {}, el("a", { href: `batches/${b.root}`, class: "hex", title: b.root }, short(b.root, 14))),
      el("td", { class: "num" }, String(b.readings)),
      el("td", { class: "num" }, String(b.leftOut)),
      el("td", { class: "num" }, b.blockNumber),
      el("td", { "data-field": "tx" }, hexCell(b.txHash, 14)),
      el("td", { class: "num" }, Number(b.gasUsed).toLocaleString()),
    ),
  );
  $("batches").tBodies[0].replaceChildren(...rows);
  $("batches-empty").hidden = rows.length > 0;
}

async function refresh() {
  const status = $("status");
  try {
    const res = await fetch("fleet/summary", { headers: { accept: "application/json" }, cache: "no-store" });
    if (!res.ok) throw new Error(`fleet/summary answered ${res.status}`);
    const summary = await res.json();
    const now = Date.now();
    renderDevices(summary, now);
    renderFeeds(summary);
    renderBatches(summary);
    $("since").textContent = new Date(summary.activitySince).toLocaleString();
    status.classList.remove("error");
    status.textContent = `updated ${clock(summary.generatedAt)} · every ${REFRESH_MS / 1000} s`;
    document.body.dataset.generatedAt = String(summary.generatedAt);
  } catch (err) {
    status.classList.add("error");
    status.textContent = `refresh failed (${err instanceof Error ? err.message : String(err)}); trying again`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

void refresh();
