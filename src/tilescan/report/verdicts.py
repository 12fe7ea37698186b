"""The report's review controls: "lettering" / "not lettering" on each reviewable tile, a keyboard path, a
counter, and verdicts.csv out (download) and in (file input). Plain JavaScript inlined in the page, so
index.html stays one file that works from disk; verdicts persist in the browser's localStorage under a key
made from the report's tile ids, so two reports of different datasets never share verdicts.

html.py marks a tile reviewable (`controls`); this module holds the markup, the style and the script.
"""
from __future__ import annotations

import hashlib
import html
import json

import pandas as pd

STYLE = """
figure.tile[data-id] { cursor: default; }
figure.tile[data-id]:focus { outline: 3px solid #2a5db0; outline-offset: 1px; }
figure.tile .verdict { display: flex; gap: 2px; margin: 2px 0 1px; }
figure.tile .verdict button { flex: 1 1 auto; font: 10px/1.3 inherit; padding: 1px 2px; border: 1px solid #c3c8d1;
                              background: #fff; color: var(--ink); border-radius: 3px; cursor: pointer; }
figure.tile.verdict-1 .verdict button[data-verdict="1"] { background: var(--flag); border-color: var(--flag);
                                                          color: #fff; }
figure.tile.verdict-0 .verdict button[data-verdict="0"] { background: #2a7d2e; border-color: #2a7d2e; color: #fff; }
figure.tile.verdict-1 img { outline: 3px dashed var(--flag); outline-offset: -3px; }
figure.tile.verdict-0 img { opacity: 0.55; }
#review-bar { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; margin-top: 6px; font-size: 13px; }
#review-bar button, #review-bar label.load { font: inherit; padding: 2px 10px; border: 1px solid #2a5db0;
                                              background: #fff; color: #2a5db0; border-radius: 4px; cursor: pointer; }
#review-bar label.load input { display: none; }
#review-count { font-weight: 600; }
#review-status { color: var(--muted); }
#review-status.error { color: var(--flag); }
.keys kbd { border: 1px solid #c3c8d1; border-radius: 3px; padding: 0 4px; font-size: 11px; background: #f7f7f9; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("review-data").textContent);
  var KEY = "tilescan-verdicts:" + data.dataset;
  var tiles = Array.prototype.slice.call(document.querySelectorAll("figure.tile[data-id]"));
  var byId = Object.create(null);
  tiles.forEach(function (el) { (byId[el.dataset.id] = byId[el.dataset.id] || []).push(el); });
  var verdicts = Object.create(null);   /* id -> {annotation: 0 | 1, reviewed_at: ISO time} */
  var history = [];                     /* [id, the entry it replaced or null], for undo */
  var status = document.getElementById("review-status");

  function restore() {
    var stored = null;
    try { stored = JSON.parse(window.localStorage.getItem(KEY) || "null"); } catch (e) { stored = null; }
    var source = stored && typeof stored === "object" ? stored : data.verdicts;
    Object.keys(source).forEach(function (id) {
      var v = source[id];
      if (v && (v.annotation === 0 || v.annotation === 1)) {
        verdicts[id] = {annotation: v.annotation, reviewed_at: String(v.reviewed_at || "")};
      }
    });
  }
  function save() {
    try { window.localStorage.setItem(KEY, JSON.stringify(verdicts)); }
    catch (e) { say("Could not keep verdicts in this browser (" + e.name + "): download them.", true); }
  }
  function say(text, error) { status.textContent = text; status.className = error ? "error" : ""; }
  function paint(id) {
    var v = verdicts[id];
    (byId[id] || []).forEach(function (el) {
      el.classList.toggle("verdict-1", !!v && v.annotation === 1);
      el.classList.toggle("verdict-0", !!v && v.annotation === 0);
      el.querySelectorAll("button[data-verdict]").forEach(function (b) {
        b.setAttribute("aria-pressed", String(!!v && String(v.annotation) === b.dataset.verdict));
      });
    });
  }
  function count() {
    var ids = Object.keys(verdicts), yes = ids.filter(function (id) { return verdicts[id].annotation === 1; });
    document.getElementById("review-count").textContent = ids.length + " reviewed (" + yes.length +
      " lettering, " + (ids.length - yes.length) + " not lettering)";
  }
  function decide(id, annotation) {
    history.push([id, verdicts[id] || null]);
    verdicts[id] = {annotation: annotation, reviewed_at: new Date().toISOString()};
    save(); paint(id); count();
  }
  function undo() {
    var last = history.pop();
    if (!last) { say("Nothing to undo."); return; }
    if (last[1]) { verdicts[last[0]] = last[1]; } else { delete verdicts[last[0]]; }
    save(); paint(last[0]); count();
    if (byId[last[0]]) { byId[last[0]][0].focus(); }
    say("Undid the verdict on " + last[0] + ".");
  }

  /* --- keyboard: arrows move between reviewable tiles, y / n decide (then move on), u undoes --- */
  function current() {
    var el = document.activeElement;
    return el && el.closest ? el.closest("figure.tile[data-id]") : null;
  }
  function vertical(from, down) {
    var a = from.getBoundingClientRect(), best = null, bestKey = null;
    tiles.forEach(function (el) {
      var b = el.getBoundingClientRect();
      var dy = down ? b.top - a.top : a.top - b.top;
      if (dy <= a.height / 2 || b.width === 0) { return; }
      var key = [Math.round(dy / 8), Math.abs(b.left - a.left)];
      if (!bestKey || key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) {
        best = el; bestKey = key;
      }
    });
    return best;
  }
  function move(el, key) {
    if (!el) { return tiles[0]; }
    var i = tiles.indexOf(el);
    if (key === "ArrowRight") { return tiles[Math.min(i + 1, tiles.length - 1)]; }
    if (key === "ArrowLeft") { return tiles[Math.max(i - 1, 0)]; }
    return vertical(el, key === "ArrowDown") || el;
  }
  function focusTile(el) { if (el) { el.focus(); el.scrollIntoView({block: "nearest", inline: "nearest"}); } }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || !tiles.length) { return; }
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) { return; }
    var el = current(), key = event.key;
    if (key === "ArrowRight" || key === "ArrowLeft" || key === "ArrowUp" || key === "ArrowDown") {
      event.preventDefault(); focusTile(move(el, key));
    } else if ((key === "y" || key === "n") && el) {
      event.preventDefault(); decide(el.dataset.id, key === "y" ? 1 : 0); focusTile(move(el, "ArrowRight"));
    } else if (key === "u") {
      event.preventDefault(); undo();
    }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-verdict]") : null;
    var el = button ? button.closest("figure.tile[data-id]") : null;
    if (el) { decide(el.dataset.id, Number(button.dataset.verdict)); el.focus(); }
  });

  /* --- verdicts.csv: id, annotation, reviewed_at; ids always quoted (they may hold commas, quotes) --- */
  function quote(value) { return '"' + String(value).replace(/"/g, '""') + '"'; }
  function toCsv() {
    var ids = Object.keys(verdicts).sort(function (a, b) {
      var ta = verdicts[a].reviewed_at, tb = verdicts[b].reviewed_at;
      return ta < tb ? -1 : ta > tb ? 1 : (a < b ? -1 : a > b ? 1 : 0);
    });
    return "id,annotation,reviewed_at\n" + ids.map(function (id) {
      return quote(id) + "," + verdicts[id].annotation + "," + quote(verdicts[id].reviewed_at);
    }).join("\n") + (ids.length ? "\n" : "");
  }
  function parseCsv(text) {
    var rows = [], row = [], field = "", quoted = false, i = 0;
    if (text.charCodeAt(0) === 0xFEFF) { text = text.slice(1); }
    for (; i < text.length; i++) {
      var c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
        else if (c === '"') { quoted = false; }
        else { field += c; }
      } else if (c === '"') { quoted = true; }
      else if (c === ",") { row.push(field); field = ""; }
      else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") { i++; }
        row.push(field); rows.push(row); row = []; field = "";
      } else { field += c; }
    }
    if (field !== "" || row.length) { row.push(field); rows.push(row); }
    return rows.filter(function (r) { return !(r.length === 1 && r[0] === ""); });
  }
  function loadCsv(name, text) {
    var rows = parseCsv(text), header = rows.shift() || [];
    var idCol = header.indexOf("id"), annCol = header.indexOf("annotation"), timeCol = header.indexOf("reviewed_at");
    if (idCol < 0 || annCol < 0) { say(name + ": needs columns id and annotation.", true); return; }
    var loaded = Object.create(null);
    for (var r = 0; r < rows.length; r++) {
      var value = String(rows[r][annCol] || "").trim(), id = rows[r][idCol];
      if (value !== "0" && value !== "1") {
        say(name + ": row " + (r + 2) + ": annotation must be 0 or 1, got \"" + value + "\"; nothing loaded.", true);
        return;
      }
      loaded[id] = {annotation: Number(value), reviewed_at: timeCol >= 0 ? String(rows[r][timeCol] || "") : ""};
    }
    var ids = Object.keys(loaded);
    ids.forEach(function (id) { verdicts[id] = loaded[id]; paint(id); });
    history = [];
    save(); count();
    say("Loaded " + ids.length + " verdicts from " + name + ".");
  }
  document.getElementById("review-download").addEventListener("click", function () {
    var url = URL.createObjectURL(new Blob([toCsv()], {type: "text/csv;charset=utf-8"}));
    var link = document.createElement("a");
    link.href = url; link.download = "verdicts.csv";
    document.body.appendChild(link); link.click(); link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    say("Saved verdicts.csv: put it in verdicts/ and run dvc exp run -S review.verdicts=verdicts/verdicts.csv");
  });
  document.getElementById("review-load").addEventListener("change", function (event) {
    var file = event.target.files && event.target.files[0];
    if (!file) { return; }
    var reader = new FileReader();
    reader.onload = function () { loadCsv(file.name, String(reader.result)); event.target.value = ""; };
    reader.onerror = function () { say(file.name + ": could not be read.", true); };
    reader.readAsText(file, "utf-8");
  });

  restore();
  Object.keys(byId).forEach(paint);
  count();
  tiles.forEach(function (el) { el.tabIndex = 0; });
}());
"""


