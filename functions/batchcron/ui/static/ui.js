// Refresh the grid in place every few seconds (no full reload); the page works without this.
(function () {
  var grid = document.getElementById("grid");
  if (!grid || !window.fetch) return;
  var seconds = Number(grid.getAttribute("data-refresh-seconds")) || 10;
  // A copy whose table is the one shown replaces only what is around it (the summary's
  // "updated" time): thousands of squares are not laid out again, hover and focus stay.
  function update(html) {
    var copy = document.createElement("template");
    copy.innerHTML = html;
    var fresh = copy.content.getElementById("grid-table");
    var shown = document.getElementById("grid-table");
    if (!fresh || !shown || shown.parentNode !== grid || !fresh.isEqualNode(shown)) {
      grid.innerHTML = html;
      return;
    }
    while (grid.firstChild !== shown) grid.removeChild(grid.firstChild);
    while (shown.nextSibling) grid.removeChild(shown.nextSibling);
    copy.content.removeChild(fresh);
    grid.insertBefore(copy.content, shown);
  }
  setInterval(function () {
    if (document.hidden) return;
    fetch("/grid" + window.location.search, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) update(html); })
      .catch(function () {});
  }, seconds * 1000);
})();

// A run's page follows its run: every few seconds, until the run is terminal, its content is
// replaced with the page's newest copy (not while the cancel confirmation is asked).
(function () {
  var run = document.getElementById("run");
  if (!run || !window.fetch || !window.DOMParser) return;
  if (/(^|[?&])confirm=/.test(window.location.search)) return;
  var seconds = Number(run.getAttribute("data-refresh-seconds")) || 5;
  var timer = setInterval(function () {
    if (document.hidden) return;
    if (run.getAttribute("data-terminal") === "yes") { clearInterval(timer); return; }
    fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("run");
        if (!fresh) return;
        run.innerHTML = fresh.innerHTML;
        run.setAttribute("data-terminal", fresh.getAttribute("data-terminal") || "no");
      })
      .catch(function () {});
  }, seconds * 1000);
})();
