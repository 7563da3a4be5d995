(function () {
  var head = document.body.getAttribute("data-head");
  if (document.body.hasAttribute("data-live")) {
    // Only a page someone can see asks; a hidden tab catches up when shown.
    var poll = function () {
      if (document.visibilityState !== "visible") { return; }
      fetch("/api/head", {credentials: "same-origin"}).then(function (r) { return r.json(); })
        .then(function (h) { if (String(h.seq) !== head) { location.reload(); } })
        .catch(function () {});
    };
    setInterval(poll, 2000);
    document.addEventListener("visibilitychange", poll);
  }
  document.querySelectorAll("[data-href]").forEach(function (n) {
    n.addEventListener("click", function () { location.href = n.getAttribute("data-href"); });
  });
  var view = document.querySelector(".graph-view");
  var svg = view && view.querySelector("svg");
  if (svg) { pannable(view, svg); }

  // The Evidence Graph: drag to pan, wheel / buttons / keys to zoom. The SVG
  // is drawn at one unit per pixel, so scale 1 is labels at body size.
  function pannable(view, svg) {
    var W = parseFloat(svg.getAttribute("width")), H = parseFloat(svg.getAttribute("height"));
    var key = "vl-graph" + location.search;
    var pins = svg.querySelectorAll(".pin");
    var v = {x: 0, y: 0, s: 1};
    try { v = JSON.parse(sessionStorage.getItem(key)) || v; } catch (e) {}
    var apply = function () {
      var w = view.clientWidth, h = view.clientHeight;
      svg.setAttribute("width", w);
      svg.setAttribute("height", h);
      svg.setAttribute("viewBox", [v.x, v.y, w / v.s, h / v.s].join(" "));
      view.setAttribute("data-scale", v.s.toFixed(3));
      // Lane heads stay at the left edge however far the lanes pan.
      pins.forEach(function (p) { p.setAttribute("transform", "translate(" + Math.max(0, v.x) + " 0)"); });
      try { sessionStorage.setItem(key, JSON.stringify(v)); } catch (e) {}
    };
    // Zooms by `factor` keeping the point (cx, cy) of the view still.
    var zoomAt = function (factor, cx, cy) {
      var s = Math.min(4, Math.max(0.05, v.s * factor));
      v.x += cx / v.s - cx / s;
      v.y += cy / v.s - cy / s;
      v.s = s;
      apply();
    };
    var centre = function () { return [view.clientWidth / 2, view.clientHeight / 2]; };
    var actions = {
      "in": function () { var c = centre(); zoomAt(1.25, c[0], c[1]); },
      "out": function () { var c = centre(); zoomAt(0.8, c[0], c[1]); },
      "fit": function () { v = {x: 0, y: 0, s: Math.min(1, view.clientWidth / W, view.clientHeight / H)}; apply(); },
      "reset": function () { v = {x: 0, y: 0, s: 1}; apply(); }
    };
    view.classList.add("pannable");
    view.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = view.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
    }, {passive: false});
    var drag = null, moved = false;
    view.addEventListener("pointerdown", function (e) {
      drag = {x: e.clientX, y: e.clientY, vx: v.x, vy: v.y};
      moved = false;
    });
    window.addEventListener("pointermove", function (e) {
      if (!drag) { return; }
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!moved && Math.abs(dx) + Math.abs(dy) > 4) { moved = true; view.classList.add("dragging"); }
      if (moved) { v.x = drag.vx - dx / v.s; v.y = drag.vy - dy / v.s; apply(); }
    });
    window.addEventListener("pointerup", function () { drag = null; view.classList.remove("dragging"); });
    // A drag that ends on a node pans; it does not open the node.
    view.addEventListener("click", function (e) { if (moved) { e.preventDefault(); moved = false; } }, true);
    view.addEventListener("dragstart", function (e) { e.preventDefault(); });
    view.addEventListener("keydown", function (e) {
      var step = 80 / v.s, k = e.key;
      if (k === "+" || k === "=") { actions["in"](); }
      else if (k === "-") { actions["out"](); }
      else if (k === "0") { actions["reset"](); }
      else if (k === "ArrowLeft") { v.x -= step; apply(); }
      else if (k === "ArrowRight") { v.x += step; apply(); }
      else if (k === "ArrowUp") { v.y -= step; apply(); }
      else if (k === "ArrowDown") { v.y += step; apply(); }
      else { return; }
      e.preventDefault();
    });
    document.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () { actions[b.getAttribute("data-zoom")](); });
    });
    window.addEventListener("resize", apply);
    // An opened evaluation off screen is brought into view (at 1:1).
    var open = svg.querySelector(".node.open .box");
    if (open && !sessionStorage.getItem(key)) {
      var x = parseFloat(open.getAttribute("x"));
      if (x + 200 > view.clientWidth) { v.x = x - view.clientWidth / 2; }
    }
    apply();
  }
})();
