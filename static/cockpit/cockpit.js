// Small progressive enhancements; every page works without this file.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute("data-submit-once")) return;
  if (form.dataset.submitted) { event.preventDefault(); return; }
  form.dataset.submitted = "1";
  form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
});
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
}, true);
// A select that re-renders the wizard itself (hx-get on the select: operation, version) fires
// "input" and "change" together. Its own request follows "change"; the form's delayed live search
// listens to "input", and would replace (abort) that request half a second later when the server
// is slow. Its "input" stays with the select.
document.addEventListener("input", function (event) {
  var target = event.target;
  if (target.matches && target.matches("select[hx-get]") && target.form && target.form.hasAttribute("hx-trigger")) {
    event.stopPropagation();
  }
}, true);
// Next on the wizard is a plain form submission (a navigation). A live search still waiting out its
// delay, or still in flight, would push its URL into the history after the click, and a history
// push cancels the pending navigation: the operator clicked Next and stayed on the form. Once the
// form is submitted, its live searches are aborted and no new one starts.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (event.defaultPrevented || !form.hasAttribute("hx-trigger")) return;
  form.dataset.leaving = "1";
  [form].concat(Array.prototype.slice.call(form.querySelectorAll("[hx-get]"))).forEach(function (el) {
    if (window.htmx) window.htmx.trigger(el, "htmx:abort");
  });
});
document.addEventListener("htmx:beforeRequest", function (event) {
  var form = event.target.closest ? event.target.closest("form") : null;
  if (form && form.dataset.leaving) event.preventDefault();
});
window.addEventListener("pageshow", function () {
  document.querySelectorAll("form[data-leaving]").forEach(function (form) { delete form.dataset.leaving; });
});
// A form with a live search (hx-trigger on the form) is aria-busy from the edit that triggers a
// search until the answer to a search started after that edit has been swapped in: the count and
// the matches on screen describe what the form holds once it is no longer busy.
function liveForm(el) {
  var form = el && el.closest ? el.closest("form") : null;
  return form && form.hasAttribute("hx-trigger") ? form : null;
}
["input", "change"].forEach(function (type) {
  document.addEventListener(type, function (event) {
    var form = liveForm(event.target);
    if (!form) return;
    form.dataset.editedAt = String(Date.now());
    form.setAttribute("aria-busy", "true");
  }, true);
});
document.addEventListener("htmx:beforeRequest", function (event) {
  if (!event.defaultPrevented && liveForm(event.target)) event.detail.xhr.startedAt = Date.now();
});
["htmx:afterSettle", "htmx:responseError", "htmx:sendError", "htmx:timeout"].forEach(function (type) {
  document.addEventListener(type, function (event) {
    var form = liveForm(event.target) || liveForm(document.getElementById("wizard-form"));
    var xhr = event.detail && event.detail.xhr;
    if (!form || !xhr || !xhr.startedAt) return;
    if (xhr.startedAt >= Number(form.dataset.editedAt || 0)) form.removeAttribute("aria-busy");
  });
});
// A select that re-renders the page (hx-get) changed before the scripts had loaded (a slow
// connection) or restored by the browser on back: its value differs from the option the server
// rendered as selected. Once htmx is ready, that change is sent as if it had just happened.
document.addEventListener("DOMContentLoaded", function () {
  window.setTimeout(function () {
    if (!window.htmx) return;
    document.querySelectorAll("select[hx-get]").forEach(function (select) {
      var rendered = Array.prototype.find.call(select.options, function (o) { return o.defaultSelected; }) || select.options[0];
      if (rendered && select.value !== rendered.value) window.htmx.trigger(select, "change");
    });
  }, 0);
});
