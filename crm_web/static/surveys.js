// The survey builder: questions are dragged within and between pages, and palette entries
// (question types and templates) are dragged onto a page (SortableJS). Each drop is posted with
// htmx; the answer is the canvas as saved, or as it was with the server's message when the
// change was refused, so the page always shows the truth. Clicking a palette entry (plain htmx)
// adds it at the end.
(function () {
  "use strict";

  function canvas() {
    return document.getElementById("canvas");
  }

  // The place among the questions of the list (the drop hint is not one).
  function placeOf(item) {
    let place = 0;
    let sibling = item.previousElementSibling;
    while (sibling) {
      if (sibling.classList.contains("question")) {
        place += 1;
      }
      sibling = sibling.previousElementSibling;
    }
    return place;
  }

  function post(url, list, values) {
    htmx.ajax("POST", url, { source: list, target: "#canvas", swap: "outerHTML", values: values });
  }

  function onEnd(event) {
    const item = event.item;
    if (!item.classList.contains("question")) {
      return;
    }
    if (event.to === event.from && event.oldIndex === event.newIndex) {
      return;
    }
    const url = canvas().dataset.moveUrl.replace("QID", item.dataset.id);
    post(url, event.to, { page_id: event.to.dataset.pageId, index: placeOf(item) });
  }

  // A palette entry dropped on a page: the copy is only a marker of the place.
  function onAdd(event) {
    const item = event.item;
    if (!item.classList.contains("palette-item")) {
      return;
    }
    const values = { page_id: event.to.dataset.pageId, index: placeOf(item) };
    if (item.dataset.template) {
      values.template = item.dataset.template;
    } else {
      values.kind = item.dataset.kind;
    }
    item.remove();
    post(canvas().dataset.addUrl, event.to, values);
  }

  htmx.onLoad(function (root) {
    if (!document.getElementById("canvas")) {
      return;
    }
    document.querySelectorAll(".palette-list").forEach(function (list) {
      if (!Sortable.get(list)) {
        Sortable.create(list, {
          group: { name: "survey", pull: "clone", put: false },
          sort: false,
          draggable: ".palette-item",
          animation: 120,
          forceFallback: true,
        });
      }
    });
    root.querySelectorAll(".question-list").forEach(function (list) {
      if (!Sortable.get(list)) {
        Sortable.create(list, {
          group: { name: "survey", pull: true, put: true },
          draggable: ".question, .palette-item",
          handle: ".drag-handle, .palette-button",
          filter: ".drop-hint",
          animation: 120,
          // Mouse and touch events rather than native drag and drop: the same on every browser.
          forceFallback: true,
          onEnd: onEnd,
          onAdd: onAdd,
        });
      }
    });
    // Dragging works from here on: the handles show (and a test knows it may drag).
    document.getElementById("canvas").classList.add("sortable-ready");
    // A question just added or opened comes into view.
    const fresh = root.querySelector(".question.just-added, .question.open");
    if (fresh && fresh.scrollIntoView) {
      fresh.scrollIntoView({ block: "nearest" });
    }
  });
})();
