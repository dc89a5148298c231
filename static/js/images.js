// Live pull phase on the install page: logs.js passes on the "images" part
// of every board message as a carto:images event, and this file redraws
// the Images section from it. The rows' texts come preformatted from the
// server, so the page reads the same with and without this file.
"use strict";
(function () {
  var section = document.getElementById("images");
  if (!section) return;
  var tbody = section.querySelector("tbody");
  var overall = document.getElementById("images-overall");
  var failures = document.getElementById("images-failures");
  var link = document.getElementById("images-panel-link");
  var CELLS = ["layers", "bytes", "rate", "left"];

  function statusClass(s) {
    if (s === "present" || s === "done") return "pass";
    if (s === "failed" || s === "skipped") return "fail";
    return "warn";
  }

  function row(r) {
    var tr = tbody.querySelector('tr[data-image="' + CSS.escape(r.image) + '"]');
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.image = r.image;
      var name = document.createElement("td");
      var code = document.createElement("code");
      code.textContent = r.image;
      name.appendChild(code);
      tr.appendChild(name);
      var st = document.createElement("td");
      st.className = "istatus";
      st.innerHTML = '<span class="status"></span> <span class="note"></span>';
      tr.appendChild(st);
      CELLS.forEach(function (c) { var td = document.createElement("td"); td.className = c; tr.appendChild(td); });
      tbody.appendChild(tr);
    }
    tr.dataset.status = r.status;
    tr.dataset.bytesDone = String(r.bytes_done || 0);
    var badge = tr.querySelector(".istatus .status");
    badge.className = "status " + statusClass(r.status);
    badge.textContent = r.status;
    tr.querySelector(".istatus .note").textContent = r.note || "";
    CELLS.forEach(function (c) { tr.querySelector("." + c).textContent = r[c] || ""; });
  }

  function failure(r) {
    var div = document.createElement("div");
    div.className = "summary failing";
    div.setAttribute("role", "alert");
    div.dataset.image = r.image;
    var b = document.createElement("strong");
    b.textContent = r.image;
    div.appendChild(b);
    div.appendChild(document.createTextNode(": " + r.message));
    if (r.hint) { var p = document.createElement("p"); p.textContent = r.hint; div.appendChild(p); }
    return div;
  }

  document.addEventListener("carto:images", function (e) {
    var v = e.detail || {};
    var rows = v.rows || [];
    if (!rows.length) return;
    section.hidden = false;
    rows.forEach(row);
    var o = v.overall || {};
    overall.textContent = "All images: " + (o.status || "") + " " +
      [o.layers, o.bytes, o.rate, o.left].filter(function (s) { return !!s; }).join(", ");
    failures.textContent = "";
    rows.forEach(function (r) { if (r.message) failures.appendChild(failure(r)); });
    section.dataset.failed = String(!!v.failed);
    link.hidden = !v.failed;
  });
})();
