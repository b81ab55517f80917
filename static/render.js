// render.js: live status of a render on /portal/renders/{ref}. Polls the JSON
// status endpoint (same origin, session cookie) once a second and reloads the
// page when the render has finished, so the artifact section appears. Without
// JavaScript the page offers a Refresh link instead.
(function () {
  "use strict";
  var box = document.getElementById("render-status");
  if (!box || box.getAttribute("data-finished") === "1") return;
  var url = box.getAttribute("data-status-url");
  var bar = document.getElementById("render-progress");
  var pct = document.getElementById("render-percent");
  var state = document.getElementById("render-state");
  var tries = 0;
  function poll() {
    if (++tries > 600) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) return setTimeout(poll, 3000);
        bar.value = s.progress;
        bar.textContent = s.progress + "%";
        pct.textContent = s.progress + "%";
        state.textContent = s.status;
        if (s.status === "succeeded" || s.status === "failed") {
          window.location.reload();
        } else {
          setTimeout(poll, 1000);
        }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
