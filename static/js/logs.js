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

  function dur(ms) {
    var s = Math.max(0, Math.round(ms / 1000)), d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    s = s % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + s + "s";
    return s + "s";
  }

  function line(chip, cls) {
    var el = document.createElement("span"); el.className = "chip-line" + (cls ? " " + cls : ""); chip.appendChild(el); return el;
  }

  // The board's chips follow the service states the server sends; the
  // page's own rendering is the same, so a reload changes nothing.
  function board(msg) {
    var list = document.getElementById("board");
    (msg.services || []).forEach(function (s) {
      var li = list.querySelector('li[data-service="' + CSS.escape(s.Service) + '"]');
      if (!li) {
        li = document.createElement("li");
        li.dataset.service = s.Service;
        var name = document.createElement("span"); name.className = "chip-name"; name.textContent = s.Service; li.appendChild(name);
        list.appendChild(li);
      }
      Array.prototype.slice.call(li.querySelectorAll(".chip-line")).forEach(function (n) { li.removeChild(n); });
      var state = !s.State ? "no container" : (s.State === "exited" || s.State === "restarting") ? s.State + " (" + s.ExitCode + ")" : s.State;
      var l1 = line(li), st = document.createElement("span"), hl = document.createElement("span");
      st.className = "state"; st.textContent = state; hl.className = "health"; hl.textContent = s.Health || "no healthcheck";
      l1.appendChild(st); l1.appendChild(document.createTextNode(" · ")); l1.appendChild(hl);
      var l2 = line(li), rs = document.createElement("span");
      rs.className = "restarts"; rs.textContent = s.Restarts + " restarts"; l2.appendChild(rs);
      if (s.State === "running" && s.StartedAt && s.StartedAt.indexOf("0001-") !== 0) {
        var up = document.createElement("span"); up.className = "uptime"; up.dataset.since = s.StartedAt;
        up.textContent = dur(Date.now() - Date.parse(s.StartedAt));
        l2.appendChild(document.createTextNode(" · up ")); l2.appendChild(up);
      }
      if (s.Verdict !== "ok" && s.Reason) line(li, "reason").textContent = s.Reason;
      li.className = "chip " + s.Verdict;
      li.dataset.status = s.Verdict;
      li.title = s.Reason || "";
    });
    var all = list.querySelectorAll("li[data-service]"), ready = list.querySelectorAll('li[data-status="ok"]').length;
    var rc = document.getElementById("board-ready");
    if (rc) {
      rc.dataset.ready = ready; rc.dataset.total = all.length;
      rc.querySelector("strong").textContent = ready + " of " + all.length + " ready";
      var meter = rc.querySelector("meter"); meter.max = Math.max(all.length, 1); meter.value = ready;
    }
    if (msg.status && msg.status !== "running" && !finished) { finished = true; location.reload(); }
  }

  // The elapsed time and the uptimes tick without asking the server.
  setInterval(function () {
    var el = document.getElementById("elapsed");
    if (el && el.dataset.running === "true" && !finished) {
      var v = el.querySelector(".value");
      if (v) v.textContent = dur(Date.now() - Date.parse(el.dataset.started));
    }
    Array.prototype.forEach.call(document.querySelectorAll("#board .uptime[data-since]"), function (u) {
      u.textContent = dur(Date.now() - Date.parse(u.dataset.since));
    });
  }, 1000);

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
