/* Citizen Inbox — officer UI behaviour. Plain JavaScript, no dependencies.
 *
 * Everything here is an enhancement: every page works with forms and links alone.
 * - keyboard shortcuts (j/k/o on the queue, r/n/u on a conversation, ? for help)
 * - live updates: a WebSocket tells us *that* something changed (ids only); we refetch the
 *   server-rendered fragment. Without a WebSocket we poll every 20 seconds.
 * - reply composer: character counter against the selected option's limit, saved replies.
 */
(function () {
  "use strict";

  var POLL_MS = 20000;
  var body = document.body;

  function isTyping(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  /* --- Help dialog ------------------------------------------------------------------------ */
  var help = document.getElementById("help");
  function openHelp() {
    if (help && !help.open && typeof help.showModal === "function") help.showModal();
  }
  document.querySelectorAll("[data-help-open]").forEach(function (button) {
    button.addEventListener("click", openHelp);
  });

  /* --- Back to the queue the officer came from (tab and filters kept) --------------------- */
  try {
    if (body.getAttribute("data-live") === "queue") {
      sessionStorage.setItem("ci.queue", location.pathname + location.search);
    }
    var backLink = document.querySelector("[data-back]");
    var lastQueue = sessionStorage.getItem("ci.queue");
    if (backLink && lastQueue && lastQueue.indexOf("/inbox/") === 0) backLink.setAttribute("href", lastQueue);
  } catch (e) { /* storage disabled: the plain link still works */ }

  /* --- Queue: selection ------------------------------------------------------------------- */
  function queueRows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue-list .qrow"));
  }
  function selectedIndex(rows) {
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].classList.contains("is-selected")) return i;
    }
    return -1;
  }
  function selectRow(rows, index) {
    if (!rows.length) return;
    index = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row) { row.classList.remove("is-selected"); });
    var row = rows[index];
    row.classList.add("is-selected");
    var link = row.querySelector("a");
    if (link) {
      link.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }
  document.addEventListener("focusin", function (event) {
    var row = event.target.closest && event.target.closest(".qrow");
    if (!row) return;
    queueRows().forEach(function (r) { r.classList.toggle("is-selected", r === row); });
  });

  /* --- Keyboard shortcuts ----------------------------------------------------------------- */
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && isTyping(event.target)) {
      event.target.blur();
      return;
    }
    if (isTyping(event.target) || (help && help.open)) return;
    var page = body.dataset.live;
    var rows, index;
    switch (event.key) {
      case "?":
        event.preventDefault();
        openHelp();
        return;
      case "j":
      case "k":
        if (page !== "queue") return;
        rows = queueRows();
        index = selectedIndex(rows);
        event.preventDefault();
        selectRow(rows, index < 0 ? 0 : index + (event.key === "j" ? 1 : -1));
        return;
      case "o":
      case "Enter":
        if (page !== "queue") return;
        rows = queueRows();
        index = selectedIndex(rows);
        if (index >= 0 && event.key === "o") {
          event.preventDefault();
          rows[index].querySelector("a").click();
        }
        return; // Enter on a focused row link opens it natively
      case "/":
        var filter = document.querySelector(".filters select");
        if (filter) {
          event.preventDefault();
          filter.focus();
        }
        return;
      case "r":
        var reply = document.getElementById("reply-text");
        if (reply) {
          event.preventDefault();
          reply.focus();
        }
        return;
      case "n":
        var noteBox = document.getElementById("note-box");
        if (noteBox) {
          event.preventDefault();
          noteBox.open = true;
          document.getElementById("note-text").focus();
        }
        return;
      case "u":
        var back = document.querySelector("[data-back]");
        if (back) {
          event.preventDefault();
          back.click();
        }
        return;
    }
  });

  /* --- Queue filters: apply on change ----------------------------------------------------- */
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  /* --- Reply composer --------------------------------------------------------------------- */
  var replyText = document.getElementById("reply-text");
  var counter = document.getElementById("reply-counter");
  function currentOption() {
    return document.querySelector("#reply-form input[name=option]:checked");
  }
  function currentLimit() {
    var checked = currentOption();
    var raw = checked ? checked.getAttribute("data-max-length") : "";
    return raw ? parseInt(raw, 10) : null;
  }
  // Count as the platform does (the server checks again before anything is sent).
  var X_NARROW = [[0, 4351], [8192, 8205], [8208, 8223], [8242, 8247]];
  function xWeighted(text) {
    var total = 0;
    text = text.normalize("NFC").replace(/(?:https?:\/\/|www\.)\S+/gi, function () { total += 23; return ""; });
    for (var ch of text) {
      var code = ch.codePointAt(0);
      total += X_NARROW.some(function (r) { return code >= r[0] && code <= r[1]; }) ? 1 : 2;
    }
    return total;
  }
  function measure(text, counting) {
    if (counting === "x") return [xWeighted(text), "characters as X counts them"];
    if (counting === "bytes") return [new TextEncoder().encode(text).length, "bytes"];
    return [Array.from(text).length, "characters"];
  }
  function updateCounter() {
    if (!replyText || !counter) return;
    var checked = currentOption();
    var measured = measure(replyText.value.trim(), checked ? checked.getAttribute("data-counting") : "");
    var length = measured[0];
    var limit = currentLimit();
    if (limit) {
      counter.textContent = length + " / " + limit + " " + measured[1];
      counter.classList.toggle("is-over", length > limit);
      if (length > limit) counter.textContent += " — " + (length - limit) + " too many";
    } else {
      counter.textContent = length + " characters";
      counter.classList.remove("is-over");
    }
  }
  var replyForm = document.getElementById("reply-form");
  if (replyForm) {
    // A second click while the first submit travels would be ignored by the server (same
    // client_token) anyway; disabling the button says so.
    replyForm.addEventListener("submit", function () {
      var button = replyForm.querySelector("button[type=submit]");
      if (button) { button.disabled = true; button.textContent = "Sending…"; }
    });
  }
  if (replyText) {
    replyText.addEventListener("input", updateCounter);
    document.querySelectorAll("#reply-form input[name=option]").forEach(function (radio) {
      radio.addEventListener("change", updateCounter);
    });
    updateCounter();
  }

  var insertSaved = document.querySelector("[data-insert-saved]");
  if (insertSaved && replyText) {
    insertSaved.addEventListener("click", function (event) {
      // With JavaScript, insert at the cursor instead of reloading the page.
      var select = document.getElementById("saved-reply");
      var option = select && select.options[select.selectedIndex];
      event.preventDefault();
      if (!option || !option.value) return;
      var text = option.getAttribute("data-body") || "";
      var start = replyText.selectionStart, end = replyText.selectionEnd;
      var value = replyText.value;
      replyText.value = value.slice(0, start) + text + value.slice(end);
      replyText.focus();
      replyText.selectionStart = replyText.selectionEnd = start + text.length;
      updateCounter();
    });
  }

  /* --- Live updates ----------------------------------------------------------------------- */
  function fetchFragment(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        // A redirect to the login page means the session ended: stop quietly.
        if (!response.ok || response.redirected) throw new Error("fragment " + response.status);
        var counts = response.headers.get("X-Queue-Counts");
        if (counts) updateTabCounts(JSON.parse(counts));
        return response.text();
      });
  }
  function updateTabCounts(counts) {
    document.querySelectorAll(".tabs .tab[data-view]").forEach(function (tab) {
      var badge = tab.querySelector(".tab-count");
      var value = counts[tab.getAttribute("data-view")];
      if (badge && typeof value === "number") badge.textContent = String(value);
    });
  }
  function parseList(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  var queueList = document.getElementById("queue-list");
  var queueLive = document.getElementById("queue-live");
  var newCount = 0;
  function refreshQueue() {
    if (!queueList) return;
    if (queueList.hasAttribute("data-older-page")) {
      queueLive.hidden = false;
      queueLive.innerHTML = "";
      var link = document.createElement("a");
      link.href = window.location.pathname + window.location.search.replace(/([?&])before=[^&]*&?/, "$1");
      link.textContent = "The queue changed — show the newest";
      queueLive.appendChild(link);
      return;
    }
    fetchFragment(queueList.getAttribute("data-fragment-url")).then(function (html) {
      var known = {};
      queueRows().forEach(function (row) { known[row.dataset.id] = row.dataset.last; });
      var focusedRow = document.activeElement && document.activeElement.closest
        ? document.activeElement.closest(".qrow") : null;
      var focusedId = focusedRow ? focusedRow.dataset.id : null;
      var fragment = parseList(html);
      var fresh = 0;
      fragment.querySelectorAll(".qrow").forEach(function (row) {
        if (!(row.dataset.id in known) || known[row.dataset.id] !== row.dataset.last) {
          row.classList.add("is-new");
          fresh += 1;
        }
      });
      queueList.replaceChildren(fragment);
      if (focusedId) {
        var again = queueList.querySelector('.qrow[data-id="' + focusedId + '"]');
        if (again) {
          again.classList.add("is-selected");
          again.querySelector("a").focus({ preventScroll: true });
        }
      }
      if (fresh) {
        newCount += fresh;
        queueLive.hidden = false;
        queueLive.textContent = newCount + " new";
        document.title = "(" + newCount + ") " + document.title.replace(/^\(\d+\) /, "");
      }
    }).catch(function () { /* keep the current list; the next event or poll retries */ });
  }

  var timeline = document.getElementById("timeline");
  var timelineLive = document.getElementById("timeline-live");
  function refreshTimeline() {
    if (!timeline) return;
    fetchFragment(timeline.getAttribute("data-fragment-url")).then(function (html) {
      var signature = function (root) {
        return Array.prototype.map.call(root.querySelectorAll(".msg"), function (m) {
          return m.dataset.id + ":" + (m.dataset.state || "");
        }).join(",");
      };
      var fragment = parseList(html);
      if (signature(fragment) === signature(timeline)) return;
      var nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
      timeline.replaceChildren(fragment);
      if (timelineLive) timelineLive.textContent = "The conversation was updated.";
      if (nearBottom) timeline.lastElementChild && timeline.lastElementChild.scrollIntoView({ block: "nearest" });
    }).catch(function () {});
  }

  var page = body.dataset.live;
  var refresh = page === "queue" ? refreshQueue : page === "conversation" ? refreshTimeline : null;
  if (!refresh) return;
  var conversationId = body.dataset.conversation ? parseInt(body.dataset.conversation, 10) : null;

  var pollTimer = null;
  function startPolling() {
    if (pollTimer === null) pollTimer = window.setInterval(refresh, POLL_MS);
  }
  function stopPolling() {
    if (pollTimer !== null) {
      window.clearInterval(pollTimer);
      pollTimer = null;
    }
  }

  var retryDelay = 5000;
  function connect() {
    if (!("WebSocket" in window)) {
      startPolling();
      return;
    }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(scheme + window.location.host + (body.dataset.wsPath || "/ws/inbox/"));
    } catch (e) {
      startPolling();
      return;
    }
    var opened = false;
    socket.addEventListener("open", function () {
      opened = true;
      retryDelay = 5000;
      stopPolling();
      if (conversationId) socket.send(JSON.stringify({ watch: conversationId }));
      refresh(); // catch up on anything missed while disconnected
    });
    socket.addEventListener("message", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "queue.changed" && page === "queue") refreshQueue();
      if (data.type === "conversation.changed" && page === "conversation") refreshTimeline();
    });
    socket.addEventListener("close", function () {
      // No live channel (server without WebSockets, network trouble): poll, and retry later.
      startPolling();
      window.setTimeout(connect, opened ? retryDelay : Math.min(retryDelay *= 2, 300000));
    });
  }
  connect();
})();
