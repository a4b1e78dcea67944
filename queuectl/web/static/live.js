// Live updates for queuectl's dashboard: one server-sent event stream per page.
// "swap" replaces a part of the page with HTML the server rendered (and escaped);
// "append" adds text to a running job's output, as text, never as markup.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-stream");
  var mark = document.getElementById("live-state");
  if (!url || !window.EventSource) return;
  var source = new EventSource(url);
  source.addEventListener("open", function () {
    document.body.setAttribute("data-live", "open");
    if (mark) mark.className = "live on";
  });
  source.addEventListener("error", function () {
    document.body.setAttribute("data-live", "retrying");
    if (mark) mark.className = "live";
  });
  source.addEventListener("swap", function (e) {
    var d = JSON.parse(e.data), el = document.getElementById(d.id);
    if (el) el.innerHTML = d.html;
  });
  source.addEventListener("append", function (e) {
    var d = JSON.parse(e.data), el = document.getElementById(d.id);
    if (el) el.appendChild(document.createTextNode(d.text));
  });
  source.addEventListener("end", function () {
    source.close();
    document.body.setAttribute("data-live", "ended");
  });
})();
