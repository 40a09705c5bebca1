#!/usr/bin/env bash
# Set up and run the whole test suite (SQLite + ORM broker unless DATABASE_URL / REDIS_URL say otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
# Browser tests drive Debian's Chromium (never a Playwright download).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: install Debian's 'chromium' package (the browser tests need it)" >&2
  fi
fi
exec .venv/bin/python -m pytest "$@"
