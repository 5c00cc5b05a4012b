#!/usr/bin/env bash
# The web client's checks: a type check of web-client/ (tsc --checkJs) and the browser
# tests of tests/browser/ (a real headless Chromium against a real `passerelle demo`).
#
# Installs what is missing — Debian's Chromium, Node.js, the pinned npm packages — and
# does nothing more when everything is there. Never downloads a browser build of its own:
# Playwright drives Debian's /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=false
apt_install() {
  if [ "$apt_updated" = false ]; then
    as_root apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@"
}

# Chromium, from Debian.
if [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/bin/chromium ]; then
  echo "browser-tests: installing Debian's chromium"
  apt_install chromium
fi

# Node.js 20 or later (node --test with --test-concurrency).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "browser-tests: installing Debian's nodejs and npm"
  apt_install nodejs npm
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "browser-tests: Node.js $(node --version) is too old; version 20 or later is needed" >&2
  exit 1
fi

# The pinned npm packages; again whenever package-lock.json changed since the last install.
browser_dir="$root/tests/browser"
if [ ! -d "$browser_dir/node_modules" ] \
  || [ "$browser_dir/package-lock.json" -nt "$browser_dir/node_modules/.package-lock.json" ]; then
  echo "browser-tests: npm ci in tests/browser"
  (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The server binary the tests start.
cargo build --locked -p passerelle-server --bin passerelle
cargo build --locked -p passerelle-tests --bin passerelle-sdk-cli
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="$root/$target_dir" ;;
esac
export BROWSER_TESTS_SERVER_BIN="$target_dir/debug/passerelle"

echo "browser-tests: tsc --checkJs on web-client/"
"$browser_dir/node_modules/.bin/tsc" -p "$root/web-client/jsconfig.json"

cd "$browser_dir"
# One file at a time: each starts its own server and browser, and the machine has 2 cores.
node --test --test-concurrency=1 ./*.test.mjs
