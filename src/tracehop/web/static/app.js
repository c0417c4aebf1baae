// tracehop dashboard: countdowns to deadlines (elements with data-due="ISO 8601").
(function () {
  function left(due) {
    var ms = Date.parse(due) - Date.now();
    var over = ms < 0, m = Math.floor(Math.abs(ms) / 60000);
    var d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), mm = m % 60;
    var text = (d ? d + "d " : "") + h + "h " + (mm < 10 ? "0" : "") + mm + "m";
    return { text: over ? "overdue by " + text : text + " left", over: over, soon: !over && ms < 6 * 3600000 };
  }
  function tick() {
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var r = left(el.getAttribute("data-due"));
      el.textContent = r.text;
      el.classList.toggle("overdue", r.over);
      el.classList.toggle("soon", r.soon);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 30000); });
})();
