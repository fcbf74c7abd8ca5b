#!/usr/bin/env bash
# Fetch the JavaScript the static book loads, so that it renders with no internet:
#   _assets/widgets/1-require.js      RequireJS (the widget manager is an AMD module)
#   _assets/widgets/3-embed-amd.js    @jupyter-widgets/html-manager: renders saved widget state
#   _assets/mathjax/tex-mml-chtml.js  MathJax 3 (with its fonts and on-demand extensions)
# (_ext/static/widgets/2-offline.js, ours, goes between the two.) The numbers are the load
# order: nb_ipywidgets_js is a mapping, and a YAML dump that sorts keys must not reorder it.
# _config.yml points html_static_path, nb_ipywidgets_js and mathjax_path here. The folder is
# git-ignored and is not _static/ (Jupyter Book would add every .js in _static to every page).
# Packages come from the npm registry with `npm pack` (which checks their integrity), at the
# exact versions below; the html-manager 1.0.x line is the one that renders ipywidgets 8.
# Run again after changing a version; it does nothing when the folder is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
HTML_MANAGER=1.0.15
REQUIREJS=2.3.8
MATHJAX=3.2.2
DEST=_assets
want="html-manager=$HTML_MANAGER requirejs=$REQUIREJS mathjax=$MATHJAX layout=2"
if [ -f "$DEST/VERSIONS" ] && [ "$(cat "$DEST/VERSIONS")" = "$want" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  else
    echo "fetch_assets.sh: npm is needed to fetch the book's JavaScript (apt-get install npm)" >&2
    exit 1
  fi
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@jupyter-widgets/html-manager@$HTML_MANAGER" \
   "requirejs@$REQUIREJS" "mathjax@$MATHJAX" >/dev/null)
for pkg in html-manager requirejs mathjax; do
  mkdir -p "$tmp/$pkg"
  tar xzf "$tmp"/*"$pkg"-*.tgz -C "$tmp/$pkg"
done
new="$tmp/assets"
mkdir -p "$new/widgets" "$new/mathjax"
# the widget manager and the fonts its CSS refers to (no source maps, no non-AMD bundles)
find "$tmp/html-manager/package/dist" -maxdepth 1 -type f ! -name "*.map" ! -name "*.js" \
  -exec cp {} "$new/widgets/" \;
cp "$tmp/html-manager/package/dist/embed-amd.js" "$new/widgets/3-embed-amd.js"
cp "$tmp/html-manager/package/LICENSE" "$new/widgets/LICENSE.html-manager" 2>/dev/null || true
cp "$tmp/requirejs/package/require.js" "$new/widgets/1-require.js"
cp "$tmp/requirejs/package/LICENSE" "$new/widgets/LICENSE.requirejs" 2>/dev/null || true
# MathJax: the CommonHTML combined component and what it loads on demand (no SVG output)
cp -r "$tmp/mathjax/package/es5/." "$new/mathjax/"
rm -rf "$new/mathjax/output/svg" "$new/mathjax/output/svg.js" "$new/mathjax/node-main.js"
rm -f "$new/mathjax/"*svg*.js "$new/mathjax/"tex-chtml-full*.js
cp "$tmp/mathjax/package/LICENSE" "$new/mathjax/LICENSE"
echo "$want" > "$new/VERSIONS"
rm -rf "$DEST"
mv "$new" "$DEST"
echo "fetch_assets.sh: $want -> $DEST/ ($(du -sh "$DEST" | cut -f1))"
