/* Citizen Inbox — the supervisor's dashboard, live. Plain JavaScript, no dependencies.
 *
 * The page works without it (forms and links). With it:
 * - live figures: the inbox's WebSocket (/ws/inbox/, inbox/consumers.py) says *that*
 *   conversations of the user's teams changed (queue.changed — also sent when the SLA scan
 *   turns one at risk or breached — or an sla.notification); we refetch the server-rendered
 *   fragment (?fragment=1), at most every 3 seconds. Without a WebSocket, and as a safety net
 *   in any case, we refetch every 30 seconds.
 * - filters apply on change;
 * - reassigning from the about-to-breach list posts the conversation page's own assign form
 *   in the background and refreshes the dashboard instead of leaving it.
 */
(function () {
  "use strict";

  var POLL_MS = window.DASHBOARD_POLL_MS || 30000; // tests shorten it
  var MIN_GAP_MS = 3000;
  var live = document.getElementById("dashboard-live");
  if (!live) return;
  var status = document.querySelector("[data-dash-status]");
  var lastRefresh = 0;
  var pending = null;
  var inFlight = false;

  function busy() {
    // Leave the figures alone while the supervisor is choosing an officer.
    var active = document.activeElement;
    return active && live.contains(active) && active.tagName === "SELECT";
  }

  function refresh() {
    if (inFlight) return;
    if (busy()) {
      schedule();
      return;
    }
    inFlight = true;
    lastRefresh = Date.now();
    fetch(live.getAttribute("data-fragment-url"), {
      credentials: "same-origin", headers: { "X-Requested-With": "fetch" }
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      var template = document.createElement("template");
      template.innerHTML = html;
      live.replaceChildren(template.content);
      if (status) {
        var now = new Date();
        status.textContent = (live.getAttribute("data-label-updated") || "Updated") + " " +
          now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      }
    }).catch(function () { /* keep the figures on screen; the next event or poll retries */ })
      .then(function () { inFlight = false; });
  }

  function schedule() {
    if (pending !== null) return;
    var wait = Math.max(0, MIN_GAP_MS - (Date.now() - lastRefresh));
    pending = window.setTimeout(function () {
      pending = null;
      refresh();
    }, wait);
  }

  window.setInterval(schedule, POLL_MS);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") schedule();
  });

  /* --- Filters apply on change ----------------------------------------------------------- */
  var filters = document.querySelector("[data-dash-filters]");
  if (filters) {
    filters.querySelectorAll("select, input[type=radio]").forEach(function (input) {
      input.addEventListener("change", function () { filters.submit(); });
    });
  }

  /* --- Reassign without leaving the dashboard -------------------------------------------- */
  live.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("[data-dash-reassign]")) return;
    event.preventDefault();
    var button = form.querySelector("button");
    if (button) button.disabled = true;
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        if (status) status.textContent = live.getAttribute("data-label-reassigned") || "Reassigned.";
        refresh();
      })
      .catch(function () {
        if (status) status.textContent = live.getAttribute("data-label-failed") || "";
        form.submit(); // the plain form: the conversation page shows what went wrong
      });
  });

  /* --- Pushes from the inbox's live channel ---------------------------------------------- */
  var retryDelay = 5000;
  function connect() {
    if (!("WebSocket" in window)) return;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(scheme + window.location.host + (document.body.dataset.wsPath || "/ws/inbox/"));
    } catch (e) {
      return;
    }
    var opened = false;
    socket.addEventListener("open", function () {
      opened = true;
      retryDelay = 5000;
      schedule(); // catch up on anything missed while disconnected
    });
    socket.addEventListener("message", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "queue.changed" || data.type === "sla.notification") {
        schedule();
      }
    });
    socket.addEventListener("close", function () {
      window.setTimeout(connect, opened ? retryDelay : Math.min(retryDelay *= 2, 300000));
    });
  }
  connect();
})();
