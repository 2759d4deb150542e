#!/bin/sh
# Picard container entrypoint. Also works outside Docker (picard/tests/test_deployment.py
# runs it against the embedded database):
#   web      migrate (unless PICARD_MIGRATE=false), ensure the admin account when
#            PICARD_ADMIN_USERNAME is set, then serve with uvicorn (default)
#   migrate  apply migrations and exit (a release/pre-deploy step)
#   maintenance  daily housekeeping: purge expired memories, old activity, expired tokens
#   manage   run a management command: `docker compose run web manage stats`
#   anything else is executed as is
set -eu

PYTHON="${PYTHON:-python}"
PORT="${PORT:-8000}"
WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"

migrate() {
  "$PYTHON" manage.py migrate --noinput
}

cmd="${1:-web}"
case "$cmd" in
  web)
    if [ "${PICARD_MIGRATE:-true}" = "true" ]; then
      migrate
    fi
    if [ -n "${PICARD_ADMIN_USERNAME:-}" ]; then
      "$PYTHON" manage.py create_admin_user
    fi
    # --no-access-log: uvicorn's access log prints query strings (OAuth codes); Picard
    # logs each request itself, without them, with its request id.
    exec "$PYTHON" -m uvicorn picard.asgi:application \
      --host "${HOST:-0.0.0.0}" --port "$PORT" --workers "$WEB_CONCURRENCY" \
      --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-*}" \
      --no-access-log --no-server-header --timeout-graceful-shutdown 20
    ;;
  migrate)
    migrate
    ;;
  maintenance)
    "$PYTHON" manage.py purge_expired
    "$PYTHON" manage.py purge_activity
    "$PYTHON" manage.py cleartokens
    ;;
  manage)
    shift
    exec "$PYTHON" manage.py "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
