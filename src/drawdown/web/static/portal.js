// The billing portal's one script of its own. Every <time datetime="…Z"> is written in UTC by the
// server (readable without JavaScript) and shown here in the browser's time zone instead. A form marked
// data-busy="Saving…" (its action calls Stripe, which can take seconds) shows that text on its disabled
// button once sent, so a slow action shows progress and cannot be sent twice.
(function () {
  "use strict";
  var dateTime = new Intl.DateTimeFormat(undefined, {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });
  function localize(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime()) || el.hasAttribute("data-local")) continue;
      el.title = el.textContent;
      el.textContent = dateTime.format(at);
      el.setAttribute("data-local", "");
    }
  }
  function progress(event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-busy")) return;
    var button = form.querySelector("button[type=submit]");
    if (!button) return;
    button.setAttribute("data-label", button.innerHTML);
    button.textContent = form.getAttribute("data-busy");
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
  }
  function restore() {  // back to a page kept by the browser's back/forward cache: usable again
    var buttons = document.querySelectorAll("button[data-label]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].innerHTML = buttons[i].getAttribute("data-label");
      buttons[i].removeAttribute("data-label");
      buttons[i].disabled = false;
      buttons[i].form && buttons[i].form.removeAttribute("aria-busy");
    }
  }
  document.addEventListener("submit", progress);
  window.addEventListener("pageshow", function (e) { if (e.persisted) restore(); });
  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  document.addEventListener("htmx:afterSwap", function (e) { localize(e.target); });
})();
