#!/usr/bin/env bash
# Installs headless Chromium from Debian's packages for the browser tests
# (e2e/browser_test.go). Skips when /usr/bin/chromium is already there.
# Runs non-interactively; needs root (as CI has) or passwordless sudo.
# Prints the browser's path on the last line of stdout; progress goes to stderr.
set -euo pipefail

bin=/usr/bin/chromium
log() { echo "install-chromium: $*" >&2; }

if [ -x "$bin" ]; then
  log "present: $("$bin" --version 2>/dev/null || echo "$bin")"
  echo "$bin"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || {
    log "not root and no sudo: install Debian's chromium package by hand"
    exit 1
  }
  sudo="sudo -n"
fi
command -v apt-get >/dev/null || {
  log "no apt-get: install Chromium so that $bin exists, then run again"
  exit 1
}

log "installing Debian's chromium package (apt-get; a few minutes)"
export DEBIAN_FRONTEND=noninteractive
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >&2
[ -x "$bin" ] || {
  log "the chromium package did not install $bin"
  exit 1
}
log "installed: $("$bin" --version 2>/dev/null || echo "$bin")"
echo "$bin"
