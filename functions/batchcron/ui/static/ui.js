// Refresh the grid in place every few seconds (no full reload); the page works without this.
(function () {
  var grid = document.getElementById("grid");
  if (!grid || !window.fetch) return;
  var seconds = Number(grid.getAttribute("data-refresh-seconds")) || 10;
  setInterval(function () {
    if (document.hidden) return;
    fetch("/grid" + window.location.search, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) grid.innerHTML = html; })
      .catch(function () {});
  }, seconds * 1000);
})();
