#!/usr/bin/env bash
# Set up and run the product on the embedded default: SQLite + django-q2 ORM broker,
# web server and one q2 cluster, with demo data. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
mkdir -p var
[ -f var/secret_key ] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-$(cat var/secret_key)}"
export DJANGO_SECURE_COOKIES="${DJANGO_SECURE_COOKIES:-false}"  # plain http on localhost
PORT="${PORT:-8000}"
PY=.venv/bin/python
$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0
$PY manage.py load_demo_data --if-empty --instances "${DEMO_INSTANCES:-3000}"
stop() {
  trap - EXIT INT TERM
  kill -TERM "${web:-}" "${cluster:-}" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 "${web:-}" "${cluster:-}" 2>/dev/null || break; sleep 0.5; done
  pkill -KILL -P "${cluster:-0}" 2>/dev/null || true
  kill -KILL "${web:-}" "${cluster:-}" 2>/dev/null || true
}
trap stop EXIT INT TERM
$PY manage.py workers &  # qcluster, restarted when a killed worker wedges it (README "How it runs")
cluster=$!
echo
echo "  Cockpit:  http://127.0.0.1:${PORT}/   (login: admin / ${DEMO_PASSWORD:-admin}; operators: operator-a, operator-b)"
echo "  REST API: http://127.0.0.1:${PORT}/engine-rest/   Admin: http://127.0.0.1:${PORT}/admin/"
echo
.venv/bin/gunicorn cockpit.wsgi --bind "127.0.0.1:${PORT}" --workers "${WEB_WORKERS:-2}" --access-logfile - &
web=$!
wait -n "$web" "$cluster"
