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
