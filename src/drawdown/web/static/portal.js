// The billing portal's one script of its own: every <time datetime="…Z"> is written in UTC by the
// server (readable without JavaScript) and shown here in the browser's time zone instead.
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
  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  document.addEventListener("htmx:afterSwap", function (e) { localize(e.target); });
})();
