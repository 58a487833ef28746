// The pipeline board: cards are dragged between and within columns (SortableJS); each drop is
// posted with htmx, whose answer swaps in the two columns' new totals out of band. A drop on a
// won or lost column first asks for the reason. If the server refuses a move, the board is
// reloaded so it shows the truth again.
(function () {
  "use strict";

  function board() {
    return document.getElementById("board");
  }

  function neighbourId(item, forward) {
    let sibling = forward ? item.nextElementSibling : item.previousElementSibling;
    while (sibling && !sibling.classList.contains("deal")) {
      sibling = forward ? sibling.nextElementSibling : sibling.previousElementSibling;
    }
    return sibling ? sibling.dataset.id : "";
  }

  function reloadBoard() {
    htmx.ajax("GET", board().dataset.boardUrl, { target: "#board", swap: "outerHTML" });
  }

  function postMove(item, reason) {
    const root = board();
    const list = item.closest(".deals");
    const url =
      root.dataset.moveUrl.replace(/\/0\/move$/, "/" + item.dataset.id + "/move") +
      (root.dataset.query ? "?" + root.dataset.query : "");
    item.addEventListener(
      "htmx:afterRequest",
      function (event) {
        if (!event.detail.successful) {
          reloadBoard();
        }
      },
      { once: true }
    );
    htmx.ajax("POST", url, {
      source: item,
      swap: "none",
      values: {
        stage_id: list.dataset.stageId,
        after_id: neighbourId(item, false),
        before_id: neighbourId(item, true),
        reason: reason,
      },
    });
  }

  // Resolves with the reason typed in the dialog, or null when it is cancelled.
  function askReason(outcome, stageName) {
    const dialog = document.getElementById("close-dialog");
    const form = document.getElementById("close-form");
    const reason = document.getElementById("close-reason");
    // The questions come translated from the page (data-won-title, data-lost-title).
    document.getElementById("close-title").textContent =
      (outcome === "won" ? dialog.dataset.wonTitle : dialog.dataset.lostTitle) + " (" + stageName + ")";
    reason.value = "";
    return new Promise(function (resolve) {
      function finish(value) {
        form.onsubmit = null;
        dialog.oncancel = null;
        document.getElementById("close-cancel").onclick = null;
        if (dialog.open) {
          dialog.close();
        }
        resolve(value);
      }
      form.onsubmit = function (event) {
        event.preventDefault();
        if (reason.value.trim()) {
          finish(reason.value.trim());
        } else {
          reason.focus();
        }
      };
      dialog.oncancel = function () {
        finish(null);
      };
      document.getElementById("close-cancel").onclick = function () {
        finish(null);
      };
      dialog.showModal();
      reason.focus();
    });
  }

  function onEnd(event) {
    const item = event.item;
    const target = event.to;
    if (target === event.from && event.oldIndex === event.newIndex) {
      return;
    }
    // Never below the "load more" row: the card goes where the user sees it.
    const more = target.querySelector(".load-more");
    if (more && more.compareDocumentPosition(item) & Node.DOCUMENT_POSITION_FOLLOWING) {
      target.insertBefore(item, more);
    }
    const outcome = target.dataset.outcome;
    if (target !== event.from && outcome !== "open") {
      askReason(outcome, target.dataset.stageName).then(function (reason) {
        if (reason === null) {
          event.from.insertBefore(item, event.from.children[event.oldIndex] || null);
        } else {
          postMove(item, reason);
        }
      });
    } else {
      postMove(item, "");
    }
  }

  htmx.onLoad(function (root) {
    root.querySelectorAll(".deals").forEach(function (list) {
      if (!Sortable.get(list)) {
        Sortable.create(list, {
          group: "pipeline",
          draggable: ".deal",
          filter: ".load-more",
          animation: 120,
          // Mouse and touch events rather than native drag and drop: the same on every browser.
          forceFallback: true,
          onEnd: onEnd,
        });
      }
    });
  });
})();
