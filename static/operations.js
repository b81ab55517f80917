// operations.js: keeps /portal/operations current. Every data-refresh-seconds
// it fetches the dashboard projection (same origin, session cookie) and
// reloads the page when anything but generated_at changed, so the
// server-drawn charts are redrawn. Without JavaScript the page has a Refresh
// link.
(function () {
  "use strict";
  var box = document.getElementById("operations");
  if (!box || !window.fetch) return;
  var secs = parseInt(box.getAttribute("data-refresh-seconds"), 10) || 15;
  var url = "/enterprise/aispm/reports/operations/dashboard";
  var last = null;
  function strip(d) { d.generated_at = null; return JSON.stringify(d); }
  function poll() {
    if (document.hidden) return setTimeout(poll, secs * 1000);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (d) {
          var s = strip(d);
          if (last !== null && s !== last) return window.location.reload();
          last = s;
        }
        setTimeout(poll, secs * 1000);
      })
      .catch(function () { setTimeout(poll, secs * 1000); });
  }
  poll();
})();
