// CPV picker: search by code prefix or words; one code, or several shown as removable chips.
(function () {
  "use strict";
  function debounce(fn, ms) { let t; return function (...a) { clearTimeout(t); t = setTimeout(() => fn.apply(this, a), ms); }; }

  function setup(root) {
    const input = root.querySelector('input[type="search"]');
    const list = root.querySelector(".cpv-results");
    const hidden = document.getElementById(root.dataset.field);
    const multiple = root.dataset.multiple === "true";
    const chips = root.querySelector(".cpv-chips");
    let codes = (hidden.value || "").split(",").map((c) => c.trim()).filter(Boolean);
    let active = -1;

    function renderChips() {
      if (!multiple) return;
      chips.replaceChildren();
      codes.forEach((code) => {
        const chip = document.createElement("span");
        chip.className = "badge text-bg-secondary cpv-chip";
        chip.textContent = code + " ";
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "btn-close btn-close-white btn-sm ms-1";
        remove.setAttribute("aria-label", "× " + code);
        remove.addEventListener("click", () => { codes = codes.filter((c) => c !== code); sync(); });
        chip.appendChild(remove);
        chips.appendChild(chip);
      });
    }
    function sync() { hidden.value = codes.join(","); renderChips(); }
    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1; }
    function choose(item) {
      if (multiple) { if (!codes.includes(item.code)) codes.push(item.code); input.value = ""; }
      else { codes = [item.code]; input.value = item.code + " — " + item.label; }
      sync(); close();
    }
    const search = debounce(async function () {
      const q = input.value.trim();
      if (q.length < 2) { close(); return; }
      const response = await fetch(root.dataset.searchUrl + "?limit=15&q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } });
      if (!response.ok) { close(); return; }
      const data = await response.json();
      list.replaceChildren();
      data.items.forEach((item, i) => {
        const li = document.createElement("li");
        li.className = "list-group-item list-group-item-action";
        li.setAttribute("role", "option");
        li.id = root.dataset.field + "-opt-" + i;
        const code = document.createElement("code");
        code.textContent = item.code + "-" + item.check_digit;
        li.append(code, " " + item.label);
        li.addEventListener("mousedown", (e) => { e.preventDefault(); choose(item); });
        li._item = item;
        list.appendChild(li);
      });
      list.hidden = data.items.length === 0;
      input.setAttribute("aria-expanded", String(!list.hidden));
    }, 200);

    input.addEventListener("input", search);
    input.addEventListener("blur", () => setTimeout(close, 100));
    input.addEventListener("keydown", (e) => {
      const items = Array.from(list.children);
      if (list.hidden || !items.length) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        active = (active + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
        items.forEach((li, i) => li.classList.toggle("active", i === active));
        input.setAttribute("aria-activedescendant", items[active].id);
      } else if (e.key === "Enter" && active >= 0) {
        e.preventDefault(); choose(items[active]._item);
      } else if (e.key === "Escape") { close(); }
    });
    if (!multiple && codes.length && !input.value) input.value = codes[0];  // the page may give the code's label
    renderChips();
  }
  document.querySelectorAll("[data-cpv-picker]").forEach(setup);
})();
