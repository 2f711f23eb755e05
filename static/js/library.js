/* The reply library in the composer (templates/inbox/_saved_replies.html).
 *
 * A combobox (WAI-ARIA 1.2 "list autocomplete"): typing asks the server for matching saved
 * replies (debounced; an HTML fragment of role=option items, escaped by Django), arrow keys
 * move the active option (aria-activedescendant), Enter or a click inserts it, Escape closes
 * the list. Inserting asks the server for the text in the conversation's language with the
 * variables filled in ({citizen_name}, ...) and puts it at the cursor of the reply, as text
 * (never as HTML). The "Insert" button of the plain list does the same.
 *
 * Everything is delegated from the document: the live refresh replaces the composer's
 * saved-replies part, and the handlers keep working on the new elements.
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 150;
  var timer = null;
  var requestSeq = 0;

  document.documentElement.classList.add("library-js");

  function box() { return document.querySelector("[data-saved-library]"); }
  function input() { return document.getElementById("saved-search"); }
  function listbox() { return document.getElementById("saved-listbox"); }
  function label(name, fallback) {
    var b = box();
    return (b && b.getAttribute("data-label-" + name)) || fallback;
  }
  function announce(text) {
    var status = document.querySelector("[data-saved-status]");
    if (status) status.textContent = text;
  }
  function options() {
    var list = listbox();
    return list ? Array.prototype.slice.call(list.querySelectorAll("[role=option]")) : [];
  }
  function setExpanded(open) {
    var field = input(), list = listbox();
    if (!field || !list) return;
    list.hidden = !open;
    field.setAttribute("aria-expanded", open ? "true" : "false");
    if (!open) {
      field.removeAttribute("aria-activedescendant");
      options().forEach(function (o) { o.setAttribute("aria-selected", "false"); });
    }
  }
  function activate(index) {
    var all = options(), field = input();
    if (!all.length || !field) return;
    index = (index + all.length) % all.length;
    all.forEach(function (o, i) { o.setAttribute("aria-selected", i === index ? "true" : "false"); });
    field.setAttribute("aria-activedescendant", all[index].id);
    all[index].scrollIntoView({ block: "nearest" });
  }
  function activeIndex() {
    var all = options();
    for (var i = 0; i < all.length; i++) if (all[i].getAttribute("aria-selected") === "true") return i;
    return -1;
  }

  function search() {
    var b = box(), field = input(), list = listbox();
    if (!b || !field || !list) return;
    var seq = ++requestSeq;
    var url = b.getAttribute("data-search-url") + "?q=" + encodeURIComponent(field.value.trim());
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (html) {
        if (seq !== requestSeq) return; // an older answer arriving late
        list.innerHTML = html; // server-rendered and escaped by the template
        var n = options().length;
        setExpanded(true);
        announce(n ? label("count", "{n} found").replace("{n}", String(n)) : label("none", "No saved reply matches."));
      })
      .catch(function () {});
  }

  function cursorOf() {
    var reply = document.getElementById("reply-text");
    return reply ? { start: reply.selectionStart, end: reply.selectionEnd, value: reply.value } : null;
  }
  function insertText(text, at) {
    // ``at`` is where the cursor was when the officer chose the reply: the text comes from
    // the server, and whatever they typed meanwhile (at that cursor) stays after it.
    var reply = document.getElementById("reply-text");
    if (!reply || !at) return;
    var value = reply.value;
    var typedMeanwhile = value !== at.value;
    var end = typedMeanwhile ? at.start : at.end;
    var caret = typedMeanwhile ? reply.selectionStart : at.start;
    reply.value = value.slice(0, at.start) + text + value.slice(end);
    reply.focus();
    reply.selectionStart = reply.selectionEnd = caret + text.length;
    // The counter (static/js/inbox.js) listens to input events.
    reply.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function insertSaved(id, title, fallbackText) {
    var b = box();
    var savedField = document.querySelector("#reply-form input[name=saved_reply]");
    var at = cursorOf();
    // Back to the reply at once: what the officer types while the text is on its way goes
    // there (after it), not to the button they clicked.
    var reply = document.getElementById("reply-text");
    if (reply && at) { reply.focus(); reply.setSelectionRange(at.start, at.end); }
    var done = function (text) {
      // The reply remembers the saved reply it came from: usage is counted when it is sent,
      // and a holding reply counts as one.
      if (savedField) savedField.value = id;
      insertText(text, at);
      announce(label("inserted", "Inserted: {title}").replace("{title}", title || ""));
    };
    if (!b) { if (fallbackText !== null) done(fallbackText); return; }
    var url = b.getAttribute("data-text-url").replace(/\/0\/text\/$/, "/" + encodeURIComponent(id) + "/text/");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (data) { done(data.text || ""); })
      .catch(function () { if (fallbackText !== null) done(fallbackText); });
  }

  function choose(option) {
    if (!option) return;
    var title = option.querySelector(".saved-option-title");
    setExpanded(false);
    var field = input();
    if (field) field.value = "";
    insertSaved(option.getAttribute("data-id"), title ? title.textContent : "", null);
  }

  document.addEventListener("input", function (event) {
    if (event.target.id !== "saved-search") return;
    window.clearTimeout(timer);
    timer = window.setTimeout(search, DEBOUNCE_MS);
  });
  document.addEventListener("focusin", function (event) {
    if (event.target.id === "saved-search" && !options().length) search();
  });
  document.addEventListener("keydown", function (event) {
    if (event.target.id !== "saved-search") return;
    var list = listbox();
    var open = list && !list.hidden;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!open) { search(); return; }
      var i = activeIndex();
      activate(event.key === "ArrowDown" ? i + 1 : (i < 0 ? -1 : i - 1));
    } else if (event.key === "Enter") {
      if (!open) return;
      event.preventDefault();
      var all = options(), index = activeIndex();
      choose(all[index >= 0 ? index : 0]);
    } else if (event.key === "Escape") {
      if (open) { event.preventDefault(); event.stopPropagation(); setExpanded(false); }
    } else if (event.key === "Home" || event.key === "End") {
      if (open && options().length) { event.preventDefault(); activate(event.key === "Home" ? 0 : options().length - 1); }
    }
  });
  document.addEventListener("mousedown", function (event) {
    // mousedown, not click: the input keeps focus until the option is chosen.
    var option = event.target.closest && event.target.closest("#saved-listbox [role=option]");
    if (option) { event.preventDefault(); choose(option); }
  });
  document.addEventListener("focusout", function (event) {
    if (event.target.id === "saved-search") window.setTimeout(function () {
      if (document.activeElement !== input()) setExpanded(false);
    }, 100);
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-insert-saved]");
    if (!button) return;
    // With JavaScript, insert at the cursor instead of reloading the page.
    event.preventDefault();
    var select = document.getElementById("saved-reply");
    var option = select && select.options[select.selectedIndex];
    if (!option || !option.value) return;
    insertSaved(option.value, option.textContent, option.getAttribute("data-body") || "");
  });
})();
