// The contact form's check when the form is under attack (channels_adapters/webform/guard.py):
// find n such that SHA-256("<seed>:<n>") starts with <bits> zero bits, put it in the hidden
// "pow" field and hide the question, which stays for visitors without JavaScript (or without
// Web Crypto, only offered on https:// and localhost). Strings come from data-label-* attributes.
(function () {
  "use strict";
  var form = document.querySelector("form[data-pow-seed]");
  var alertBox = document.getElementById("wf-alert");
  if (alertBox) { alertBox.focus(); }
  if (!form || !window.crypto || !window.crypto.subtle || !window.TextEncoder) { return; }
  var seed = form.getAttribute("data-pow-seed");
  var bits = parseInt(form.getAttribute("data-pow-bits"), 10) || 0;
  var status = form.querySelector("[data-pow-status]");
  var question = form.querySelector("[data-question]");
  var field = form.querySelector("input[name=pow]");
  var button = form.querySelector("button[type=submit]");
  var encoder = new TextEncoder();
  var solved = false;
  var wantsSubmit = false;

  function say(label) { if (status) { status.textContent = form.getAttribute(label) || ""; } }

  function leadingZeroBits(buffer) {
    var bytes = new Uint8Array(buffer);
    var count = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { count += 8; continue; }
      var b = bytes[i];
      while ((b & 0x80) === 0) { count++; b <<= 1; }
      break;
    }
    return count;
  }

  function tryBatch(start, size) {
    var jobs = [];
    for (var n = start; n < start + size; n++) {
      jobs.push(window.crypto.subtle.digest("SHA-256", encoder.encode(seed + ":" + n)));
    }
    return Promise.all(jobs).then(function (digests) {
      for (var i = 0; i < digests.length; i++) {
        if (leadingZeroBits(digests[i]) >= bits) { return start + i; }
      }
      return -1;
    });
  }

  function search(start) {
    return tryBatch(start, 512).then(function (found) {
      return found >= 0 ? found : search(start + 512);
    });
  }

  form.addEventListener("submit", function (event) {
    if (!solved) { event.preventDefault(); wantsSubmit = true; }
  });
  if (button) { button.setAttribute("aria-disabled", "true"); }
  say("data-label-working");
  search(0).then(function (n) {
    field.value = String(n);
    solved = true;
    if (question) {
      question.classList.add("is-solved");
      var input = question.querySelector("input");
      if (input) { input.value = ""; }
    }
    if (button) { button.removeAttribute("aria-disabled"); }
    say("data-label-ready");
    if (wantsSubmit) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
  }).catch(function () {
    // Web Crypto refused: the question stays, and the form is sent as it is.
    solved = true;
    if (button) { button.removeAttribute("aria-disabled"); }
    if (status) { status.textContent = ""; }
  });
}());
