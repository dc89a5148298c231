// Status page: fetch the live part of the page every few seconds and put
// it in place. The page is complete without this file (it refreshes itself
// every 15 seconds); this only makes it quicker. No inline script: the CSP
// allows only files from the wizard itself.
"use strict";
(function () {
  var live = document.getElementById("status-live");
  if (!live) return;
  var url = live.dataset.refresh;
  var busy = false;
  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null) { live.innerHTML = html; live.dataset.updated = String(Date.now()); } })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  setInterval(refresh, 3000);
})();
