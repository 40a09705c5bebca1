#!/usr/bin/env bash
# Copy the browser files of the pinned npm packages (package.json + package-lock.json) into
# static/vendor/. Installs with `npm ci --ignore-scripts` in a temporary directory, so the work
# tree never holds node_modules. Run it after changing a pinned version; commit static/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp package.json package-lock.json "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

# bpmn-js: the navigated viewer (UMD bundle exposing window.BpmnJS), its two style sheets and the
# license (which requires the bpmn.io watermark to stay visible). The viewer draws markers as SVG
# paths, so bpmn-font (used by the modeler's palette and context pad) is not needed.
src="$work/node_modules/bpmn-js"
dest="$root/static/vendor/bpmn-js"
rm -rf "$dest"
mkdir -p "$dest/assets"
cp "$src/dist/bpmn-navigated-viewer.production.min.js" "$dest/"
cp "$src/dist/assets/diagram-js.css" "$src/dist/assets/bpmn-js.css" "$dest/assets/"
cp "$src/LICENSE" "$dest/"
echo "static/vendor/bpmn-js: bpmn-js $(node -p "require('$src/package.json').version")"

# uPlot: the batch details page's live chart and the list's sparklines (static/cockpit/batch_chart.js).
src="$work/node_modules/uplot"
dest="$root/static/vendor/uplot"
rm -rf "$dest"
mkdir -p "$dest"
cp "$src/dist/uPlot.iife.min.js" "$src/dist/uPlot.min.css" "$src/LICENSE" "$dest/"
echo "uPlot $(node -p "require('$src/package.json').version") (MIT), from the npm registry; used by static/cockpit/batch_chart.js." > "$dest/README.md"
echo "static/vendor/uplot: uplot $(node -p "require('$src/package.json').version")"
