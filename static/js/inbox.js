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
        if (page === "conversation") {
          // Next / previous conversation of the queue the officer came from.
          var target = neighbourConversation(event.key === "j" ? 1 : -1);
          if (target) {
            event.preventDefault();
            window.location.href = target;
          }
          return;
        }
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
        // The queue's search box; on a conversation, the saved replies' search (or picker).
        var filter = document.querySelector("#queue-search, [data-saved-search], #saved-reply, .filters select");
        if (filter) {
          event.preventDefault();
          filter.focus();
        }
        return;
      case "x":
        if (page !== "queue") return;
        rows = queueRows();
        index = selectedIndex(rows);
        var box = index >= 0 ? rows[index].querySelector("[data-select-row]") : null;
        if (box) {
          event.preventDefault();
          box.checked = !box.checked;
          box.dispatchEvent(new Event("change", { bubbles: true }));
        }
        return;
      case "e":
        clickIn(event, '[data-live-part="status"] form input[name=status][value=resolved]');
        return;
      case "s":
        var snoozeBox = document.getElementById("snooze-box");
        if (snoozeBox) {
          event.preventDefault();
          snoozeBox.open = true;
          var first = snoozeBox.querySelector("input[name=until]");
          if (first) first.focus();
        }
        return;
      case "a":
        if (page !== "conversation") return;
        if (!clickIn(event, '[data-live-part="assignment"] [data-testid=take]')) {
          clickIn(event, '[data-live-part="assignment"] form input[name=assignee][value=me]');
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

  // Submit the form that holds the element matched by selector (a button, or a hidden input
  // naming what the form does). True if there was one.
  function clickIn(event, selector) {
    var el = document.querySelector(selector);
    if (!el) return false;
    event.preventDefault();
    if (el.tagName === "BUTTON") el.click();
    else if (el.form) el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit();
    return true;
  }
  // The queue page remembers its rows' links, in order, for J/K on a conversation page.
  var QUEUE_IDS = "ci.queue.ids";
  function rememberQueueIds() {
    try {
      sessionStorage.setItem(QUEUE_IDS, JSON.stringify(queueRows().map(function (row) {
        var link = row.querySelector("a.qrow-link");
        return link ? link.getAttribute("href") : null;
      }).filter(Boolean)));
    } catch (e) { /* storage disabled */ }
  }
  function neighbourConversation(step) {
    var list;
    try { list = JSON.parse(sessionStorage.getItem(QUEUE_IDS) || "[]"); } catch (e) { return null; }
    var here = list.indexOf(location.pathname);
    if (here < 0) return null;
    return list[here + step] || null;
  }
  if (body.getAttribute("data-live") === "queue") rememberQueueIds();

  /* --- Queue: selection for bulk actions (the rows' checkboxes belong to #bulk-form) ------- */
  var bulkForm = document.getElementById("bulk-form");
  var bulkChecked = {};
  function bulkBoxes() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue-list [data-select-row]"));
  }
  function bulkUpdate() {
    if (!bulkForm) return;
    var boxes = bulkBoxes();
    var n = boxes.filter(function (b) { return b.checked; }).length;
    var count = bulkForm.querySelector("[data-selected-count]");
    if (count) count.textContent = n ? (bulkForm.getAttribute("data-label-selected") || "{n} selected").replace("{n}", String(n)) : (bulkForm.getAttribute("data-label-none") || "");
    var all = bulkForm.querySelector("[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    }
    var submit = bulkForm.querySelector("[data-bulk-submit]");
    if (submit) submit.disabled = n === 0;
    boxes.forEach(function (b) { b.closest(".qrow").classList.toggle("is-checked", b.checked); });
  }
  function bulkFields() {
    var action = bulkForm.querySelector("[data-bulk-action]");
    bulkForm.querySelectorAll("[data-bulk-for]").forEach(function (el) {
      el.hidden = !action || el.getAttribute("data-bulk-for") !== action.value;
    });
  }
  if (bulkForm) {
    document.addEventListener("change", function (event) {
      var t = event.target;
      if (t.matches && t.matches("[data-select-row]")) {
        bulkChecked[t.value] = t.checked;
        bulkUpdate();
      } else if (t.matches && t.matches("[data-select-all]")) {
        bulkBoxes().forEach(function (b) { b.checked = t.checked; bulkChecked[b.value] = t.checked; });
        bulkUpdate();
      } else if (t.matches && t.matches("[data-bulk-action]")) {
        bulkFields();
      }
    });
    bulkFields();
    bulkUpdate();
  }
  // After a live refresh of the list: the rows the officer had ticked stay ticked.
  function bulkRestore() {
    bulkBoxes().forEach(function (b) { if (bulkChecked[b.value]) b.checked = true; });
    bulkUpdate();
  }

  /* --- Notes: the mention buttons put "@name " in the note --------------------------------- */
  document.querySelectorAll("[data-mention]").forEach(function (button) {
    button.addEventListener("click", function () {
      var note = document.getElementById("note-text");
      if (!note) return;
      var at = "@" + button.getAttribute("data-mention") + " ";
      var start = note.selectionStart, end = note.selectionEnd, value = note.value;
      var before = value.slice(0, start);
      if (before && !/\s$/.test(before)) at = " " + at;
      note.value = before + at + value.slice(end);
      note.focus();
      note.selectionStart = note.selectionEnd = start + at.length;
    });
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
  // The counter's words come from the page, in the interface language (data-label-* on #reply-counter).
  function counterLabel(name, fallback) {
    return (counter && counter.getAttribute("data-label-" + name)) || fallback;
  }
  function measure(text, counting) {
    if (counting === "x") return [xWeighted(text), counterLabel("limit-x", "{n} / {limit} characters as X counts them")];
    if (counting === "bytes") return [new TextEncoder().encode(text).length, counterLabel("limit-bytes", "{n} / {limit} bytes")];
    return [Array.from(text).length, counterLabel("limit", "{n} / {limit} characters")];
  }
  function updateCounter() {
    if (!replyText || !counter) return;
    var checked = currentOption();
    var measured = measure(replyText.value.trim(), checked ? checked.getAttribute("data-counting") : "");
    var length = measured[0];
    var limit = currentLimit();
    if (limit) {
      counter.textContent = measured[1].replace("{n}", String(length)).replace("{limit}", String(limit));
      counter.classList.toggle("is-over", length > limit);
      if (length > limit) counter.textContent += " " + counterLabel("over", "— {n} too many").replace("{n}", String(length - limit));
    } else {
      counter.textContent = counterLabel("count", "{n} characters").replace("{n}", String(length));
      counter.classList.remove("is-over");
    }
  }
  var replyForm = document.getElementById("reply-form");
  if (replyForm) {
    // A second click while the first submit travels would be ignored by the server (same
    // client_token) anyway; disabling the button says so.
    replyForm.addEventListener("submit", function () {
      var button = replyForm.querySelector("button[type=submit]");
      if (button) { button.disabled = true; button.textContent = replyForm.getAttribute("data-label-sending") || "Sending…"; }
    });
  }
  if (replyText) {
    replyText.addEventListener("input", updateCounter);
    document.querySelectorAll("#reply-form input[name=option]").forEach(function (radio) {
      radio.addEventListener("change", updateCounter);
    });
    updateCounter();
  }

  // Saved replies are searched and inserted by static/js/library.js (in the conversation's
  // language, variables filled in by the server); the counter follows its input event.

  /* --- SLA countdown (conversation page) -------------------------------------------------- *
   * The server renders the current target's due time and the business seconds left; between
   * live refreshes the text ticks here, counting only the span in which the service is open
   * (data-open-from / data-open-until). The next refresh re-renders it from the server.
   */
  function spanText(seconds, el) {
    // The unit formats come translated from the page (data-fmt-*), as the server writes them.
    var d = el.dataset;
    var minutes = Math.floor(Math.abs(seconds) / 60);
    if (minutes < 1) return d.fmtLt || "< 1 min";
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    if (!hours) return (d.fmtM || "{m} min").replace("{m}", minutes);
    if (!minutes) return (d.fmtH || "{h} h").replace("{h}", hours);
    return (d.fmtHm || "{h} h {m} min").replace("{h}", hours).replace("{m}", minutes);
  }
  function businessElapsed(el, now) {
    var rendered = parseInt(el.dataset.rendered, 10);
    var from = el.dataset.openFrom ? parseInt(el.dataset.openFrom, 10) : null;
    if (from === null) return 0; // closed, and not opening in the horizon
    var until = el.dataset.openUntil ? parseInt(el.dataset.openUntil, 10) : Infinity;
    var start = Math.max(rendered, from), end = Math.min(now, until);
    return Math.max(0, end - start) / 1000;
  }
  function tickCountdowns() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var state = el.dataset.state;
      if (state === "paused") return;
      var remaining = parseInt(el.dataset.remaining, 10) - businessElapsed(el, now);
      var warn = parseInt(el.dataset.warn || "0", 10);
      var text = el.querySelector("[data-countdown-text]");
      var flag = el.querySelector("[data-countdown-flag]");
      var next = remaining < 0 ? "breached" : (state === "breached" || remaining <= warn) ? (state === "breached" ? "breached" : "at_risk") : state;
      if (text) text.textContent = (remaining < 0 ? el.dataset.textOver : el.dataset.textDue).replace("{span}", spanText(remaining, el));
      if (next !== state) {
        el.classList.remove("sla-" + state);
        el.classList.add("sla-" + next);
        el.classList.toggle("sla-badge", next === "breached");
        el.classList.toggle("sla-due", next !== "breached");
        el.dataset.state = next;
        if (flag) flag.textContent = next === "breached" ? el.dataset.labelBreached : el.dataset.labelAtRisk;
      }
    });
  }
  if (document.querySelector("[data-countdown]") || body.dataset.live === "conversation") {
    window.setInterval(tickCountdowns, 15000);
  }

  /* --- Notifications (every page): the top bar's list, a toast for live ones ----------------- *
   * The page arrives with the unread notifications kept on the server (templates/base.html,
   * inbox/services/notifications.py). A live message (SLA scan, mention, a draft reviewed) shows
   * a toast and its line at once, then the list is fetched again from the API so each entry has
   * its id. Clicking an entry marks it read; "Mark all read" marks them all.
   */
  var notices = document.getElementById("notices");
  function percentText(value) {
    try {
      return new Intl.NumberFormat(document.documentElement.lang || undefined, { style: "percent" }).format(value / 100);
    } catch (e) { return value + "%"; }
  }
  function noticeText(item) {
    if (item.event === "mention") {
      return (notices.dataset.labelMention || "{author} mentioned you in conversation #{id}")
        .replace("{author}", item.author || "").replace("{id}", String(item.conversation));
    }
    var template = notices.dataset["label" + (item.event === "warning" ? "Warning" : item.event === "breach" ? "Breach" : "Escalation")] || "";
    return template.replace("{id}", String(item.conversation)).replace("{percent}", percentText(item.percent));
  }
  function noticeUrl(item) {
    return (notices.dataset.url || "/inbox/c/{id}/").replace("{id}", String(parseInt(item.conversation, 10)));
  }
  function csrfToken() {
    var input = notices && notices.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function noticesList() { return notices.querySelector("[data-notices-list]"); }
  function noticesCount(n, more) {
    var count = notices.querySelector("[data-notices-count]");
    var label = notices.querySelector("[data-notices-count-label]");
    var text = String(n) + (more ? "+" : "");
    count.hidden = n === 0;
    count.textContent = text;
    label.textContent = n === 0 ? "" : (notices.dataset.labelUnread || "unread: {n}").replace("{n}", text);
    notices.querySelector("[data-notices-empty]").hidden = n > 0;
    notices.querySelector("[data-notices-clear]").hidden = n === 0;
  }
  function noticeItem(id, kind, url, text, when) {
    var li = document.createElement("li");
    li.className = "notice notice-" + kind;
    if (id) li.setAttribute("data-notification-id", String(id));
    var link = document.createElement("a");
    link.href = url;
    link.textContent = text; // text, never markup: names come from users
    li.appendChild(link);
    if (when) {
      var time = document.createElement("time");
      time.dateTime = when;
      try {
        time.textContent = new Intl.DateTimeFormat(document.documentElement.lang || undefined,
          { dateStyle: "short", timeStyle: "short" }).format(new Date(when));
      } catch (e) { time.textContent = when; }
      li.appendChild(document.createTextNode(" "));
      li.appendChild(time);
    }
    return li;
  }
  function reloadNotices() {
    if (!notices || !notices.dataset.api) return;
    fetch(notices.dataset.api + "?unread=true", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(); })
      .then(function (data) {
        var list = noticesList();
        list.replaceChildren();
        (data.results || []).forEach(function (n) {
          list.appendChild(noticeItem(n.id, n.kind, noticeUrl({ conversation: n.conversation }), n.text, n.created_at));
        });
        noticesCount(list.children.length, Boolean(data.next));
      }).catch(function () { /* the list stays as it is */ });
  }
  function markRead(body) {
    return fetch(notices.dataset.readUrl, {
      method: "POST", credentials: "same-origin", keepalive: true,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), "Accept": "application/json" },
      body: JSON.stringify(body),
    });
  }
  var toastTimer = null;
  function notify(items) {
    if (!notices || !items.length) return;
    var list = noticesList();
    items.forEach(function (item) {
      list.insertBefore(noticeItem(null, item.event, noticeUrl(item), noticeText(item), null), list.firstChild);
    });
    noticesCount(list.children.length, false);
    // One toast for the whole batch: the first item, or how many need attention.
    var toast = notices.querySelector("[data-toast]");
    toast.replaceChildren();
    var link = document.createElement("a");
    link.href = items.length === 1 ? noticeUrl(items[0]) : (notices.dataset.url || "").replace(/c\/\{id\}\/$/, "") + "?ordering=due";
    link.textContent = items.length === 1 ? noticeText(items[0]) : notices.dataset.labelMany.replace("{n}", String(items.length));
    toast.appendChild(link);
    toast.classList.add("is-shown");
    if (toastTimer) window.clearTimeout(toastTimer);
    toastTimer = window.setTimeout(function () { toast.classList.remove("is-shown"); }, 12000);
  }
  if (notices) {
    var toggle = notices.querySelector("[data-notices-toggle]");
    var panel = document.getElementById("notices-panel");
    toggle.addEventListener("click", function () {
      var open = panel.hidden;
      panel.hidden = !open;
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !panel.hidden) {
        panel.hidden = true;
        toggle.setAttribute("aria-expanded", "false");
        toggle.focus();
      }
    });
    // Following an entry marks it read (keepalive: the request outlives the page it leaves).
    noticesList().addEventListener("click", function (event) {
      var li = event.target.closest("li[data-notification-id]");
      if (!li) return;
      markRead({ ids: [parseInt(li.getAttribute("data-notification-id"), 10)] }).catch(function () {});
      li.remove();
      noticesCount(noticesList().children.length, false);
    });
    notices.querySelector("[data-notices-read-all]").addEventListener("submit", function (event) {
      event.preventDefault();
      markRead({ all: true }).then(function (r) {
        if (!r.ok) return;
        noticesList().replaceChildren();
        noticesCount(0, false);
      }).catch(function () {});
    });
  }
  window.CitizenInbox = { notify: notify }; // for a page's own scripts and the browser tests

  /* --- Service calendar editor: periods, regions, live preview ---------------------------- */
  var calendarForm = document.getElementById("calendar-form");
  if (calendarForm && !calendarForm.querySelector("fieldset[disabled]")) {
    calendarForm.querySelectorAll("tr.weekday").forEach(function (row) {
      var add = row.querySelector("[data-add-period]");
      var template = row.querySelector("template[data-empty-period]");
      var total = row.querySelector("input[name$='-TOTAL_FORMS']");
      if (!add || !template || !total) return;
      add.hidden = false;
      // The blank row after a day's periods is for forms without JavaScript: the button adds rows here.
      row.querySelectorAll("[data-spare]").forEach(function (li) {
        var empty = Array.prototype.every.call(li.querySelectorAll("input.time-input"), function (i) { return !i.value; });
        if (empty && !li.classList.contains("has-error")) li.hidden = true;
      });
      add.addEventListener("click", function () {
        var index = parseInt(total.value, 10);
        var html = template.innerHTML.replace(/__prefix__/g, String(index));
        row.querySelector("[data-periods]").insertAdjacentHTML("beforeend", html);
        total.value = String(index + 1);
        var inputs = row.querySelectorAll("[data-period]:last-child input.time-input");
        if (inputs.length) inputs[0].focus();
      });
    });
    var copyMonday = calendarForm.querySelector("[data-copy-monday]");
    if (copyMonday) {
      copyMonday.hidden = false;
      copyMonday.addEventListener("click", function () {
        var monday = calendarForm.querySelector('tr.weekday[data-weekday="0"]');
        var spans = Array.prototype.map.call(monday.querySelectorAll("[data-period]"), function (li) {
          var t = li.querySelectorAll("input.time-input");
          var del = li.querySelector("input[type=checkbox]");
          return del && del.checked ? null : [t[0].value, t[1].value];
        }).filter(function (s) { return s && (s[0] || s[1]); });
        [1, 2, 3, 4].forEach(function (day) {
          var row = calendarForm.querySelector('tr.weekday[data-weekday="' + day + '"]');
          var list = row.querySelector("[data-periods]");
          var total = row.querySelector("input[name$='-TOTAL_FORMS']");
          var initial = parseInt(row.querySelector("input[name$='-INITIAL_FORMS']").value, 10);
          // Rows already saved are marked for removal; new rows take Monday's periods.
          list.querySelectorAll("[data-period]").forEach(function (li, i) {
            if (i < initial) {
              li.querySelector("input[type=checkbox]").checked = true;
              li.hidden = true;
            } else {
              li.remove();
            }
          });
          total.value = String(initial);
          spans.forEach(function (span) {
            row.querySelector("[data-add-period]").click();
            var inputs = list.querySelectorAll("[data-period]:last-child input.time-input");
            inputs[0].value = span[0];
            inputs[1].value = span[1];
          });
        });
        schedulePreview();
      });
    }
    var country = document.getElementById("id_holidays_country");
    var region = document.getElementById("id_holidays_subdivision");
    if (country && region) {
      country.addEventListener("change", function () {
        var url = calendarForm.dataset.regionsUrl + "?country=" + encodeURIComponent(country.value);
        fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : Promise.reject(); })
          .then(function (html) { region.innerHTML = html; schedulePreview(); }).catch(function () {});
      });
    }
    var alwaysOpen = document.getElementById("id_always_open");
    var week = document.getElementById("week");
    function syncAlwaysOpen() { if (alwaysOpen && week) week.toggleAttribute("data-always-open", alwaysOpen.checked); }
    if (alwaysOpen) { alwaysOpen.addEventListener("change", syncAlwaysOpen); syncAlwaysOpen(); }
  }
  var previewForm = document.getElementById("preview-form");
  var previewResult = document.getElementById("preview-result");
  var previewTimer = null;
  function schedulePreview() {
    if (!previewForm || !previewResult) return;
    if (previewTimer) window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(runPreview, 300);
  }
  function runPreview() {
    var editable = calendarForm && !calendarForm.querySelector("fieldset[disabled]");
    var url = calendarForm ? calendarForm.dataset.previewUrl : "";
    var request;
    if (editable) {
      // The calendar as typed, before it is saved.
      var data = new FormData(calendarForm);
      new FormData(previewForm).forEach(function (value, key) { data.append(key, value); });
      request = fetch(url, { method: "POST", body: data, credentials: "same-origin" });
    } else {
      request = fetch(url + "?" + new URLSearchParams(new FormData(previewForm)).toString(), { credentials: "same-origin" });
    }
    request.then(function (r) { return r.ok ? r.text() : Promise.reject(); })
      .then(function (html) { previewResult.innerHTML = html; }).catch(function () {});
  }
  if (previewForm && previewResult && calendarForm) {
    previewForm.addEventListener("submit", function (event) { event.preventDefault(); runPreview(); });
    previewForm.addEventListener("input", schedulePreview);
    if (!calendarForm.querySelector("fieldset[disabled]")) {
      calendarForm.addEventListener("input", schedulePreview);
      calendarForm.addEventListener("change", schedulePreview);
    }
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
      link.textContent = queueLive.getAttribute("data-label-changed") || "The queue changed — show the newest";
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
      bulkRestore();
      rememberQueueIds();
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
        queueLive.textContent = (queueLive.getAttribute("data-label-new") || "{n} new").replace("{n}", String(newCount));
        document.title = "(" + newCount + ") " + document.title.replace(/^\(\d+\) /, "");
      }
    }).catch(function () { /* keep the current list; the next event or poll retries */ });
  }

  /* --- Open conversation: live status, assignment and timeline ---------------------------- *
   * One fragment (?fragment=live) carries every part that can change; each <template
   * data-part=X> replaces the content of the page's [data-live-part=X].
   *
   * What the officer has seen: the composer's hidden last_seen_message_id tells the server
   * the newest message this officer was shown; the server refuses to send if the citizen
   * wrote or anyone replied after it (a 409 page that lists them and asks to confirm).
   * Messages that arrive live are marked "New" and stay marked. They move the seen id only
   * while the composer is empty and the tab is in front: the officer will write with them
   * on screen. Once the officer has started writing, what arrives was not known when the
   * text was written — the id stays, a notice says so, and sending asks to confirm. That is
   * the case of the double answer (a colleague answered while this officer was typing).
   */
  var timeline = document.getElementById("timeline");
  var timelineLive = document.getElementById("timeline-live");
  var seenField = document.querySelector("#reply-form input[name=last_seen_message_id]");
  var composerNews = document.getElementById("composer-news");
  var freshIds = {};

  function timelineMessages(root) {
    return Array.prototype.slice.call(root.querySelectorAll(".msg[data-id]"));
  }
  function newestId(root) {
    return timelineMessages(root).reduce(function (max, m) { return Math.max(max, parseInt(m.dataset.id, 10)); }, 0);
  }
  function composerEmpty() {
    return !replyText || replyText.value.trim() === "";
  }
  function markSeen() {
    if (seenField && timeline && composerEmpty() && document.visibilityState === "visible") {
      seenField.value = String(Math.max(parseInt(seenField.value || "0", 10), newestId(timeline)));
    }
  }
  function markNew(root) {
    var label = timeline.getAttribute("data-new-label") || "New";
    timelineMessages(root).forEach(function (m) {
      if (!freshIds[m.dataset.id] || m.querySelector(".new-badge")) return;
      m.classList.add("is-new");
      var badge = document.createElement("span");
      badge.className = "new-badge";
      badge.textContent = label;
      var head = m.querySelector(".msg-head");
      if (head) head.insertBefore(badge, head.querySelector(".msg-time"));
    });
  }
  function updateTimeline(content) {
    var signature = function (root) {
      return timelineMessages(root).map(function (m) { return m.dataset.id + ":" + (m.dataset.state || ""); }).join(",");
    };
    if (signature(content) === signature(timeline)) return;
    var known = {};
    timelineMessages(timeline).forEach(function (m) { known[m.dataset.id] = true; });
    var seen = seenField ? parseInt(seenField.value || "0", 10) : 0;
    var unseenAnswers = 0;
    var freshFromCitizen = [];
    timelineMessages(content).forEach(function (m) {
      if (known[m.dataset.id]) return;
      freshIds[m.dataset.id] = true;
      if (m.classList.contains("msg-in")) freshFromCitizen.push(m);
      // Notes do not stop a reply (see message_reply_collisions_check); messages to or from the citizen do.
      if (!m.classList.contains("msg-note") && parseInt(m.dataset.id, 10) > seen) unseenAnswers += 1;
    });
    var nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
    timeline.replaceChildren(content);
    markNew(timeline);
    if (timelineLive) timelineLive.textContent = announcement(freshFromCitizen);
    if (nearBottom) timeline.lastElementChild && timeline.lastElementChild.scrollIntoView({ block: "nearest" });
    if (composerEmpty()) markSeen();
    else if (unseenAnswers && composerNews) composerNews.hidden = false;
  }
  // What the live region says (screen readers): the citizen's new message itself when one
  // came, how many when several did, else that the conversation changed.
  function announcement(fromCitizen) {
    var label = function (name, fallback) { return timelineLive.getAttribute("data-label-" + name) || fallback; };
    if (fromCitizen.length === 1) {
      var text = fromCitizen[0].querySelector(".msg-text");
      var words = text ? text.textContent.replace(/\s+/g, " ").trim().slice(0, 200) : "";
      return label("new-message", "New message from the citizen: {text}").replace("{text}", words);
    }
    if (fromCitizen.length > 1) {
      return label("new-messages", "New messages from the citizen: {n}").replace("{n}", String(fromCitizen.length));
    }
    return label("updated", "The conversation was updated.");
  }
  function withoutTokens(html) {
    return html.replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, "");
  }
  function refreshConversation() {
    var url = body.dataset.liveUrl;
    if (!url || !timeline) return;
    fetchFragment(url).then(function (html) {
      parseList(html).querySelectorAll("template[data-part]").forEach(function (part) {
        var name = part.getAttribute("data-part");
        var target = document.querySelector('[data-live-part="' + name + '"]');
        if (!target) return;
        if (name === "timeline") {
          updateTimeline(part.content);
          return;
        }
        // Leave a part alone while the officer is using one of its controls (a half-chosen
        // reassignment); the next refresh catches up.
        if (target.contains(document.activeElement) && document.activeElement !== document.body) return;
        if (withoutTokens(target.innerHTML) === withoutTokens(part.innerHTML)) return;
        target.replaceChildren(part.content.cloneNode(true));
      });
    }).catch(function () {});
  }
  // Coming back to the tab with an empty composer: what is on the page now has been shown.
  document.addEventListener("visibilitychange", markSeen);

  var page = body.dataset.live;
  // Every signed-in page listens (SLA notifications); queues and conversations also refresh.
  var refresh = page === "queue" ? refreshQueue : page === "conversation" ? refreshConversation : function () {};
  var conversationId = body.dataset.conversation ? parseInt(body.dataset.conversation, 10) : null;

  var pollTimer = null;
  function startPolling() {
    if (pollTimer === null && (page === "queue" || page === "conversation")) pollTimer = window.setInterval(refresh, POLL_MS);
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
      // Other scripts (static/js/collab.js: presence, approvals) send on it and hear "ci:socket".
      window.CitizenInbox.socket = socket;
      if (conversationId) socket.send(JSON.stringify({ watch: conversationId }));
      refresh(); // catch up on anything missed while disconnected
    });
    socket.addEventListener("message", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      document.dispatchEvent(new CustomEvent("ci:socket", { detail: data }));
      if (data.type === "queue.changed" && page === "queue") refreshQueue();
      if (data.type === "conversation.changed" && page === "conversation") refreshConversation();
      if (data.type === "sla.notification") notify(data.items || []);
      if (data.type === "mention.notification") {
        notify([{ conversation: data.conversation, event: "mention", author: data.author }]);
      }
      // Kept on the server (with their ids): the list is fetched again after any of these.
      if (data.type === "sla.notification" || data.type === "mention.notification" ||
          (data.type === "draft.changed" && (data.status === "approved" || data.status === "returned"))) {
        window.setTimeout(reloadNotices, 300);
      }
    });
    socket.addEventListener("close", function () {
      // No live channel (server without WebSockets, network trouble): poll, and retry later.
      startPolling();
      window.setTimeout(connect, opened ? retryDelay : Math.min(retryDelay *= 2, 300000));
    });
  }
  connect();
})();
