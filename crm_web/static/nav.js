// Every signed-in page: the menu toggle on small screens, the global search box (`/` to focus,
// arrows and Enter to pick a result, Escape to close) and the copy buttons. Delegated from the
// document, so it works for whatever htmx swaps in; no inline script (the CSP allows none).
(function () {
  "use strict";

  function searchBox() {
    return document.getElementById("global-search");
  }

  function results() {
    return document.getElementById("search-results");
  }

  function options() {
    var list = results();
    return list ? Array.prototype.slice.call(list.querySelectorAll("[role=option]")) : [];
  }

  function activeOption() {
    var list = results();
    return list ? list.querySelector("[role=option].active") : null;
  }

  function setActive(option) {
    var box = searchBox();
    options().forEach(function (each) {
      each.classList.toggle("active", each === option);
      each.setAttribute("aria-selected", each === option ? "true" : "false");
    });
    if (option) {
      box.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      box.removeAttribute("aria-activedescendant");
    }
  }

  function showResults(show) {
    var list = results();
    var box = searchBox();
    if (!list || !box) return;
    // On the search page the results stay where they are, below the box.
    var inPage = box.closest(".in-page") !== null;
    var open = (show || inPage) && box.value.trim() !== "" && list.childElementCount > 0;
    list.hidden = !open;
    box.setAttribute("aria-expanded", open ? "true" : "false");
    if (!open) setActive(null);
  }

  function move(step) {
    var all = options();
    if (!all.length) return;
    showResults(true);
    var index = all.indexOf(activeOption());
    var next = index < 0 ? (step > 0 ? 0 : all.length - 1) : (index + step + all.length) % all.length;
    setActive(all[next]);
  }

  function typing(target) {
    return target.closest && target.closest("input, select, textarea, [contenteditable]");
  }

  document.addEventListener("keydown", function (event) {
    var box = searchBox();
    if (!box) return;
    if (event.target === box) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        move(event.key === "ArrowDown" ? 1 : -1);
      } else if (event.key === "Enter" && activeOption()) {
        event.preventDefault();
        window.location.assign(activeOption().href);
      } else if (event.key === "Escape") {
        if (!results().hidden) {
          event.preventDefault();
          showResults(false);
        } else {
          box.blur();
        }
      }
      return;
    }
    if (event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !typing(event.target)) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });

  // The results were swapped in: show them, nothing picked yet.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target.id === "search-results" || event.target === searchBox()) {
      showResults(document.activeElement === searchBox());
    }
  });

  document.addEventListener("focusin", function (event) {
    var box = searchBox();
    if (event.target === box) {
      showResults(true);
    } else if (box && !event.target.closest(".global-search")) {
      showResults(false);
    }
  });

  document.addEventListener("click", function (event) {
    if (!event.target.closest(".global-search")) showResults(false);

    var toggle = event.target.closest(".menu-toggle");
    if (toggle) {
      var menu = document.getElementById(toggle.getAttribute("aria-controls"));
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("open", open);
    }

    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.dataset.copy);
      var status = document.querySelector(".copy-status");
      var done = function () {
        if (status) status.textContent = copy.dataset.copied;
        copy.classList.add("copied");
        window.setTimeout(function () {
          copy.classList.remove("copied");
        }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(done, function () {
          source.select();
        });
      } else {
        // Over plain HTTP the clipboard API is missing: select the text for Ctrl+C.
        source.focus();
        source.select();
      }
    }
  });
})();
