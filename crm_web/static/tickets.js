// The ticket queue: live refresh that keeps the agent's place, and keyboard shortcuts.
// The rows (tbody#queue-rows) poll themselves through htmx; this file only asks for as many
// rows as are on screen, carries the selection and the keyboard cursor across each swap,
// and marks rows that are new or changed since the previous refresh.
(function () {
  "use strict";

  var ROWS_ID = "queue-rows";
  var before = null; // {versions, checked, current} captured just before the rows are replaced

  function rows() {
    var body = document.getElementById(ROWS_ID);
    return body ? Array.prototype.slice.call(body.querySelectorAll("tr[data-ticket]")) : [];
  }

  function currentRow() {
    return document.querySelector("#" + ROWS_ID + " tr.current");
  }

  function setCurrent(row) {
    var old = currentRow();
    if (old) old.classList.remove("current");
    if (!row) return;
    row.classList.add("current");
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(currentRow());
    var next = index < 0 ? 0 : Math.min(Math.max(index + step, 0), all.length - 1);
    setCurrent(all[next]);
  }

  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.id === ROWS_ID) {
      // Re-render every row the agent has loaded (load more), not just the first page.
      event.detail.parameters.rows = String(rows().length);
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var current = currentRow();
    if (target.id !== ROWS_ID) {
      // One row swapped (assign to me): it keeps the keyboard cursor.
      if (current && current === target) before = { current: current.dataset.ticket };
      return;
    }
    before = { versions: {}, checked: {}, current: current ? current.dataset.ticket : null };
    rows().forEach(function (row) {
      before.versions[row.dataset.ticket] = row.dataset.version;
      var box = row.querySelector("input[name=ticket_ids]");
      if (box && box.checked) before.checked[row.dataset.ticket] = true;
    });
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    // Counters swapped out of band settle too; only the rows (or one row) matter here.
    var settled = event.target;
    if (!before || !(settled.id === ROWS_ID || settled.matches("tr[data-ticket]"))) return;
    var state = before;
    before = null;
    rows().forEach(function (row) {
      var id = row.dataset.ticket;
      if (state.current === id) row.classList.add("current");
      if (!state.versions) return;
      if (state.checked[id]) row.querySelector("input[name=ticket_ids]").checked = true;
      if (state.versions[id] !== row.dataset.version) row.classList.add("row-changed");
    });
  });

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById(ROWS_ID)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target.closest && target.closest("input, select, textarea, [contenteditable]")) return;
    var row = currentRow();
    switch (event.key) {
      case "j":
        move(1);
        break;
      case "k":
        move(-1);
        break;
      case "x":
        if (row) row.querySelector("input[name=ticket_ids]").click();
        break;
      case "a":
        var take = row && row.querySelector("[data-action=assign-me]");
        if (take) take.click();
        break;
      case "o":
      case "Enter":
        if (row) window.location.assign(row.dataset.href);
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("#" + ROWS_ID + " tr[data-ticket]");
    if (row) setCurrent(row);
  });
})();
