// Buttons marked data-print open the browser's print dialog (the report's print stylesheet does the layout).
document.querySelectorAll("[data-print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
});
