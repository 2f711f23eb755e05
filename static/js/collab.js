/* Citizen Inbox — who else is here: colleagues viewing or writing in a conversation, and the
 * queue's eye/pencil, over the page's WebSocket (static/js/inbox.js owns the socket and passes
 * every message on as a "ci:socket" event; inbox/consumers.py, inbox/conversation_presence.py).
 *
 * - conversation page: the page's heartbeat ({"here": true} every 15 s) and "typing", sent at
 *   most every 3 s while the officer types and cleared 5 s after the last key or on send;
 * - queue page: the presence cell of a row follows presence.changed events;
 * - approvals page: a notice when the list of drafts changed.
 * Texts come translated from the page (data-label-*); names are set as text, never as HTML.
 */
(function () {
  "use strict";

  var HEARTBEAT_MS = 15000;
  var TYPING_EVERY_MS = 3000;
  var TYPING_IDLE_MS = 5000;
  var TYPING_SHOWN_MS = 10000; // a colleague's "writing" fades without news (their TTL is 8 s)
  var body = document.body;
  var page = body.dataset.live;

  function send(message) {
    var inbox = window.CitizenInbox;
    var socket = inbox && inbox.socket;
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(message));
  }

  function names(people) {
    return people.map(function (p) { return p.name; }).join(", ");
  }

  /* --- Conversation page ------------------------------------------------------------------ */
  var bar = document.getElementById("presence-bar");
  var conversationId = body.dataset.conversation ? parseInt(body.dataset.conversation, 10) : null;
  var typers = {};      // user id -> {name, until}
  var viewers = [];

  function others(people) {
    var self = bar ? parseInt(bar.dataset.self, 10) : null;
    return (people || []).filter(function (p) { return p.id !== self; });
  }

  function renderBar() {
    if (!bar) return;
    var now = Date.now();
    var writing = Object.keys(typers).filter(function (id) { return typers[id].until > now; })
      .map(function (id) { return { id: parseInt(id, 10), name: typers[id].name }; });
    var writingIds = writing.map(function (p) { return p.id; });
    var onlyViewing = viewers.filter(function (p) { return writingIds.indexOf(p.id) < 0; });
    var viewingEl = bar.querySelector("[data-presence-viewing]");
    var typingEl = bar.querySelector("[data-presence-typing]");
    viewingEl.textContent = onlyViewing.length ? bar.dataset.labelViewing.replace("{names}", names(onlyViewing)) : "";
    viewingEl.hidden = !onlyViewing.length;
    typingEl.textContent = writing.length ? bar.dataset.labelTyping.replace("{names}", names(writing)) : "";
    typingEl.hidden = !writing.length;
    bar.hidden = !onlyViewing.length && !writing.length;
  }

  function onConversationPresence(data) {
    if (data.conversation !== conversationId) return;
    viewers = others(data.viewers);
    var now = Date.now();
    var fresh = {};
    others(data.typing).forEach(function (p) { fresh[p.id] = { name: p.name, until: now + TYPING_SHOWN_MS }; });
    typers = fresh;
    renderBar();
  }

  if (bar && conversationId) {
    window.setInterval(function () { send({ here: true }); }, HEARTBEAT_MS);
    window.setInterval(renderBar, 2000); // fades a "writing" nobody refreshed
    var reply = document.getElementById("reply-text");
    var lastTypingSent = 0;
    var idleTimer = null;
    var typingOn = false;
    function stopTyping() {
      if (idleTimer) window.clearTimeout(idleTimer);
      idleTimer = null;
      if (typingOn) send({ typing: false });
      typingOn = false;
      lastTypingSent = 0;
    }
    if (reply) {
      reply.addEventListener("input", function () {
        var now = Date.now();
        if (reply.value.trim() === "") { stopTyping(); return; }
        if (now - lastTypingSent >= TYPING_EVERY_MS) {
          send({ typing: true });
          typingOn = true;
          lastTypingSent = now;
        }
        if (idleTimer) window.clearTimeout(idleTimer);
        idleTimer = window.setTimeout(stopTyping, TYPING_IDLE_MS);
      });
      var form = document.getElementById("reply-form");
      if (form) form.addEventListener("submit", stopTyping);
    }
  }

  /* --- Queue page ------------------------------------------------------------------------- */
  function onQueuePresence(data) {
    var list = document.querySelector("#queue-list .queue");
    var row = document.querySelector('#queue-list .qrow[data-id="' + parseInt(data.conversation, 10) + '"]');
    if (!list || !row) return;
    var cell = row.querySelector("[data-presence]");
    if (!cell) return;
    var self = parseInt(list.dataset.self, 10);
    var mine = function (p) { return p.id !== self; };
    var writing = (data.typing || []).filter(mine);
    var writingIds = writing.map(function (p) { return p.id; });
    var viewing = (data.viewers || []).filter(mine).filter(function (p) { return writingIds.indexOf(p.id) < 0; });
    cell.replaceChildren();
    [[viewing, "viewing", "◉", list.dataset.labelViewing], [writing, "typing", "✎", list.dataset.labelTyping]]
      .forEach(function (spec) {
        if (!spec[0].length) return;
        var item = document.createElement("span");
        item.className = "q-presence-item q-presence-" + spec[1];
        var icon = document.createElement("span");
        icon.className = "q-presence-icon";
        icon.setAttribute("aria-hidden", "true");
        icon.textContent = spec[2];
        var text = document.createElement("span");
        text.className = "q-presence-text";
        text.textContent = spec[3].replace("{names}", names(spec[0]));
        item.appendChild(icon);
        item.appendChild(text);
        cell.appendChild(item);
      });
  }

  /* --- Approvals page --------------------------------------------------------------------- */
  function onApprovalsChanged() {
    var notice = document.getElementById("approvals-changed");
    var live = document.getElementById("approvals-live");
    if (notice) notice.hidden = false;
    if (live) live.textContent = live.dataset.labelChanged || "";
  }

  document.addEventListener("ci:socket", function (event) {
    var data = event.detail || {};
    if (data.type === "presence.changed") {
      if (page === "conversation") onConversationPresence(data);
      if (page === "queue") onQueuePresence(data);
    }
    if (data.type === "approvals.changed" && page === "approvals") onApprovalsChanged();
  });
})();
