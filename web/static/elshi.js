// Elshi's only script (no build step, no other origin). The pages work without it; it adds:
// "tick all" boxes in tables, and filter drop-downs that apply themselves.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("input[data-check-all]")) {
      var table = target.closest("table");
      table.querySelectorAll("tbody input[type=checkbox]").forEach(function (box) {
        box.checked = target.checked;
      });
    } else if (target.matches("select[data-autosubmit]")) {
      target.form.submit();
    }
  });
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
})();
