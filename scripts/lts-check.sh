#!/usr/bin/env bash
# Earshot on the Node.js LTS (scripts/lts-node.sh's version), beside whatever node the machine has: a clean
# `npm ci` of this checkout in a scratch folder under the LTS (native addons built for its ABI, the project
# built), every native module loaded and used (scripts/native-check.mjs), and `earshot analyze` of the bundled
# call giving the same call index as the machine's node gives from this checkout. CI runs it (.ci/run) after the
# machine's own `npm ci`; a few minutes, most of it compiling better-sqlite3 for the LTS.
#   scripts/lts-check.sh                      # EARSHOT_LTS_NODE=22.23.5 scripts/lts-check.sh for another one
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
say() { echo "lts-check: $*"; }
die() { echo "lts-check: FAILED: $*"; exit 1; }

node_dir="$(bash "$repo/scripts/lts-node.sh")"
lts="$("$node_dir/bin/node" --version)"
say "Node $lts from $node_dir (the machine's: $(node --version)), npm $(npm --version)"
work="$(mktemp -d /tmp/earshot-lts.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# The checkout as it is (tracked files and untracked ones that are not ignored), without node_modules or dist.
(cd "$repo" && git ls-files -co --exclude-standard -z | grep -zvE '^\.cache(/|$)' |
  tar -cf - --null --no-recursion --ignore-failed-read -T - 2>/dev/null) | tar -xf - -C "$work"

t=$SECONDS
# npm itself runs on the LTS too (its #! is `env node`); node-gyp builds against the LTS's own headers.
# --prefer-offline: the tarballs the machine's npm ci just fetched are taken from npm's cache, not fetched again.
(cd "$work" && PATH="$node_dir/bin:$PATH" npm_config_nodedir="$node_dir" npm ci --prefer-offline --no-audit --no-fund) > "$work/npm-ci.log" 2>&1 ||
  { tail -40 "$work/npm-ci.log"; die "npm ci under $lts"; }
say "npm ci under $lts: $((SECONDS - t)) s"
# The warnings this project has removed must not come back (others, e.g. an upstream deprecation, are shown).
grep -E '^npm (warn|error)' "$work/npm-ci.log" || say "npm ci printed no warnings"
if grep -E 'Unknown (project|user|global) config|EBADENGINE|not yet covered by allowScripts' "$work/npm-ci.log" > /dev/null; then
  die "npm ci under $lts printed a warning the project can prevent (above)"
fi

PATH="$node_dir/bin:$PATH" node "$work/scripts/native-check.mjs" || die "a native module does not load under $lts"

models="${EARSHOT_MODELS:-$repo/../shared/models}"
[ -d "$models" ] || models=/var/lib/earshot/models
(cd "$work" && "$node_dir/bin/node" dist/edge/cli.js analyze demo/demo-call.wav --models "$models" --out "$work/lts.json" > "$work/lts.txt") ||
  die "earshot analyze demo/demo-call.wav under $lts"
(cd "$repo" && node dist/edge/cli.js analyze demo/demo-call.wav --models "$models" --out "$work/machine.json" > /dev/null) ||
  die "earshot analyze demo/demo-call.wav under the machine's $(node --version)"
grep -E '^  (alerts|speech|watched)' "$work/lts.txt" | sed 's/^/  /'
node -e '
  const [a, b] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
  // What a call index says, not when or where it was made.
  const strip = (x) => JSON.stringify(x, (k, v) => (["callId", "source", "analyzedAt", "createdAt", "generatedAt"].includes(k) ? undefined : v));
  if (strip(a) !== strip(b)) {
    const ka = Object.keys(a).filter((k) => strip(a[k]) !== strip(b[k]));
    console.error(`the call index differs in: ${ka.join(", ")}`);
    process.exit(1);
  }
' "$work/lts.json" "$work/machine.json" || die "the call index under $lts differs from the machine node's"
say "passed: $lts installs warning-free, loads every native module, and indexes the bundled call exactly as $(node --version) does"
