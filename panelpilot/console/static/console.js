/* panelpilot console: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function setBusy(button, busy) {
    if (!button) return;
    if (busy) {
      button.dataset.label = button.textContent;
      if (button.dataset.busy) button.textContent = button.dataset.busy;
      button.setAttribute("aria-busy", "true");
      button.disabled = true;
    } else {
      if (button.dataset.label) button.textContent = button.dataset.label;
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
  }

  // Forms with data-swap post in the background and replace one element with the answer
  // (the server sends only that piece when it sees X-Console-Partial). Anything unexpected
  // falls back to a normal submit, which shows the full page or error.
  function swap(form, selector, button) {
    var target = document.querySelector(selector);
    if (!target || !window.fetch) { form.submit(); return; }
    setBusy(button, true);
    fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "X-Console-Partial": "1" }
    }).then(function (response) {
      var type = response.headers.get("content-type") || "";
      if (!response.ok || response.redirected || type.indexOf("text/html") !== 0) {
        throw new Error("full page needed");
      }
      return response.text();
    }).then(function (text) {
      target.outerHTML = text;
      setBusy(button, false);
    }).catch(function () {
      form.removeAttribute("data-swap");
      form.submit();
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    var button = event.submitter || form.querySelector("[type=submit]");
    var selector = form.getAttribute("data-swap");
    if (selector) {
      event.preventDefault();
      swap(form, selector, button);
      return;
    }
    // A second click would send the form twice (two channels, two tokens).
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    if (button && button.dataset.busy) {
      window.setTimeout(function () { setBusy(button, true); }, 0);
    }
  });

  // A page restored from the back/forward cache must accept its forms again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sent]").forEach(function (form) {
      delete form.dataset.sent;
    });
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    var copy = target.closest && target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy"));
      if (!source) return;
      var text = source.textContent;
      var done = function () {
        var before = copy.textContent;
        copy.textContent = "Copied";
        window.setTimeout(function () { copy.textContent = before; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { select(source); });
      } else {
        select(source);
      }
      return;
    }
    var close = target.closest && target.closest(".flash-close");
    if (close) {
      close.parentNode.remove();
      return;
    }
    // Close open menus when clicking elsewhere.
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(target)) menu.removeAttribute("open");
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      document.querySelectorAll("details.menu[open]").forEach(function (menu) {
        menu.removeAttribute("open");
        var summary = menu.querySelector("summary");
        if (summary) summary.focus();
      });
    }
  });

  function select(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
})();
