// The customer list: the header checkbox ticks every row shown (rows added by infinite scroll
// arrive unticked). Delegated from the document, so it survives htmx swapping the table.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (box.id !== "select-page") return;
  const table = box.closest("table");
  for (const row of table.querySelectorAll("input[name='ids']")) row.checked = box.checked;
});
