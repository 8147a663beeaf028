// Veracity review UI: keyboard shortcuts. Plain JS, no dependencies, loaded as a static file (CSP: no inline script).
(function () {
  "use strict";

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    if (tag === "INPUT") return ["checkbox", "radio", "button", "submit", "reset"].indexOf(el.type) === -1;
    return tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function shortcut(key) {
    var els = document.querySelectorAll("[data-shortcut]");
    for (var i = 0; i < els.length; i++) {
      if (els[i].getAttribute("data-shortcut").split(" ").indexOf(key) !== -1) return els[i];
    }
    return null;
  }

  function activate(el) {
    if (el.tagName === "BUTTON") {
      var form = el.form;
      if (form && form.getAttribute("data-sent")) return; // one decision per page load
      if (form && form.requestSubmit) form.requestSubmit(el); else el.click();
    } else if (el.tagName === "A") {
      window.location.href = el.href;
    } else {
      el.click();
    }
  }

  // queue: j / k move the selection, Enter or o opens it
  var rows = Array.prototype.slice.call(document.querySelectorAll("[data-row]"));
  var current = -1;
  function select(i) {
    if (!rows.length) return;
    if (current >= 0) rows[current].classList.remove("current");
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows[current].classList.add("current");
    rows[current].scrollIntoView({ block: "nearest" });
  }
  rows.forEach(function (row, i) {
    row.addEventListener("click", function (ev) {
      if (ev.target.closest("a")) return;
      window.location.href = row.getAttribute("data-href");
    });
    row.addEventListener("mouseenter", function () { if (current !== i) select(i); });
  });

  var help = document.getElementById("help");
  function toggleHelp() {
    if (!help || !help.showModal) return;
    if (help.open) help.close(); else help.showModal();
  }
  var helpButtons = document.querySelectorAll("[data-help-toggle]");
  for (var h = 0; h < helpButtons.length; h++) helpButtons[h].addEventListener("click", toggleHelp);

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    if (typing(ev.target)) {
      if (ev.key === "Escape") ev.target.blur();
      return;
    }
    if (help && help.open && ev.key !== "?") return;
    var key = ev.key;
    if (key === "?") { toggleHelp(); ev.preventDefault(); return; }
    if (rows.length) {
      if (key === "j" || key === "n") { select(current + 1); ev.preventDefault(); return; }
      if (key === "k" || key === "p") { select(current < 0 ? 0 : current - 1); ev.preventDefault(); return; }
      if ((key === "Enter" || key === "o") && current >= 0) {
        window.location.href = rows[current].getAttribute("data-href");
        ev.preventDefault();
        return;
      }
    }
    if (key === "m") {
      var box = document.querySelector("[data-comment]");
      if (box) { box.focus(); ev.preventDefault(); }
      return;
    }
    if (key.length !== 1) return;
    var el = shortcut(key);
    if (el) { ev.preventDefault(); activate(el); }
  });

  // a decision form is sent once, however often it is clicked or keyed
  var forms = document.querySelectorAll("form.decide");
  for (var f = 0; f < forms.length; f++) {
    forms[f].addEventListener("submit", function (ev) {
      if (this.getAttribute("data-sent")) { ev.preventDefault(); return; }
      this.setAttribute("data-sent", "1");
    });
  }

  // the selected sentence of the answer stays in view
  var sel = document.querySelector(".answer .s.selected");
  if (sel && sel.scrollIntoView) sel.scrollIntoView({ block: "nearest" });
})();
