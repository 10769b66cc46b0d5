/* flowlineage lineage viewer: cytoscape.js + dagre over the JSON graph of render.formats.to_dict.
 * Reads <script type="application/json" id="fl-graph-data">: the graph plus its "palette" (run
 * colours by orchestrator, as the installed adapters declare them; see render/viewer.py). The
 * container #fl-graph may carry data-api="/api/lineage" (expand on demand) and data-link="1"
 * (links to entity pages). Every text from the store goes through textContent, never innerHTML. */
(function () {
  "use strict";
  var PALETTE = null;
  var MAX_LABEL = 32;

  function short(text) {
    text = String(text == null ? "" : text);
    return text.length <= MAX_LABEL ? text : "\u2026" + text.slice(text.length - MAX_LABEL + 1);
  }

  var INFO = {};

  function nodeElement(info) {
    INFO[info.id] = info;
    var fill, stroke;
    if (info.kind === "run") {
      var c = PALETTE.runs[info.orchestrator] || PALETTE.default_run;
      fill = c[0]; stroke = PALETTE.status[info.status] || c[1];
    } else {
      var k = info.kind === "collection" ? PALETTE.collection : PALETTE.artifact;
      fill = k[0]; stroke = k[1];
    }
    return { group: "nodes", data: { id: info.id, label: short(info.label), kind: info.kind,
      fill: fill, stroke: stroke } };
  }

  function edgeElement(e) {
    return { group: "edges", data: { id: e.source + ">" + e.target + ":" + e.kind,
      source: e.source, target: e.target, kind: e.kind } };
  }

  function elementsOf(graph, cy) {
    var out = [], seen = {};
    graph.nodes.forEach(function (n) {
      if (!seen[n.id] && !(cy && cy.getElementById(n.id).nonempty())) {
        seen[n.id] = true; out.push(nodeElement(n));
      }
    });
    graph.edges.forEach(function (e) {
      var el = edgeElement(e);
      var known = function (id) { return seen[id] || (cy && cy.getElementById(id).nonempty()); };
      if (known(e.source) && known(e.target) && !(cy && cy.getElementById(el.data.id).nonempty())) {
        out.push(el);
      }
    });
    return out;
  }

  function style(big) {
    return [
      { selector: "node", style: {
        "shape": "round-rectangle", "background-color": "data(fill)", "border-color": "data(stroke)",
        "border-width": 1.5, "label": "data(label)", "font-size": 11, "color": "#0f172a",
        "text-valign": "center", "text-halign": "center", "width": 190, "height": 34,
        "font-family": "Helvetica, Arial, sans-serif", "min-zoomed-font-size": big ? 6 : 0 } },
      { selector: "node[kind = 'artifact']", style: { "shape": "ellipse" } },
      { selector: "node[kind = 'collection']", style: { "shape": "hexagon" } },
      { selector: "node.start", style: { "border-width": 4 } },
      { selector: "node:selected", style: { "overlay-color": "#0ea5e9", "overlay-opacity": 0.25 } },
      { selector: "node.path-end", style: { "border-color": "#db2777", "border-width": 4 } },
      { selector: "node.match", style: { "background-color": "#fde047" } },
      { selector: "edge", style: {
        "width": 1.3, "line-color": "#64748b", "target-arrow-color": "#64748b",
        "target-arrow-shape": "triangle", "curve-style": big ? "haystack" : "bezier",
        "arrow-scale": 0.8 } },
      { selector: "edge[kind = 'initiated']", style: { "line-style": "dashed",
        "line-color": "#94a3b8", "target-arrow-color": "#94a3b8" } },
      { selector: ".path", style: { "line-color": "#db2777", "target-arrow-color": "#db2777",
        "border-color": "#db2777", "width": 3, "border-width": 3, "z-index": 10 } },
      { selector: ".faded", style: { "opacity": 0.25 } }
    ];
  }

  var BIG_LAYOUT = 1000;

  function layoutOptions(n) {
    if (n > BIG_LAYOUT) {  // dagre's crossing minimisation is too slow for a quick first view
      return { name: "breadthfirst", directed: true, spacingFactor: 0.9, animate: false,
        fit: true, padding: 20, avoidOverlap: false,
        transform: function (node, p) { return { x: p.y * 2.2, y: p.x / 2.2 }; } };
    }
    return { name: "dagre", rankDir: "LR", nodeSep: n > 500 ? 8 : 16, rankSep: n > 500 ? 50 : 70,
      ranker: n > 500 ? "longest-path" : "network-simplex",
      edgeSep: 6, animate: false, fit: true, padding: 20 };
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text != null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function start() {
    var box = document.getElementById("fl-graph");
    var dataTag = document.getElementById("fl-graph-data");
    if (!box || !dataTag || typeof cytoscape === "undefined") return;
    var graph = JSON.parse(dataTag.textContent);
    PALETTE = graph.palette;
    var api = box.getAttribute("data-api");
    var linkPrefix = box.getAttribute("data-link");  // null: no entity pages to link to
    var details = document.getElementById("fl-details");
    var status = document.getElementById("fl-graph-status");
    var t0 = performance.now();
    var n = graph.nodes.length;
    var big = n > 500;
    if (typeof cytoscapeDagre !== "undefined" && !cytoscape.__flDagre) {
      cytoscape.use(cytoscapeDagre); cytoscape.__flDagre = true;
    }
    var cy = cytoscape({
      container: box, elements: [], style: style(big),
      layout: { name: "preset" }, minZoom: 0.02, maxZoom: 4,
      textureOnViewport: big, hideEdgesOnViewport: big, pixelRatio: big ? 1 : "auto",
      boxSelectionEnabled: false
    });
    cy.startBatch();
    cy.add(elementsOf(graph, null));
    cy.endBatch();
    var tInit = performance.now() - t0;
    var startId = graph.start.kind + ":" + graph.start.id;
    cy.getElementById(startId).addClass("start");
    var pathStart = null;

    function say(text) { if (status) status.textContent = text; }

    function relayout(done) {
      var layout = cy.layout(layoutOptions(cy.nodes().length));
      layout.one("layoutstop", function () { if (done) done(); });
      layout.run();
    }

    function showDetails(node) {
      if (!details) return;
      var info = INFO[node.id()];
      details.replaceChildren();
      details.appendChild(el("h3", info.kind + " " + info.label));
      var dl = el("dl");
      Object.keys(info).forEach(function (k) {
        if (k === "id" || info[k] === null || info[k] === undefined) return;
        dl.appendChild(el("dt", k)); dl.appendChild(el("dd", info[k]));
      });
      details.appendChild(dl);
      var actions = el("div", null, "fl-actions");
      if (linkPrefix !== null && info.uid) {
        var a = el("a", "open " + info.kind + " page");
        a.href = linkPrefix + "/" + info.kind + "s/" + encodeURIComponent(info.uid);
        actions.appendChild(a);
      }
      if (api && info.uid) {
        [["up", "expand upstream"], ["down", "expand downstream"]].forEach(function (d) {
          var b = el("button", d[1]);
          b.type = "button";
          b.setAttribute("data-expand", d[0]);
          b.addEventListener("click", function () { expand(info, d[0]); });
          actions.appendChild(b);
        });
      }
      var p = el("button", pathStart ? "highlight path to here" : "path from here");
      p.type = "button";
      p.addEventListener("click", function () {
        if (!pathStart || pathStart === node.id()) {
          clearPath(); pathStart = node.id(); node.addClass("path-end");
          say("path start: " + info.label + " \u2014 now click another node");
        } else { highlightPath(pathStart, node.id()); }
      });
      actions.appendChild(p);
      details.appendChild(actions);
    }

    function clearPath() {
      cy.elements().removeClass("path faded path-end"); pathStart = null;
    }

    function highlightPath(from, to) {
      var root = cy.getElementById(from), goal = cy.getElementById(to);
      var found = cy.elements().aStar({ root: root, goal: goal, directed: true });
      if (!found.found) found = cy.elements().aStar({ root: goal, goal: root, directed: true });
      if (!found.found) found = cy.elements().aStar({ root: root, goal: goal, directed: false });
      cy.elements().removeClass("path faded");
      if (!found.found) { say("no path between the two nodes"); return; }
      cy.elements().addClass("faded");
      found.path.removeClass("faded").addClass("path");
      root.addClass("path-end"); goal.addClass("path-end");
      say("path of " + (found.path.edges().length) + " edge(s) highlighted");
      pathStart = null;
    }

    function expand(info, direction) {
      var url = api + "/" + info.kind + "/" + encodeURIComponent(info.uid) +
        "?direction=" + direction + "&depth=1";
      say("loading " + direction + "stream of " + info.label + "\u2026");
      fetch(url, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }).then(function (more) {
        var added = cy.add(elementsOf(more, cy));
        relayout(function () {
          say(added.nodes().length + " node(s) added; " + cy.nodes().length + " in all");
        });
      }).catch(function (e) { say("could not expand: " + e.message); });
    }

    cy.on("tap", "node", function (evt) {
      var node = evt.target;
      if (pathStart && pathStart !== node.id()) { highlightPath(pathStart, node.id()); }
      showDetails(node);
    });

    var search = document.getElementById("fl-graph-search");
    if (search) {
      search.addEventListener("input", function () {
        var q = search.value.toLowerCase();
        cy.nodes().removeClass("match");
        if (!q) return;
        var hits = cy.nodes().filter(function (nd) {
          return String(INFO[nd.id()].label).toLowerCase().indexOf(q) >= 0;
        });
        hits.addClass("match");
        say(hits.length + " match(es)");
      });
    }
    var fit = document.getElementById("fl-graph-fit");
    if (fit) fit.addEventListener("click", function () { cy.fit(undefined, 20); });
    var clear = document.getElementById("fl-graph-clear");
    if (clear) clear.addEventListener("click", function () { clearPath(); say(""); });

    relayout(function () {
      requestAnimationFrame(function () {
        var ms = performance.now() - t0;
        window.flGraph = { cy: cy, info: function (id) { return INFO[id]; }, ready: true, startMs: t0, initMs: tInit, layoutMs: ms, firstRenderMs: performance.now() };
        box.setAttribute("data-ready", "1");
        say(cy.nodes().length + " node(s), " + cy.edges().length + " edge(s)" +
          (graph.truncated ? " (truncated: the nearest nodes only)" : ""));
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
