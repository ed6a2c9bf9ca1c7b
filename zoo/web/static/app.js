// scorezoo's page: plain JavaScript, no framework, nothing fetched from elsewhere. Every request has a time
// limit, and every failure is shown as a sentence where the answer would have been.
"use strict";

const TIMEOUT_MS = 180000;  // the slowest answer (a long page, or a minute of music) comes well within this

const $ = (id) => document.getElementById(id);

function setStatus(id, text, kind) {
  const el = $(id);
  el.textContent = text;
  el.className = "status" + (kind ? " " + kind : "");
}

async function callApi(url, options) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(url, { ...options, signal: controller.signal });
  } catch (err) {
    throw new Error(err.name === "AbortError"
      ? `no answer after ${TIMEOUT_MS / 1000} s: the server may be overloaded`
      : "the page's server cannot be reached: is `scorezoo web` still running?");
  } finally {
    clearTimeout(timer);
  }
  let body;
  try {
    body = await response.json();
  } catch (err) {
    throw new Error(`the server answered ${response.status} without an explanation`);
  }
  if (!response.ok || body.error) throw new Error(body.error || `the server answered ${response.status}`);
  return body;
}

function upload(endpoint, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return callApi(endpoint, { method: "POST", body: form });
}

function dataUrl(mime, b64) { return `data:${mime};base64,${b64}`; }

// ---- tabs

document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => {
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t === tab));
  document.querySelectorAll(".panel").forEach((p) => p.classList.toggle("active", p.id === tab.dataset.tab));
}));

// ---- drop zones

function dropZone(formId, onFile) {
  const form = $(formId);
  const input = form.querySelector("input[type=file]");
  input.addEventListener("change", () => { if (input.files.length) onFile(input.files[0]); input.value = ""; });
  form.addEventListener("dragover", (e) => { e.preventDefault(); form.classList.add("over"); });
  form.addEventListener("dragleave", () => form.classList.remove("over"));
  form.addEventListener("drop", (e) => {
    e.preventDefault();
    form.classList.remove("over");
    if (e.dataTransfer.files.length) onFile(e.dataTransfer.files[0]);
  });
}

// ---- read a score

let timemap = [];
let cursorTimer = null;

function showScore(result) {
  const view = result.view || {};
  const staves = result.staves || [result];
  const tokens = $("tokens");
  tokens.textContent = "";
  staves.forEach((staff, k) => {
    if (staves.length > 1) {
      const head = document.createElement("div");
      head.className = "muted";
      head.textContent = `staff ${k + 1}${staff.page ? ", page " + staff.page : ""}`;
      tokens.appendChild(head);
    }
    staff.tokens.forEach((token, i) => {
      const unsure = staff.token_confidences && staff.token_confidences[i] < result.low_confidence;
      const el = document.createElement(unsure ? "mark" : "span");
      el.textContent = token;
      el.className = "token";
      if (staff.token_confidences) el.title = `confidence ${staff.token_confidences[i].toFixed(2)}`;
      tokens.appendChild(el);
    });
  });
  const confidences = staves.map((s) => s.confidence.toFixed(2)).join(", ");
  $("read-confidence").textContent = `${staves.length} staff${staves.length > 1 ? "s" : ""}, confidence ${confidences}`;
  $("score").innerHTML = view.svg ? view.svg.join("") : "";
  if (view.error) setStatus("read-status", view.error, "error");
  timemap = view.timemap || [];
  $("score-audio").src = view.wav ? dataUrl("audio/wav", view.wav) : "";
  $("play-score").disabled = !view.wav;
  $("dl-musicxml").href = view.musicxml ? dataUrl("application/vnd.recordare.musicxml+xml",
                                                  btoa(unescape(encodeURIComponent(view.musicxml)))) : "#";
  $("dl-midi").href = view.midi ? dataUrl("audio/midi", view.midi) : "#";
  $("read-result").hidden = false;
}

function followNotes() {
  const audio = $("score-audio");
  const ms = audio.currentTime * 1000;
  document.querySelectorAll("#score .playing").forEach((el) => el.classList.remove("playing"));
  let sounding = new Set();
  for (const entry of timemap) {
    if (entry.tstamp > ms) break;
    (entry.on || []).forEach((id) => sounding.add(id));
    (entry.off || []).forEach((id) => sounding.delete(id));
  }
  sounding.forEach((id) => { const el = document.getElementById(id); if (el) el.classList.add("playing"); });
  if (audio.paused || audio.ended) { clearInterval(cursorTimer); cursorTimer = null; }
}

