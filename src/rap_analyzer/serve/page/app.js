// The page talks to the same service that serves it; every request goes through `call`.
"use strict";

const $ = (id) => document.getElementById(id);

async function call(path, body) {
  const headers = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) headers["X-API-Key"] = key;
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(describeError(response.status, data));
  return data;
}

function describeError(status, data) {
  const item = Array.isArray(data) ? data[0] : data;
  if (item && Array.isArray(item.detail) && item.detail.length) {
    return `${status}: ${item.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ")}`;
  }
  const closest = item && Array.isArray(item.suggestions) && item.suggestions.length
    ? ` (closest: ${item.suggestions.join(", ")})` : "";
  return `${status}: ${(item && item.error) || "request failed"}${closest}`;
}

function fill(element, rows) {
  element.replaceChildren(...rows);
}

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

function trackItem(hit) {
  const li = document.createElement("li");
  li.className = "track";
  li.append(cell("span", `${hit.artist} — ${hit.title}${hit.year ? ` (${hit.year})` : ""} `));
  li.append(cell("span", `similarity ${hit.score.toFixed(3)}`));
  li.lastChild.className = "score";
  return li;
}

async function analyze() {
  $("analyze-error").textContent = "";
  try {
    const data = await call("/analyze", { lyrics: $("lyrics").value, k: Number($("k").value) });
    fill($("predictions").tBodies[0], Object.entries(data.predictions.predictions).map(([target, value]) => {
      const tr = document.createElement("tr");
      tr.dataset.target = target;
      tr.append(cell("td", target),
        cell("td", value === null ? "n/a (cannot score this text)" : value.toFixed(target === "release_year" ? 0 : 2)),
        cell("td", data.predictions.models[target]));
      return tr;
    }));
    fill($("features").tBodies[0], Object.entries(data.features).map(([name, value]) => {
      const tr = document.createElement("tr");
      tr.append(cell("td", name), cell("td", Number.isInteger(value) ? String(value) : value.toFixed(3)));
      return tr;
    }));
    fill($("similar"), (data.similar || []).map(trackItem));
    $("analysis-notes").textContent = Object.entries(data.unavailable).map(([k, v]) => `${k}: ${v}`).join(" ");
    $("analysis").hidden = false;
  } catch (err) {
    $("analyze-error").textContent = err.message;
  }
}

async function search() {
  $("search-error").textContent = "";
  const body = { query: $("query").value, k: 10 };
  if ($("artist").value.trim()) body.artist = $("artist").value.trim();
  try {
    const data = await call("/search", body);
    fill($("results"), data.results.map(trackItem));
    if (!data.results.length) $("search-error").textContent = "no tracks match";
  } catch (err) {
    $("search-error").textContent = err.message;
  }
}

function drawChart(points, label) {
  const svg = $("chart");
  const ns = "http://www.w3.org/2000/svg";
  const [w, h, pad] = [640, 260, 36];  // the viewBox: the chart scales with its panel
  svg.replaceChildren();
  if (!points.length) return;
  const xs = points.map((p) => p.period), ys = points.map((p) => p.value);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (w - 2 * pad);
  const sy = (y) => h - pad - (y1 === y0 ? 0.5 : (y - y0) / (y1 - y0)) * (h - 2 * pad);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.map((p) => `${sx(p.period)},${sy(p.value)}`).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#3367d6");
  line.setAttribute("stroke-width", "2");
  svg.append(line);
  for (const p of points) {
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", sx(p.period));
    dot.setAttribute("cy", sy(p.value));
    dot.setAttribute("r", Math.min(8, 2 + Math.sqrt(p.n)));
    dot.setAttribute("fill", "#3367d6");
    dot.setAttribute("class", "point");
    const title = document.createElementNS(ns, "title");
    title.textContent = `${p.period}: ${p.value.toFixed(3)} (n=${p.n})`;
    dot.append(title);
    svg.append(dot);
  }
  for (const [text, x, y, anchor] of [[x0, pad, h - 10, "start"], [x1, w - pad, h - 10, "end"],
    [y1.toFixed(3), 4, pad, "start"], [y0.toFixed(3), 4, h - pad, "start"]]) {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", x);
    t.setAttribute("y", y);
    t.setAttribute("font-size", "11");
    t.setAttribute("text-anchor", anchor);
    t.textContent = text;
    svg.append(t);
  }
  $("trend-caption").textContent = label;
}

async function trend() {
  $("trend-error").textContent = "";
  try {
    const data = await call("/trends", { metric: $("metric").value, by: $("by").value });
    const n = data.points.reduce((sum, p) => sum + p.n, 0);
    drawChart(data.points, `${data.description}, ${data.points.length} points, ${n} songs (dot size: songs)`);
  } catch (err) {
    $("trend-error").textContent = err.message;
  }
}

// The write tab: /generate continues the text (artist optional), /style_transfer rewrites it as the artist.
let writeMode = "generate";

function selectTab(mode) {
  writeMode = mode;
  $("tab-generate").setAttribute("aria-selected", String(mode === "generate"));
  $("tab-transfer").setAttribute("aria-selected", String(mode === "transfer"));
  $("write-input").placeholder = mode === "generate" ? "Opening lines to continue" : "Lyrics to rewrite";
  $("write-artist").placeholder = mode === "generate" ? "artist (optional)" : "target artist";
}

async function write() {
  $("write-error").textContent = "";
  const artist = $("write-artist").value.trim();
  const body = { k: Number($("write-k").value), max_tokens: Number($("write-max-tokens").value),
    temperature: Number($("write-temperature").value) };
  if ($("write-seed").value !== "") body.seed = Number($("write-seed").value);
  let path = "/generate";
  if (writeMode === "generate") {
    body.prompt = $("write-input").value;
    if (artist) body.artist = artist;
  } else {
    path = "/style_transfer";
    body.lyrics = $("write-input").value;
    body.target_artist = artist;
  }
  $("write").disabled = true;
  try {
    const data = await call(path, body);
    $("write-text").textContent = data.ok ? data.text : `no text: the model failed (${data.failure})`;
    const s = data.style;
    $("write-style").textContent = s
      ? `reads as ${s.artist}: probability ${s.probability.toFixed(3)}, rank ${s.rank} of ${s.n_artists} artists`
        + ` (most likely: ${s.top.map((t) => `${t.artist} ${t.probability.toFixed(2)}`).join(", ")})` : "";
    $("write-copied").textContent = data.copied
      ? `copies ${data.verbatim_run} consecutive words of an example (flagged at ${data.verbatim_run_words})` : "";
    const examples = data.example_track_ids.length ? `examples: tracks ${data.example_track_ids.join(", ")}; ` : "";
    $("write-meta").textContent = `${examples}model ${data.model}, prompt ${data.prompt_version}, `
      + `${data.completion_tokens ?? "?"} tokens${data.cached ? ", from the cache" : ""}`;
    $("written").hidden = false;
  } catch (err) {
    $("write-error").textContent = err.message;
  } finally {
    $("write").disabled = false;
  }
}

$("tab-generate").addEventListener("click", () => selectTab("generate"));
$("tab-transfer").addEventListener("click", () => selectTab("transfer"));
$("write").addEventListener("click", write);
$("analyze").addEventListener("click", analyze);
$("search").addEventListener("click", search);
$("query").addEventListener("keydown", (e) => { if (e.key === "Enter") search(); });
$("trend").addEventListener("click", trend);
