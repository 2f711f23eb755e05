// Presence: the top bar's availability choice, and a heartbeat while a page is open
// (routing/presence.py). An officer whose pages are all closed stops receiving work once
// PRESENCE_TIMEOUT_SECONDS pass without a heartbeat.
(function () {
  "use strict";
  const form = document.querySelector("[data-presence]");
  if (!form) return;
  const select = form.querySelector("[data-presence-select]");
  const dot = form.querySelector("[data-presence-dot]");
  const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const every = Math.max(5, parseInt(form.dataset.heartbeatSeconds, 10) || 30) * 1000;

  function show(state) {
    if (!state || !dot) return;
    dot.className = "presence-dot presence-" + (state.available ? "available" : (state.status === "away" ? "away" : "offline"));
    if (select && state.status && select.value !== state.status) select.value = state.status;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: body,
      headers: {"X-CSRFToken": token, "Accept": "application/json"},
    }).then(function (r) { return r.ok ? r.json() : null; }).catch(function () { return null; });
  }

  select.addEventListener("change", function () {
    const body = new FormData();
    body.append("status", select.value);
    post(form.action, body).then(show);
  });

  function beat() { post(form.dataset.heartbeatUrl, new FormData()).then(show); }
  beat();
  window.setInterval(beat, every);
})();
