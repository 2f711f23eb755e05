/* Routing rules: a builder for the condition tree and the actions, over the JSON fields.
 *
 * Progressive: without JavaScript the form shows the JSON textareas (the server validates
 * them and names the path of an error). With it, each textarea gets a builder that reads
 * the JSON, lets the admin add/remove conditions, nested groups and actions, and writes the
 * JSON back on every change; "Edit as JSON" shows the textareas again.
 */
(function () {
  "use strict";

  // The list's delete buttons ask first.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  });

  var optionsNode = document.getElementById("rule-builder-options");
  if (!optionsNode) return;
  var O = JSON.parse(optionsNode.textContent);
  var L = O.labels;
  var disabled = !!document.querySelector(".rule-form fieldset[disabled]");

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "on") Object.keys(attrs.on).forEach(function (e) { node.addEventListener(e, attrs.on[e]); });
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function select(label, pairs, value, onChange) {
    var s = el("select", { "aria-label": label });
    var known = pairs.some(function (p) { return String(p[0]) === String(value); });
    if (!known && value != null && value !== "") {
      // A team, officer, saved reply or policy that no longer exists: shown as such (and
      // kept) rather than silently replaced by the first choice.
      s.appendChild(el("option", { value: String(value), text: label_missing(value) }));
      s.classList.add("is-missing");
    }
    pairs.forEach(function (p) {
      var o = el("option", { value: String(p[0]), text: p[1] });
      if (String(p[0]) === String(value)) o.selected = true;
      s.appendChild(o);
    });
    s.addEventListener("change", function () { onChange(s.value); });
    return s;
  }

  function listText(value) { return Array.isArray(value) ? value.join(", ") : (value == null ? "" : String(value)); }
  function splitList(text) { return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean); }
  function label(key) { return L[key] || key; }
  function label_missing(value) { return (L.missing || "%(name)s").replace("%(name)s", String(value)); }

  // --- conditions -------------------------------------------------------------------------

  function toGroup(node) {
    if (!node || !Object.keys(node).length) return { kind: "all", children: [] };
    if (node.all) return { kind: "all", children: node.all.map(toItem) };
    if (node.any) return { kind: "any", children: node.any.map(toItem) };
    if (node.not) {
      var inner = node.not;
      return { kind: "not", children: (inner.any ? inner.any : [inner]).map(toItem) };
    }
    return { kind: "all", children: [toItem(node)] };
  }
  function toItem(node) { return node && node.field ? { leaf: true, field: node.field, op: node.op, value: node.value } : toGroup(node); }

  function fromGroup(group, top) {
    var children = group.children.map(function (c) { return c.leaf ? { field: c.field, op: c.op, value: c.value } : fromGroup(c, false); });
    if (top && group.kind === "all" && !children.length) return {};
    if (group.kind === "not") return { not: children.length === 1 ? children[0] : { any: children } };
    var out = {}; out[group.kind] = children; return out;
  }

  function defaultValue(kind) {
    return { bool: true, count: 0, hours: "outside", ids: O.accounts.length ? [O.accounts[0][0]] : [], regex: "" }[kind] || [];
  }

  function valueInput(leaf, changed) {
    var kind = O.values[leaf.field + "." + leaf.op];
    var set = function (v) { leaf.value = v; changed(); };
    if (kind === "bool") return select(label("value"), [["true", label("yes")], ["false", label("no")]], String(leaf.value), function (v) { set(v === "true"); });
    if (kind === "hours") return select(label("value"), [["inside", label("inside")], ["outside", label("outside")]], leaf.value, set);
    if (kind === "ids") return select(label("value"), O.accounts, (leaf.value || [])[0], function (v) { set([parseInt(v, 10)]); });
    if (kind === "count") {
      var n = el("input", { type: "number", min: "0", "aria-label": label("value"), value: String(leaf.value || 0) });
      n.addEventListener("input", function () { set(parseInt(n.value || "0", 10)); });
      return n;
    }
    var hint = kind === "kinds" ? O.kinds.join(", ") : (leaf.field === "contact_list" ? O.lists.map(function (l) { return l[0]; }).join(", ") : "");
    var t = el("input", { type: "text", "aria-label": label("value"), value: kind === "regex" ? (leaf.value || "") : listText(leaf.value),
      placeholder: kind === "regex" ? "\\bbus\\s*\\d+" : label("comma") + (hint ? ": " + hint : "") });
    t.addEventListener("input", function () { set(kind === "regex" ? t.value : splitList(t.value)); });
    return t;
  }

  function renderLeaf(leaf, parent, changed, rerender) {
    var fields = Object.keys(O.fields).map(function (f) { return [f, label(f)]; });
    var ops = (O.fields[leaf.field] || []).map(function (o) { return [o, label(o)]; });
    return el("div", { class: "rb-row" }, [
      select(label("field"), fields, leaf.field, function (f) {
        leaf.field = f; leaf.op = O.fields[f][0]; leaf.value = defaultValue(O.values[f + "." + leaf.op]); changed(); rerender();
      }),
      select(label("operator"), ops, leaf.op, function (o) {
        leaf.op = o; leaf.value = defaultValue(O.values[leaf.field + "." + o]); changed(); rerender();
      }),
      valueInput(leaf, changed),
      disabled ? null : el("button", { type: "button", class: "btn btn-sm btn-danger-quiet", text: label("remove"),
        "aria-label": label("remove") + " " + label(leaf.field),
        on: { click: function () { parent.children.splice(parent.children.indexOf(leaf), 1); changed(); rerender(); } } }),
    ]);
  }

  function renderGroup(group, parent, changed, rerender) {
    var box = el("div", { class: "rb-group", role: "group" });
    var kinds = [["all", label("all")], ["any", label("any")], ["not", label("not")]];
    box.appendChild(el("div", { class: "rb-head" }, [
      select(label("all") + " / " + label("any"), kinds, group.kind, function (k) { group.kind = k; changed(); }),
      parent && !disabled ? el("button", { type: "button", class: "btn btn-sm btn-danger-quiet", text: label("remove"),
        on: { click: function () { parent.children.splice(parent.children.indexOf(group), 1); changed(); rerender(); } } }) : null,
    ]));
    group.children.forEach(function (child) {
      box.appendChild(child.leaf ? renderLeaf(child, group, changed, rerender) : renderGroup(child, group, changed, rerender));
    });
    if (!disabled) {
      box.appendChild(el("div", { class: "rb-buttons" }, [
        el("button", { type: "button", class: "btn btn-sm", text: "+ " + label("add_condition"), on: { click: function () {
          group.children.push({ leaf: true, field: "language", op: "in", value: [] }); changed(); rerender();
        } } }),
        el("button", { type: "button", class: "btn btn-sm", text: "+ " + label("add_group"), on: { click: function () {
          group.children.push({ kind: "any", children: [{ leaf: true, field: "text", op: "contains_any", value: [] }] }); changed(); rerender();
        } } }),
      ]));
    }
    return box;
  }

  // --- actions ----------------------------------------------------------------------------

  var choicesFor = { team: O.teams, user: O.users, saved_reply: O.saved_replies, policy: O.policies,
    value: O.priorities.map(function (p) { return [p, p]; }) };

  function renderAction(action, actions, changed, rerender) {
    var types = Object.keys(O.actions).map(function (t) { return [t, label(t)]; });
    var row = el("div", { class: "rb-row" }, [
      select(label("action"), types, action.type, function (t) {
        Object.keys(action).forEach(function (k) { delete action[k]; });
        action.type = t;
        O.actions[t].forEach(function (key) {
          var name = key.replace("?", "");
          if (key.slice(-1) === "?") return;
          action[name] = choicesFor[name] && choicesFor[name].length ? choicesFor[name][0][0] : (name === "tags" ? [] : "");
        });
        changed(); rerender();
      }),
    ]);
    O.actions[action.type].forEach(function (key) {
      var name = key.replace("?", "");
      if (choicesFor[name]) {
        var pairs = choicesFor[name].length ? choicesFor[name] : [["", label("choose")]];
        row.appendChild(select(label(action.type) + ": " + name, pairs, action[name], function (v) {
          action[name] = (name === "saved_reply" || name === "policy") ? parseInt(v, 10) : v; changed();
        }));
      } else if (name === "reassign") {
        var box = el("input", { type: "checkbox" });
        box.checked = !!action.reassign;
        box.addEventListener("change", function () { if (box.checked) action.reassign = true; else delete action.reassign; changed(); });
        row.appendChild(el("label", { class: "check-row rb-reassign" }, [box, document.createTextNode(" " + label("reassign"))]));
      } else if (name === "delay_minutes") {
        var n = el("input", { type: "number", min: "0", "aria-label": label("delay"), placeholder: label("delay"), value: action.delay_minutes == null ? "" : String(action.delay_minutes) });
        n.addEventListener("input", function () { if (n.value === "") delete action.delay_minutes; else action.delay_minutes = parseInt(n.value, 10); changed(); });
        row.appendChild(n);
      } else {
        var t = el("input", { type: "text", "aria-label": label(action.type) + ": " + name, placeholder: label("comma"), value: listText(action[name]) });
        t.addEventListener("input", function () { action[name] = splitList(t.value); changed(); });
        row.appendChild(t);
      }
    });
    if (!disabled) {
      row.appendChild(el("button", { type: "button", class: "btn btn-sm btn-danger-quiet", text: label("remove"),
        on: { click: function () { actions.splice(actions.indexOf(action), 1); changed(); rerender(); } } }));
    }
    return row;
  }

  // --- wiring -----------------------------------------------------------------------------

  var builders = [];
  document.querySelectorAll(".rule-builder").forEach(function (host) {
    var textarea = document.getElementById(host.getAttribute("data-target"));
    var fallback = host.parentNode.querySelector(".json-fallback");
    var isConditions = host.getAttribute("data-builder") === "conditions";
    var state;
    try {
      var parsed = JSON.parse(textarea.value.trim() || (isConditions ? "{}" : "[]"));
      state = isConditions ? toGroup(parsed) : (Array.isArray(parsed) ? parsed : null);
    } catch (e) { state = null; }
    if (state === null) return; // unreadable JSON: the textarea stays, with the server's error
    function write() {
      textarea.value = JSON.stringify(isConditions ? fromGroup(state, true) : state, null, 1);
    }
    function render() {
      host.innerHTML = "";
      if (isConditions) host.appendChild(renderGroup(state, null, write, render));
      else {
        state.forEach(function (a) { host.appendChild(renderAction(a, state, write, render)); });
        if (!disabled) host.appendChild(el("div", { class: "rb-buttons" }, [el("button", { type: "button", class: "btn btn-sm", text: "+ " + label("add_action"),
          on: { click: function () { state.push({ type: "route_to_team", team: O.teams.length ? O.teams[0][0] : "" }); write(); render(); } } })]));
      }
    }
    render();
    host.hidden = false;
    // An error on this field stays visible under the builder; the JSON itself is one click away.
    var error = fallback.querySelector(".field-error");
    if (error) host.appendChild(el("p", { class: "field-error", role: "alert", text: error.textContent }));
    fallback.hidden = true;
    builders.push({ host: host, fallback: fallback, reload: function () {
      try {
        var p = JSON.parse(textarea.value.trim() || (isConditions ? "{}" : "[]"));
        state = isConditions ? toGroup(p) : p; render();
      } catch (e) { /* keep the last good state */ }
    } });
  });

  var toggle = document.querySelector("[data-json-toggle]");
  if (toggle && builders.length) {
    toggle.closest(".json-toggle").hidden = false;
    toggle.addEventListener("change", function () {
      builders.forEach(function (b) {
        if (!toggle.checked) b.reload();
        b.host.hidden = toggle.checked;
        b.fallback.hidden = !toggle.checked;
      });
    });
  }
})();
