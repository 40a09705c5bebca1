#!/usr/bin/env bash
# Create .venv with the Python pinned in .python-version and install requirements.lock into it.
# Re-installs only when requirements.lock changed. Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."
want="$(tr -d '[:space:]' < .python-version)"

find_python() {
  local candidate
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want"*/bin/python "$(command -v "python$want" || true)"; do
    if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  if command -v python3 >/dev/null && python3 -c "import sys; sys.exit(0 if sys.version.startswith('$want') else 1)"; then
    command -v python3; return 0
  fi
  return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import sys; sys.exit(0 if sys.version.startswith('$want') else 1)"; then
  python="$(find_python)" || { echo "Python $want not found (install it, e.g. 'pyenv install $want')" >&2; exit 1; }
  rm -rf .venv
  "$python" -m venv .venv
fi
stamp=".venv/.requirements.sha256"
current="$(sha256sum requirements.lock | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$current" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
  echo "$current" > "$stamp"
fi