def dataset_key(ids: list[str]) -> str:
    """A short digest of the tile id list: the localStorage key part that keeps datasets apart."""
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()[:16]


def controls() -> str:
    """The two verdict buttons under a reviewable tile."""
    return ('<div class="verdict"><button type="button" data-verdict="1" tabindex="-1" aria-pressed="false">'
            'lettering</button><button type="button" data-verdict="0" tabindex="-1" aria-pressed="false">'
            "not lettering</button></div>")


def toolbar() -> str:
    """Counter, download, load, and the keys; lives in the sticky navigation bar."""
    return ('<div id="review-bar"><span id="review-count">0 reviewed</span>'
            '<button type="button" id="review-download">Download verdicts</button>'
            '<label class="load">Load verdicts.csv<input type="file" id="review-load" accept=".csv,text/csv">'
            '</label><span class="keys"><kbd>←</kbd><kbd>→</kbd><kbd>↑</kbd><kbd>↓</kbd> move · <kbd>y</kbd> '
            'lettering · <kbd>n</kbd> not lettering · <kbd>u</kbd> undo</span><span id="review-status"></span>'
            "</div>")


def script(ids: list[str], verdicts: pd.DataFrame | None) -> str:
    """The data (dataset key; the verdicts the pipeline ran with, shown until the browser has its own) and
    the script. JSON inside <script> cannot close the element: <, > and & are escaped."""
    given = {} if verdicts is None else {
        tile_id: {"annotation": int(annotation), "reviewed_at": ""}
        for tile_id, annotation in zip(verdicts["id"], verdicts["annotation"])}
    payload = json.dumps({"dataset": dataset_key(ids), "verdicts": given}, ensure_ascii=False, sort_keys=True)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (f'<script type="application/json" id="review-data">{payload}</script>'
            f"<script>{SCRIPT}</script>")


def data_id(tile_id: str) -> str:
    """The attribute that carries a tile's id, HTML-escaped."""
    return f'data-id="{html.escape(str(tile_id), quote=True)}"'
