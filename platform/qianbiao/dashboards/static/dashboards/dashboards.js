/* Qianbiao dashboards: draws each [data-chart] element from the JSON the page
   carries next to it (json_script). All numbers come from the server; this file
   only decides how they look. No framework, no build step. */
(function () {
  "use strict";

  var FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif';
  var charts = {};
  window.qbCharts = charts; // for the browser tests and for debugging

  function read(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  function base() {
    return {
      animation: false,
      textStyle: { fontFamily: FONT, fontSize: 14 },
      grid: { containLabel: true, left: 12, right: 32, top: 56, bottom: 12 },
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0, textStyle: { fontSize: 14 } },
    };
  }

  function percentLabel(value) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(1) + "%";
  }

  function trend(d) {
    var option = base();
    var series = d.series.map(function (s) {
      return { name: s.name, type: "line", data: s.data, showSymbol: false, lineStyle: { width: 3 } };
    });
    if (d.forecast) {
      series.push({
        name: d.forecastLabel, type: "line", data: d.forecast, showSymbol: true,
        lineStyle: { type: "dashed", width: 2 },
      });
    }
    if (d.target) {
      series[0].markLine = {
        symbol: "none", silent: true,
        lineStyle: { color: "#c0392b", width: 2 },
        label: { formatter: d.targetLabel + " {c}", position: "insideEndTop", fontSize: 14 },
        data: [{ yAxis: d.target }],
      };
    }
    option.xAxis = { type: "time", max: d.xMax };
    option.yAxis = {
      type: "value",
      max: function (v) { return Math.ceil(Math.max(v.max, d.target || 0) * 1.08); },
    };
    option.series = series;
    return option;
  }

  function lines(d) {
    var option = base();
    option.xAxis = { type: "time" };
    option.yAxis = {
      type: "value", name: d.yName,
      axisLabel: d.percent ? { formatter: "{value}%" } : {},
    };
    option.series = d.series.map(function (s) {
      var line = { name: s.name, type: "line", data: s.data, showSymbol: s.data.length < 40, connectNulls: false };
      if (d.stack) {
        line.stack = "total";
        line.areaStyle = { opacity: 0.35 };
      }
      return line;
    });
    return option;
  }

  function bars(d, el) {
    var option = base();
    el.style.height = Math.max(200, d.categories.length * (16 + 18 * d.series.length) + 100) + "px";
    option.tooltip = { trigger: "axis", axisPointer: { type: "shadow" } };
    option.grid.right = 72; // room for the value labels at the end of the longest bar
    option.yAxis = { type: "category", data: d.categories, inverse: true, axisLabel: { fontSize: 14 } };
    option.xAxis = { type: "value", axisLabel: d.percent ? { formatter: "{value}%" } : {} };
    if (d.marks && d.marks.length) {
      // Reach out to the next threshold, so that the line still to cross is on the chart.
      option.xAxis.max = function (v) {
        var next = d.marks.map(function (m) { return m.value; }).filter(function (x) { return x >= v.max; });
        return Math.ceil(Math.max(v.max, next.length ? Math.min.apply(null, next) : 0) * 1.05);
      };
    }
    option.series = d.series.map(function (s) {
      return {
        name: s.name, type: "bar", data: s.data,
        label: { show: true, position: "right", formatter: d.percent ? function (p) { return percentLabel(p.value); } : "{c}" },
      };
    });
    if (d.marks && d.marks.length) {
      option.series[0].markLine = {
        symbol: "none", silent: true, lineStyle: { color: "#c0392b", type: "dashed" },
        label: { formatter: "{b}", position: "end" },
        data: d.marks.map(function (m) { return { name: m.name, xAxis: m.value }; }),
      };
    }
    return option;
  }

  function colourOf(pieces, value) {
    if (value === null || value === undefined) return "#d9d9d9";
    for (var i = 0; i < pieces.length; i++) {
      var p = pieces[i];
      if ((p.gte === undefined || value >= p.gte) && (p.lt === undefined || value < p.lt)) return p.color;
    }
    return "#d9d9d9";
  }

  function map(d, chart) {
    return fetch(d.geoUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (geo) {
        echarts.registerMap("guizhou", geo);
        var inMap = {};
        geo.features.forEach(function (f) { inMap[f.properties.name] = true; });
        var byName = {};
        d.regions.forEach(function (r) { byName[r.name] = r; });
        var label = function (name) {
          var r = byName[name];
          return r ? r.short + "\n" + percentLabel(r.value) : name;
        };
        var tip = function (name) {
          var r = byName[name];
          if (!r) return name;
          return "<b>" + r.name + "</b><br>" + d.labels.attainment + ": " + percentLabel(r.value) +
            "<br>" + d.labels.headcount + ": " + r.headcount.toLocaleString() +
            "<br>" + d.labels.target + ": " + (r.target === null ? d.labels.noTarget : r.target.toLocaleString());
        };
        var points = d.regions.filter(function (r) { return !inMap[r.name] && r.coord; });
        chart.setOption({
          animation: false,
          textStyle: { fontFamily: FONT },
          tooltip: { trigger: "item", formatter: function (p) { return tip(p.name); } },
          visualMap: {
            type: "piecewise", pieces: d.pieces, seriesIndex: 0, left: 8, bottom: 8,
            showLabel: true, textStyle: { fontSize: 14 }, itemWidth: 22, itemHeight: 16,
          },
          series: [{
            type: "map", map: "guizhou", roam: false, selectedMode: false,
            layoutCenter: ["50%", "50%"], layoutSize: "95%",
            // A white halo keeps labels readable on every fill colour, also on a projector.
            label: {
              show: true, fontSize: 14, fontWeight: "bold", color: "#111",
              textBorderColor: "#fff", textBorderWidth: 3,
              formatter: function (p) { return label(p.name); },
            },
            emphasis: { label: { show: true }, itemStyle: { areaColor: "#4a90d9" } },
            itemStyle: { borderColor: "#fff", borderWidth: 1.5 },
            data: d.regions.filter(function (r) { return inMap[r.name]; }).map(function (r) {
              return { name: r.name, value: r.value === null ? NaN : r.value, url: r.url };
            }),
            markPoint: {
              symbol: "circle", symbolSize: 22,
              label: {
                show: true, position: "left", fontSize: 14, fontWeight: "bold", color: "#111",
                textBorderColor: "#fff", textBorderWidth: 3,
                formatter: function (p) { return label(p.name); },
              },
              data: points.map(function (r) {
                return {
                  name: r.name, coord: r.coord, url: r.url,
                  itemStyle: { color: colourOf(d.pieces, r.value), borderColor: "#333", borderWidth: 1 },
                };
              }),
            },
          }],
        });
        chart.on("click", function (p) {
          var r = byName[p.name];
          if (r && r.url) window.location.href = r.url;
        });
      });
  }

  function draw(el) {
    var d = read(el.dataset.chart);
    var chart = echarts.init(el, null, { renderer: "canvas" });
    charts[el.dataset.chart] = chart;
    if (d.type === "map") return map(d, chart);
    var option = d.type === "trend" ? trend(d) : d.type === "bars" ? bars(d, el) : lines(d);
    chart.resize();
    chart.setOption(option);
    return Promise.resolve();
  }

  // Folded tables (daily series, long lists) arrive when first opened.
  function foldedTables() {
    Array.prototype.forEach.call(document.querySelectorAll("details[data-fragment]"), function (details) {
      details.addEventListener("toggle", function () {
        if (!details.open || details.dataset.loaded) return;
        details.dataset.loaded = "loading";
        fetch(details.dataset.fragment, { credentials: "same-origin" })
          .then(function (r) {
            if (!r.ok) throw new Error("table " + details.dataset.for + ": " + r.status);
            return r.text();
          })
          .then(function (html) {
            details.querySelector(".fragment").innerHTML = html;
            details.dataset.loaded = "true";
          });
      });
    });
  }

  function start() {
    foldedTables();
    var pending = Array.prototype.map.call(document.querySelectorAll("[data-chart]"), draw);
    Promise.all(pending).then(
      function () { document.documentElement.dataset.chartsReady = "true"; },
      function (error) { document.documentElement.dataset.chartsReady = "error"; throw error; }
    );
    // A window can pass through a zero size (a full-page screenshot, a projector
    // switching modes); a map laid out in no space has no valid projection and
    // ECharts throws, so such moments are skipped and the next resize catches up.
    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (k) {
        var dom = charts[k].getDom();
        if (dom.clientWidth > 0 && dom.clientHeight > 0) charts[k].resize();
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
