#!/usr/bin/env bash
# Installs the system services rwa's tests run against (Debian/Ubuntu, as root or with sudo):
# Prosody (XMPP server) and Chromium (browser tests). PostgreSQL tests use a local server if one
# is installed (postgresql package). Safe to run again.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends prosody chromium
# Tests start their own Prosody from a temporary config; the packaged service is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prosody 2>/dev/null; then
  $SUDO systemctl stop prosody || true
fi
