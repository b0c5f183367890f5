/* panelpilot console: live previews. A field with data-preview="URL" posts its form to URL
   (with X-Console-Partial) a moment after the person stops typing, and the answer replaces the
   element named by data-preview-target. Without this file the form's Preview button does the
   same with a full page. */
(function () {
  "use strict";
  var timers = new WeakMap();
  var latest = new WeakMap();

  function refresh(field) {
    var form = field.form;
    var selector = field.getAttribute("data-preview-target");
    if (!form || !selector || !window.fetch || !document.querySelector(selector)) return;
    var sequence = (latest.get(field) || 0) + 1;
    latest.set(field, sequence);
    fetch(field.getAttribute("data-preview"), {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "X-Console-Partial": "1" }
    }).then(function (response) {
      var type = response.headers.get("content-type") || "";
      if (!response.ok || type.indexOf("text/html") !== 0) throw new Error("no preview");
      return response.text();
    }).then(function (text) {
      // An older answer that arrives after a newer one must not win.
      if (latest.get(field) !== sequence) return;
      var target = document.querySelector(selector);
      if (target) target.outerHTML = text;
    }).catch(function () { /* the Preview button still works */ });
  }

  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.matches || !field.matches("[data-preview]")) return;
    window.clearTimeout(timers.get(field));
    timers.set(field, window.setTimeout(function () { refresh(field); }, 250));
  });
})();
