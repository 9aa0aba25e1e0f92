// The award criteria of a new call: the total of the weights is shown as they are typed, in red until it is 100.
(function () {
  "use strict";
  const weights = document.querySelectorAll("#criteria input.weight");
  const total = document.getElementById("weight-total");
  if (!total) return;
  function sum() {
    let t = 0;
    weights.forEach(function (w) { t += parseInt(w.value || "0", 10) || 0; });
    total.textContent = t;
    total.classList.toggle("text-danger", t !== 100);
    total.classList.toggle("text-success", t === 100);
  }
  weights.forEach(function (w) { w.addEventListener("input", sum); });
  sum();
})();
