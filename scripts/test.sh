#!/usr/bin/env bash
# Set up and run the whole test suite (SQLite + ORM broker unless DATABASE_URL / REDIS_URL say otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
