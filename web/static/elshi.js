// Elshi's only script (no build step, no other origin). The pages work without it; it adds:
// "tick all" boxes in tables, filter drop-downs that apply themselves when picked with a mouse
// or a finger (with the keyboard each arrow key is a change: the page would reload at the
// first step, so there the Filter button applies them), and questions before buttons that
// carry data-confirm.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("input[data-check-all]")) {
      var table = target.closest("table");
      table.querySelectorAll("tbody input[type=checkbox]").forEach(function (box) {
        box.checked = target.checked;
      });
    } else if (target.matches("select[data-autosubmit]") && !target.hasAttribute("data-keyed")) {
      target.form.submit();
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.target.matches("select[data-autosubmit]")) {
      event.target.setAttribute("data-keyed", "");
    }
  });
  document.addEventListener("pointerdown", function (event) {
    if (event.target.matches("select[data-autosubmit]")) {
      event.target.removeAttribute("data-keyed");
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
