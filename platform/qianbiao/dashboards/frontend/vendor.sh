#!/usr/bin/env bash
# Re-vendors the dashboards' front-end assets from the npm registry into
# ../static/dashboards/vendor/ (committed), so that running the platform never
# needs npm or a CDN. Run after changing package.json:  bash vendor.sh
#   echarts                       current ECharts, minified build
#   echarts-map-source            echarts@4.9.0 under an alias, only for its Guizhou
#                                 prefecture GeoJSON (registered with registerMap)
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
out=../static/dashboards/vendor
mkdir -p "$out"
cp node_modules/echarts/dist/echarts.min.js "$out/echarts.min.js"
cp node_modules/echarts/LICENSE "$out/LICENSE-echarts.txt"
cp node_modules/echarts-map-source/map/json/province/guizhou.json "$out/guizhou.json"
node -e '
const fs = require("fs");
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
const v = (p) => lock.packages["node_modules/" + p].version;
fs.writeFileSync(process.argv[1], JSON.stringify({
  "echarts.min.js": "echarts@" + v("echarts"),
  "guizhou.json": "echarts@" + v("echarts-map-source") + " map/json/province/guizhou.json",
}, null, 2) + "\n");
' "$out/VERSIONS.json"
echo "vendored into $out:" && ls -l "$out"