$("play-score").addEventListener("click", () => {
  const audio = $("score-audio");
  if (!audio.paused) { audio.pause(); return; }
  audio.currentTime = 0;
  audio.play();
  if (!cursorTimer) cursorTimer = setInterval(followNotes, 50);
});
$("score-audio").addEventListener("pause", () => { $("play-score").textContent = "Play"; });
$("score-audio").addEventListener("play", () => { $("play-score").textContent = "Stop"; });

dropZone("read-form", async (file) => {
  $("read-result").hidden = true;
  setStatus("read-status", `Reading ${file.name}…`, "busy");
  try {
    const result = await upload("/api/recognize", file);
    setStatus("read-status", `Read ${file.name}.`);
    showScore(result);
  } catch (err) {
    setStatus("read-status", `${file.name}: ${err.message}`, "error");
  }
});

// ---- listen to a recording

function showGenre(result) {
  $("genre-name").textContent = `Genre: ${result.genre}`;
  const bars = $("genre-bars");
  bars.textContent = "";
  Object.entries(result.scores).sort((a, b) => b[1] - a[1]).forEach(([name, score]) => {
    const row = document.createElement("div");
    row.innerHTML = `<span class="label"></span><span class="bar"></span><span class="value"></span>`;
    row.querySelector(".label").textContent = name;
    row.querySelector(".bar").style.width = `${Math.round(score * 300)}px`;
    row.querySelector(".value").textContent = score.toFixed(2);
    bars.appendChild(row);
  });
  $("spectrogram").src = dataUrl("image/png", result.spectrogram);
  $("listen-result").hidden = false;
}

function showMatches(result) {
  const list = $("matches");
  list.textContent = "";
  result.matches.forEach((m) => {
    const li = document.createElement("li");
    const where = ["page", "system", "x", "seconds"].filter((k) => m[k] !== null && m[k] !== undefined)
      .map((k) => `${k} ${m[k]}`).join(", ");
    li.textContent = `${m.item} — score ${m.score.toFixed(3)} (${where})`;
    list.appendChild(li);
  });
  $("outline").hidden = !result.outline;
  if (result.outline) $("outline").src = dataUrl("image/png", result.outline);
}

dropZone("listen-form", async (file) => {
  $("listen-result").hidden = true;
  setStatus("listen-status", `Listening to ${file.name}…`, "busy");
  let info = {};
  try {
    info = await callApi("/api/info", {});
    showGenre(await upload("/api/genre", file));
    setStatus("listen-status", `Listened to ${file.name}.`);
  } catch (err) {
    setStatus("listen-status", `${file.name}: ${err.message}`, "error");
    return;
  }
  if (!info.index) {
    setStatus("search-status", "No score collection is indexed: start the page with --index DIR to search one.");
    return;
  }
  setStatus("search-status", "Searching the score collection…", "busy");
  try {
    showMatches(await upload("/api/search", file));
    setStatus("search-status", "");
  } catch (err) {
    setStatus("search-status", err.message, "error");
  }
});

// ---- make music

$("make-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const fields = Object.fromEntries(new FormData(e.target).entries());
  $("make-result").hidden = true;
  setStatus("make-status", `Making ${fields.seconds} s of ${fields.genre}…`, "busy");
  try {
    const piece = await callApi("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
                                                  body: JSON.stringify(fields) });
    $("piece-audio").src = dataUrl("audio/wav", piece.wav);
    $("dl-piece").href = dataUrl("audio/midi", piece.midi);
    $("dl-piece").download = `${piece.genre}-seed${piece.seed}.mid`;
    $("piano-roll").src = dataUrl("image/png", piece.png);
    $("make-result").hidden = false;
    setStatus("make-status", `${piece.notes} notes of ${piece.genre}, seed ${piece.seed}.`);
  } catch (err) {
    setStatus("make-status", err.message, "error");
  }
});

// ---- what the page talks to

callApi("/api/info", {}).then((info) => {
  $("backend").textContent = `(answers from ${info.backend})`;
  const select = $("genre-select");
  info.genres.forEach((g) => { const o = document.createElement("option"); o.textContent = g; select.appendChild(o); });
  select.value = "fiddle";
}).catch((err) => { $("backend").textContent = `(${err.message})`; });
