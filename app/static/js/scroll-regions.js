// A table wider than its box scrolls sideways; keyboard users must be able to scroll it too. Every scrolling
// container (.table-responsive, .chart-table-wrap) that overflows becomes a focusable region named after its table's
// caption or the nearest heading; one that fits is left out of the tab order.
(function () {
  "use strict";
  function nameOf(box) {
    const caption = box.querySelector("caption");
    if (caption && caption.textContent.trim()) return caption.textContent.trim();
    let node = box;
    while (node && node !== document.body) {
      let sibling = node.previousElementSibling;
      while (sibling) {
        if (/^H[1-6]$/.test(sibling.tagName)) return sibling.textContent.trim();
        const inner = sibling.querySelector && sibling.querySelector("h1, h2, h3, h4, h5, h6");
        if (inner) return inner.textContent.trim();
        sibling = sibling.previousElementSibling;
      }
      node = node.parentElement;
    }
    return document.title;
  }
  function mark() {
    document.querySelectorAll(".table-responsive, .chart-table-wrap").forEach(function (box) {
      const overflows = box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1;
      if (overflows && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.dataset.scrollRegion = "1";
        if (!box.hasAttribute("role")) box.setAttribute("role", "region");
        if (!box.hasAttribute("aria-label")) box.setAttribute("aria-label", nameOf(box));
      } else if (!overflows && box.dataset.scrollRegion) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrollRegion;
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mark);
  else mark();
  window.addEventListener("resize", mark);
  window.addEventListener("load", mark);
})();
