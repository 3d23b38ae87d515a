#!/usr/bin/env bash
# Rebuilds the third-party browser files in web/static/vendor/ from the npm registry, at the
# versions fixed by web/package-lock.json, and checks them against web/static/vendor/SHA256SUMS.
#
#   web/vendor.sh --check    install into an ignored folder, and fail on any difference between
#                            what the registry gives, the committed files and SHA256SUMS (default)
#   web/vendor.sh --update   install, copy the files into web/static/vendor/ and rewrite SHA256SUMS
#
# Needs node and npm; the Rust build and the tests never run this (the files are committed and
# embedded in the binary).
set -euo pipefail

mode="${1:---check}"
case "$mode" in
  --check | --update) ;;
  -h | --help)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: web/vendor.sh [--check | --update]" >&2
    exit 2
    ;;
esac

web="$(cd "$(dirname "$0")" && pwd)"
vendor="$web/static/vendor"
build="$web/.vendor-build"

command -v npm >/dev/null || { echo "vendor.sh: npm is required" >&2; exit 2; }

# A clean install of exactly the locked versions, without install scripts.
rm -rf "$build"
mkdir -p "$build/out"
cp "$web/package.json" "$web/package-lock.json" "$web/.npmrc" "$build/"
(cd "$build" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
modules="$build/node_modules"

# Each served file, and the license of the library it comes from, next to it.
copy() { install -m 0644 "$modules/$1" "$build/out/$2"; }
copy react/umd/react.production.min.js react.production.min.js
copy react/LICENSE react.LICENSE.txt
copy react-dom/umd/react-dom.production.min.js react-dom.production.min.js
copy react-dom/LICENSE react-dom.LICENSE.txt
copy graphiql/graphiql.min.js graphiql.min.js
copy graphiql/graphiql.min.css graphiql.min.css
copy graphiql/LICENSE graphiql.LICENSE.txt
copy chart.js/dist/chart.umd.js chart.umd.js
copy chart.js/LICENSE.md chart.js.LICENSE.txt

# The bundles include code of the other packages installed (graphiql.min.js bundles graphql,
# CodeMirror, markdown-it and more; chart.umd.js bundles @kurkle/color): their notices, in one file.
(cd "$build" && node - > "$build/out/bundled-packages.LICENSES.txt") <<'NODE'
const fs = require("fs");
const path = require("path");
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
const own = new Set(["react", "react-dom", "graphiql", "chart.js"]);
const lines = [
  "Licenses of the packages bundled into the files of this folder, as installed from",
  "web/package-lock.json (the libraries' own licenses are in the *.LICENSE.txt files).",
  "",
];
for (const key of Object.keys(lock.packages).filter((k) => k.startsWith("node_modules/")).sort()) {
  const name = key.slice("node_modules/".length);
  if (own.has(name)) continue;
  const entry = lock.packages[key];
  const dir = path.join(process.cwd(), key);
  const files = fs.existsSync(dir)
    ? fs.readdirSync(dir).filter((f) => /^(licen[cs]e|copying|notice)/i.test(f)).sort()
    : [];
  lines.push("=".repeat(78), `${name}@${entry.version} (${entry.license || "license not stated"})`, "");
  if (files.length === 0) {
    lines.push("(no license file in the package)", "");
  }
  for (const file of files) {
    lines.push(fs.readFileSync(path.join(dir, file), "utf8").trimEnd(), "");
  }
}
process.stdout.write(lines.join("\n") + "\n");
NODE

sums() { (cd "$1" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort | xargs sha256sum); }

if [ "$mode" = --update ]; then
  mkdir -p "$vendor"
  find "$vendor" -maxdepth 1 -type f -delete
  cp "$build"/out/* "$vendor/"
  sums "$vendor" > "$vendor/SHA256SUMS"
  rm -rf "$build"
  echo "vendor.sh: updated web/static/vendor/ and its SHA256SUMS:"
  cat "$vendor/SHA256SUMS"
  exit 0
fi

status=0
if ! diff -u "$vendor/SHA256SUMS" <(sums "$build/out") --label committed-SHA256SUMS --label from-the-registry; then
  echo "vendor.sh: the registry's files differ from web/static/vendor/SHA256SUMS" >&2
  status=1
fi
if ! diff -u "$vendor/SHA256SUMS" <(sums "$vendor") --label committed-SHA256SUMS --label committed-files; then
  echo "vendor.sh: the files in web/static/vendor/ differ from its SHA256SUMS" >&2
  status=1
fi
rm -rf "$build"
if [ "$status" -eq 0 ]; then
  echo "vendor.sh: web/static/vendor/ matches SHA256SUMS and the locked packages"
fi
exit "$status"
