// Forms marked data-confirm="question" ask the question before they are sent (no inline handler: the
// Content-Security-Policy allows none).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }, true);
})();
