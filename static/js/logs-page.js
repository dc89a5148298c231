// Logs page: the live tail (websocket, HTTP polling as the fallback),
// pause, and instant wrap. The page is complete without this file: its
// filters are a GET form and, with "Follow new lines", it reloads itself.
// The server filters the live lines with the view's own filters, formats
// them as it formats the history, and drops those older than the view's
// start; this script only appends them and keeps the download link equal
// to what is shown. No inline script: the CSP allows only the wizard's
// own files.
"use strict";
(function () {
  var pre = document.getElementById("log-view");
  if (!pre) return;
  var wrap = document.getElementById("log-wrap");
  if (wrap) wrap.addEventListener("change", function () { pre.classList.toggle("wrap", wrap.checked); });
  if (pre.dataset.live !== "true") return;

  var MAX_LINES = 20000;
  var query = pre.dataset.query;
  var at = pre.dataset.at;
  var cursors = {};
  (pre.dataset.cursors || "").split(",").forEach(function (p) {
    var i = p.lastIndexOf(":");
    if (i > 0) cursors[p.slice(0, i)] = Number(p.slice(i + 1));
  });
  var shown = Number(pre.dataset.shown) || 0;
  var download = document.getElementById("log-download");
  var tools = document.getElementById("log-tools");
  var pause = document.getElementById("log-pause");
  var info = document.getElementById("log-info");
  var held = [];
  var failures = 0;
  tools.hidden = false;

  // The download link asks for the view up to the newest line shown, as
  // many lines as are shown: exactly what is on the screen.
  function updateDownload(next) {
    if (!download) return;
    var u = new URL(download.href, location.href);
    u.searchParams.set("at", next);
    u.searchParams.set("lines", String(Math.max(1, shown)));
    download.href = u.pathname + "?" + u.searchParams.toString();
  }

  function row(l) {
    var r = document.createElement("span");
    r.className = "ln " + l["class"];
    var t = document.createElement("span"); t.className = "t"; t.textContent = l.time;
    var s = document.createElement("span"); s.className = "s"; s.textContent = l.service;
    r.appendChild(t);
    r.appendChild(document.createTextNode(" "));
    r.appendChild(s);
    r.appendChild(document.createTextNode(" | " + l.text + "\n"));
    return r;
  }

  function gapRow(g) {
    var r = document.createElement("span");
    r.className = "gap";
    r.textContent = g.container + " | … " + (g.to - g.from + 1) + " lines skipped (download has them) …\n";
    return r;
  }

  function show(items) {
    if (!items.length) return;
    var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
    var frag = document.createDocumentFragment();
    var next = null;
    items.forEach(function (it) {
      if (it.gap) { frag.appendChild(gapRow(it.gap)); return; }
      frag.appendChild(row(it.line)); shown++; next = it.line.next;
    });
    pre.appendChild(frag);
    while (shown > MAX_LINES && pre.firstChild) {
      if (pre.firstChild.classList && pre.firstChild.classList.contains("ln")) shown--;
      pre.removeChild(pre.firstChild);
    }
    if (next) updateDownload(next);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  pause.addEventListener("change", function () {
    if (!pause.checked) { var h = held; held = []; info.textContent = ""; show(h); }
  });

  function handle(msg) {
    var items = [];
    (msg.gaps || []).forEach(function (g) {
      items.push({ gap: g });
      if (!(cursors[g.container] >= g.to)) cursors[g.container] = g.to;
    });
    (msg.lines || []).forEach(function (l) {
      if (cursors[l.container] >= l.seq) return; // shown already
      items.push({ line: l });
      cursors[l.container] = l.seq;
    });
    if (msg.cursors) Object.keys(msg.cursors).forEach(function (k) {
      if (!(cursors[k] >= msg.cursors[k])) cursors[k] = msg.cursors[k];
    });
    if (pause.checked) {
      held = held.concat(items);
      info.textContent = held.length + " new lines held while paused";
      return;
    }
    show(items);
  }

  function after() {
    return Object.keys(cursors).map(function (k) { return encodeURIComponent(k) + ":" + cursors[k]; }).join(",");
  }

  function params() {
    return query + (query ? "&" : "") + "at=" + encodeURIComponent(at) + "&after=" + after();
  }

  function poll() {
    fetch("/logs/poll?" + params(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (msg) { handle(msg); setTimeout(poll, msg.more ? 0 : 1000); })
      .catch(function () { setTimeout(poll, 3000); });
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + "/logs/live?" + params());
    var opened = false;
    ws.onopen = function () { opened = true; failures = 0; info.textContent = ""; };
    ws.onmessage = function (e) { handle(JSON.parse(e.data)); };
    ws.onclose = function () {
      failures = opened ? 0 : failures + 1;
      if (failures >= 3) { info.textContent = "Live connection blocked; polling instead."; poll(); return; }
      setTimeout(connect, Math.min(5000, 250 * Math.pow(2, failures)));
    };
  }
  connect();
})();
