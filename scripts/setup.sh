#!/usr/bin/env bash
# Make this checkout runnable: npm packages, dist/, and a WebGPU adapter.
# Safe to run again; each step is skipped when already done.
# Also installs Fashion-MNIST (the default training data, read by the tests too) and
# Debian's chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

log() { echo "setup: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

apt_updated=0
apt_install() { # apt_install [-t suite] pkg...
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

is_bookworm() { [ -r /etc/os-release ] && grep -q 'VERSION_CODENAME=bookworm' /etc/os-release; }

# 1. npm packages and the build.
if [ ! -d node_modules/webgpu ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
fi
if [ ! -f dist/cli.js ] || [ -n "$(find src -newer dist/cli.js -name '*.ts' -print -quit 2>/dev/null)" ]; then
  log "building dist/"
  npx tsc -p tsconfig.json
fi

# The web page and the library's browser bundle (dist/web), served by `serve`.
if [ ! -f dist/web/index.html ] || [ -n "$(find src web -newer dist/web/index.html -type f -print -quit 2>/dev/null)" ]; then
  log "building dist/web"
  npx vite build -c web/vite.config.ts >/dev/null && WEB_BUILD=lib npx vite build -c web/vite.config.ts >/dev/null
fi

# 2. A WebGPU adapter: probe, and install lavapipe when there is none.
probe() { node dist/engine/probe.js >/dev/null 2>&1; }
if ! probe; then
  if command -v apt-get >/dev/null && is_bookworm; then
    log "no WebGPU adapter: installing Mesa lavapipe from bookworm-backports"
    src=/etc/apt/sources.list.d/bookworm-backports.sources
    if [ ! -f $src ]; then
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        | as_root tee $src >/dev/null || { log "cannot write $src: run this script as root"; exit 1; }
    fi
    apt_install -t bookworm-backports mesa-vulkan-drivers libvulkan1
  elif command -v apt-get >/dev/null; then
    log "no WebGPU adapter: installing Mesa's Vulkan drivers"
    apt_install mesa-vulkan-drivers libvulkan1
  fi
  if ! probe; then
    node dist/engine/probe.js || true
    log "still no WebGPU adapter. Install a Vulkan driver (a GPU's own, or Mesa >= 23 lavapipe:"
    log "  Debian bookworm: apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1)"
    exit 1
  fi
fi

# 3. Fashion-MNIST, the default data set.
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  log "installing dataset-fashion-mnist"
  apt_install dataset-fashion-mnist || log "dataset-fashion-mnist not available; its tests will be skipped"
fi
# 4. Chromium for the browser tests (driven by playwright-core; no browser download).
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
  log "installing chromium (browser tests)"
  apt_install chromium || log "chromium not available; the browser tests will be skipped (they fail under CI=true)"
fi
log "ready"
