// The typed variables editor (templates/cockpit/_editor_variables.html), enhanced: rows are added
// and removed in the page instead of by a round trip, and a Null row's value is read-only. Without
// this file the editor's buttons submit the form and the server adds or removes the row.
// Listeners sit on the document, so editors that htmx swaps in later work as well.
(function () {
  function editorOf(element) {
    return element.closest("[data-variables-editor]");
  }

  // The wizard's live search listens for "change" on its form: tell it the rows changed.
  function changed(editor) {
    var form = editor.closest("form");
    if (form) form.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function addRow(editor) {
    var template = editor.querySelector("template[data-variables-blank]");
    var rows = editor.querySelector("[data-variables-rows]");
    if (!template || !rows) return null;
    var row = template.content.firstElementChild.cloneNode(true);
    rows.appendChild(row);
    return row;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-variables-add], [data-variables-remove]");
    if (!button) return;
    var editor = editorOf(button);
    if (!editor) return;
    event.preventDefault();
    if (button.hasAttribute("data-variables-add")) {
      var row = addRow(editor);
      if (row) row.querySelector("input").focus();
      return;
    }
    button.closest("[data-variables-row]").remove();
    if (!editor.querySelector("[data-variables-row]")) addRow(editor);
    changed(editor);
  });

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("[data-variables-editor] select")) return;
    var value = select.closest("[data-variables-row]").querySelector("input[name$='_value']");
    // Read-only, not disabled: a disabled input is not sent, and the rows' lists would shift.
    if (value) value.readOnly = select.value === "Null";
  });
})();
