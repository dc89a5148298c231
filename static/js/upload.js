// Images panel: sends the offline bundle in pieces that survive an
// interrupted upload, then starts its load and follows it. Without this
// file the form posts the whole file at once, which works too but starts
// over when interrupted. No inline script: the CSP allows only files from
// the wizard itself.
"use strict";
(function () {
  var CHUNK = 8 << 20;
  var form = document.getElementById("upload-form");
  var status = document.getElementById("upload-status");
  var bar = document.getElementById("upload-progress");
  var button = document.getElementById("upload-button");
  var load = document.getElementById("load");

  function say(text) { status.textContent = text; }

  function size(n) {
    if (n < 1000) return n + " B";
    if (n < 1e6) return (n / 1e3).toFixed(1) + " kB";
    if (n < 1e9) return (n / 1e6).toFixed(1) + " MB";
    return (n / 1e9).toFixed(1) + " GB";
  }

  function shown(offset, total) {
    bar.hidden = false;
    bar.value = total ? Math.floor(100 * offset / total) : 0;
    say("Uploaded " + size(offset) + " of " + size(total) + ".");
    form.dataset.offset = String(offset);
  }

  function fail(text) {
    say(text);
    button.disabled = false;
  }

  function json(r) {
    return r.json().catch(function () { return {}; }).then(function (j) {
      if (!r.ok) throw new Error(j.error || ("the wizard answered " + r.status));
      return j;
    });
  }

  // Sends the rest of file from offset, one piece per request. A dropped
  // piece is retried from the offset the wizard has; a 409 says where
  // that is.
  function send(file, offset, retries) {
    if (offset >= file.size) return complete();
    var end = Math.min(file.size, offset + CHUNK);
    fetch("/images/upload", {
      method: "PATCH", credentials: "same-origin",
      headers: { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
      body: file.slice(offset, end)
    }).then(function (r) {
      var next = parseInt(r.headers.get("Upload-Offset"), 10);
      if ((r.status === 204 || r.status === 409) && !isNaN(next)) {
        shown(next, file.size);
        send(file, next, 0);
        return;
      }
      return json(r);
    }).catch(function (err) {
      if (retries >= 5) { fail("The upload stopped: " + err.message + ". Choose the file again to go on."); return; }
      say("Connection lost; going on in a moment…");
      setTimeout(function () {
        fetch("/images/upload", { method: "HEAD", credentials: "same-origin" }).then(function (r) {
          var at = parseInt(r.headers.get("Upload-Offset"), 10);
          send(file, isNaN(at) ? offset : at, retries + 1);
        }).catch(function () { send(file, offset, retries + 1); });
      }, 1000 * (retries + 1));
    });
  }

  function complete() {
    say("Uploaded. Checking and loading the bundle…");
    fetch("/images/upload/complete", { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(json)
      .then(function (j) {
        var from = parseInt(form.dataset.resumedFrom || "0", 10);
        location.href = "/images?job=" + encodeURIComponent(j.job) + (from > 0 ? "&resumed=" + from : "");
      })
      .catch(function (err) { fail(err.message); });
  }

  if (form) {
    form.addEventListener("submit", function (e) {
      var file = form.querySelector('input[type="file"]').files[0];
      if (!file || !window.fetch || !file.slice) return; // the plain upload
      e.preventDefault();
      button.disabled = true;
      say("Starting the upload…");
      var body = new URLSearchParams();
      body.set("size", String(file.size));
      fetch("/images/upload", { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" }, body: body })
        .then(json)
        .then(function (j) {
          form.dataset.resumedFrom = String(j.offset);
          shown(j.offset, file.size);
          if (j.offset > 0) say("Going on from " + size(j.offset) + ", where the last upload stopped.");
          send(file, j.offset, 0);
        })
        .catch(function (err) { fail(err.message); });
    });
  }

  // Follows a running load until it ends, then shows the final page.
  if (load && load.dataset.status === "running") {
    var poll = function () {
      fetch("/images/status?job=" + encodeURIComponent(load.dataset.job), { credentials: "same-origin" })
        .then(json)
        .then(function (s) {
          if (s.status !== "running") { location.reload(); return; }
          var text = document.getElementById("load-status");
          var p = document.getElementById("load-progress");
          text.textContent = (s.pass === "verify" ? "Checking the bundle against its manifest: " : "Loading into Docker: ") + s.done + ".";
          if (p) p.value = s.percent;
          setTimeout(poll, 1000);
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    poll();
  }
})();
