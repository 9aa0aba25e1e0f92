// Upload with a progress bar: the form posts as usual without JavaScript; with it, the file is sent by
// XMLHttpRequest so that the bar follows the bytes sent, then the answer (the preview or the error report)
// replaces the page. A form opts in with data-upload-progress="<id of a .progress element>".
(function () {
  "use strict";
  document.querySelectorAll("form[data-upload-progress]").forEach(function (form) {
    const box = document.getElementById(form.dataset.uploadProgress);
    if (!box || !window.FormData || !window.XMLHttpRequest) return;
    const bar = box.querySelector(".progress-bar");
    const status = document.getElementById(form.dataset.uploadStatus);
    form.addEventListener("submit", function (event) {
      if (!form.checkValidity()) return;
      event.preventDefault();
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      box.hidden = false;
      form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
      request.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        const percent = Math.round((e.loaded / e.total) * 100);
        bar.style.width = percent + "%";
        bar.setAttribute("aria-valuenow", String(percent));
        bar.textContent = percent + " %";
      });
      request.upload.addEventListener("load", function () {
        bar.classList.add("progress-bar-striped", "progress-bar-animated");
        if (status) status.textContent = status.dataset.checking || "";
      });
      request.addEventListener("load", function () {
        if (request.responseURL && request.responseURL !== new URL(form.action, location.href).href) {
          location.assign(request.responseURL);
          return;
        }
        document.open();
        document.write(request.responseText);
        document.close();
        if (request.responseURL) history.replaceState(null, "", request.responseURL);
      });
      request.addEventListener("error", function () { form.submit(); });
      request.send(new FormData(form));
    });
  });
})();
