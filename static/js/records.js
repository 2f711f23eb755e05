// The export page follows its archive being built: polls the export's JSON every second and
// moves the progress bar; when it is ready (or failed), the page is loaded again to show the
// download. Labels come from data-label-* attributes (translated in the template).
(function () {
  "use strict";
  var card = document.querySelector("[data-export-progress]");
  if (!card || card.hasAttribute("data-export-done")) return;
  var bar = card.querySelector("[data-export-bar]");
  var count = card.querySelector("[data-export-count]");
  var status = card.querySelector("[data-export-status]");
  var url = card.getAttribute("data-export-progress");
  var label = card.getAttribute("data-label-progress") || "{done} / {total}";

  function tick() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (data) {
        if (data.total) {
          bar.max = data.total;
          bar.value = data.done;
          count.textContent = label.replace("{done}", data.done).replace("{total}", data.total);
        }
        status.textContent = data.status_label;
        if (data.status === "ready" || data.status === "failed" || data.status === "expired") {
          window.location.reload();
          return;
        }
        window.setTimeout(tick, 1000);
      })
      .catch(function () { window.setTimeout(tick, 3000); });
  }
  window.setTimeout(tick, 500);
})();
