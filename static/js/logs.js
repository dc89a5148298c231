// Live install page: log lines and the service board over a websocket,
// with HTTP polling as the fallback. The page is complete without this
// file (it refreshes itself); this only makes it live. No inline script:
// the CSP allows only files from the wizard itself.
"use strict";
(function () {
  var job = document.getElementById("job");
  var pre = document.getElementById("log");
  if (!job || !pre) return;
  var id = job.dataset.job;
  var MAX_LINES = 3000;
  var cursors = {};
  var services = {};
  var colors = ["#7cc4ff", "#a5e07a", "#f5c26b", "#ff9ec7", "#c3a6ff", "#7fe3d3", "#ffb27a", "#b9d36b"];
  var filter = document.getElementById("log-filter");
  var pause = document.getElementById("log-pause");
  var info = document.getElementById("log-info");
  var held = [];
  var skipped = 0;
  var failures = 0;
  var finished = job.dataset.status !== "running";

  document.getElementById("logtools").hidden = false;
  // The server-rendered lines are replaced by the live stream from the start.
  pre.textContent = "";

  function color(svc) {
    if (!(svc in services)) {
      services[svc] = colors[Object.keys(services).length % colors.length];
      var o = document.createElement("option");
      o.value = svc; o.textContent = svc;
      filter.appendChild(o);
    }
    return services[svc];
  }

  function render(line) {
    var row = document.createElement("span");
    row.className = "line" + (line.stream === "stderr" ? " stderr" : "");
    row.dataset.service = line.service || line.container;
    var svc = document.createElement("span");
    svc.className = "svc";
    svc.style.color = color(row.dataset.service);
    svc.textContent = row.dataset.service + " | ";
    row.appendChild(svc);
    row.appendChild(document.createTextNode(line.text + "\n"));
    if (filter.value && filter.value !== row.dataset.service) row.hidden = true;
    return row;
  }

  function gapRow(g) {
    var row = document.createElement("span");
    row.className = "gap";
    row.textContent = g.container + " | … " + (g.to - g.from + 1) + " lines skipped …\n";
    return row;
  }

  function append(nodes) {
    if (pause.checked) {
      held = held.concat(nodes);
      if (held.length > MAX_LINES) { skipped += held.length - MAX_LINES; held = held.slice(-MAX_LINES); }
      info.textContent = held.length + " new lines held while paused" + (skipped ? ", " + skipped + " skipped" : "");
      return;
    }
    var frag = document.createDocumentFragment();
    nodes.forEach(function (n) { frag.appendChild(n); });
    var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
    pre.appendChild(frag);
    while (pre.childNodes.length > MAX_LINES) pre.removeChild(pre.firstChild);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  pause.addEventListener("change", function () {
    if (!pause.checked) { var h = held; held = []; info.textContent = skipped ? skipped + " lines skipped while paused" : ""; append(h); }
  });
  filter.addEventListener("change", function () {
    Array.prototype.forEach.call(pre.querySelectorAll(".line"), function (row) {
      row.hidden = !!filter.value && row.dataset.service !== filter.value;
    });
  });

  function board(msg) {
    (msg.services || []).forEach(function (s) {
      var tr = document.querySelector('#board tr[data-service="' + CSS.escape(s.Service) + '"]');
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.service = s.Service;
        ["svc", "state", "exit", "restarts", "health", "started", "expected"].forEach(function (c) {
          var td = document.createElement("td"); td.className = c; tr.appendChild(td);
        });
        tr.querySelector(".svc").textContent = s.Service;
        document.querySelector("#board tbody").appendChild(tr);
      }
      tr.dataset.status = s.Status;
      tr.querySelector(".state").textContent = s.State;
      tr.querySelector(".exit").textContent = (s.State === "exited" || s.State === "restarting") ? s.ExitCode : "";
      tr.querySelector(".restarts").textContent = s.Restarts;
      tr.querySelector(".health").textContent = s.Health || "";
    });
    if (msg.status && msg.status !== "running" && !finished) { finished = true; location.reload(); }
  }

  function handle(msg) {
    var nodes = [];
    // Cursors follow every line and gap, so a reconnect in the middle of a
    // batch that was split over several messages resumes without repeats.
    function seen(c, seq) { if (!(cursors[c] >= seq)) cursors[c] = seq; }
    (msg.gaps || []).forEach(function (g) { nodes.push(gapRow(g)); seen(g.container, g.to); });
    (msg.lines || []).forEach(function (l) {
      if (cursors[l.container] >= l.seq) return; // already shown
      nodes.push(render(l)); seen(l.container, l.seq);
    });
    if (nodes.length) append(nodes);
    if (msg.cursors) Object.keys(msg.cursors).forEach(function (k) { seen(k, msg.cursors[k]); });
    if (msg.services) board(msg);
    // The pull phase's section (images.js) listens for its part.
    if (msg.images) document.dispatchEvent(new CustomEvent("carto:images", { detail: msg.images }));
    if (msg.type === "done" && !finished) { finished = true; location.reload(); }
  }

  function after() {
    return Object.keys(cursors).map(function (k) { return encodeURIComponent(k) + ":" + cursors[k]; }).join(",");
  }

  function poll() {
    fetch("/jobs/" + encodeURIComponent(id) + "/poll?after=" + after(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (msg) { handle(msg); if (!finished || msg.more) setTimeout(poll, msg.more ? 0 : 1000); })
      .catch(function () { setTimeout(poll, 3000); });
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + "/jobs/" + encodeURIComponent(id) + "/logs?after=" + after());
    var opened = false;
    ws.onopen = function () { opened = true; failures = 0; };
    ws.onmessage = function (e) { handle(JSON.parse(e.data)); };
    ws.onclose = function () {
      if (finished) return;
      failures = opened ? 0 : failures + 1;
      if (failures >= 3) { info.textContent = "Live connection blocked; polling instead."; poll(); return; }
      setTimeout(connect, Math.min(5000, 250 * Math.pow(2, failures)));
    };
  }
  connect();
})();
