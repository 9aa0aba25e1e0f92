// The new-group form: the ticked needs are highlighted and counted, and filtering the list of needs keeps what
// was typed and ticked (carried as hidden fields of the filter form).
(function () {
  const source = document.getElementById("group-form");
  const filter = document.getElementById("need-filter");
  const counter = document.getElementById("ticked-count");
  function ticked() {
    return Array.from(source.querySelectorAll("input[name=need_ids]:checked")).map((box) => box.value);
  }
  source.addEventListener("change", function (event) {
    if (event.target.name !== "need_ids") return;
    event.target.closest("tr").classList.toggle("table-primary", event.target.checked);
    counter.textContent = counter.dataset.template.replace("{n}", ticked().length);
  });
  filter.addEventListener("submit", function () {
    filter.querySelectorAll("input[data-carry]").forEach((input) => input.remove());
    const carry = {
      name: source.elements.namedItem("name").value,
      scope: source.elements.namedItem("scope_cpv_prefix").value,
      coordinator_organization: source.elements.namedItem("coordinator_organization").value,
      planned_publication_on: source.elements.namedItem("planned_publication_on").value,
      need_ids: ticked().join(","),
    };
    for (const [name, value] of Object.entries(carry)) {
      if (!value) continue;
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      input.dataset.carry = "";
      filter.appendChild(input);
    }
  });
})();
