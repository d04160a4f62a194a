#!/usr/bin/env bash
# Runs every check and test: formatting, lints, the workspace's dependency rules, and the whole test
# suite on SQLite and PostgreSQL.
#
# PostgreSQL: tests use MEDIBOOK_TEST_POSTGRES_URL (a server where they may create databases).
# Unset, it defaults to postgres://postgres@127.0.0.1:5432/test when that server answers;
# otherwise the PostgreSQL half is skipped — except under CI=true, where it fails.
# Redis: MEDIBOOK_TEST_REDIS_URL likewise defaults to redis://127.0.0.1:6379 when Redis answers.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${MEDIBOOK_TEST_POSTGRES_URL:-}" ]; then
  if command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; then
    export MEDIBOOK_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/test"
  else
    echo "note: no PostgreSQL on 127.0.0.1:5432 and MEDIBOOK_TEST_POSTGRES_URL unset: PostgreSQL tests will be skipped" >&2
  fi
fi

if [ -z "${MEDIBOOK_TEST_REDIS_URL:-}" ]; then
  if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    export MEDIBOOK_TEST_REDIS_URL="redis://127.0.0.1:6379"
  else
    echo "note: no Redis on 127.0.0.1:6379 and MEDIBOOK_TEST_REDIS_URL unset: Redis tests will be skipped" >&2
  fi
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== layering (dependency rules)"
scripts/check-layering.sh
echo "== module cycles"
python3 scripts/check-module-cycles.py
echo "== compose.yaml"
compose_env=(MEDIBOOK_SECRET=validation-only-secret-of-32-characters POSTGRES_PASSWORD=validation)
if docker compose version >/dev/null 2>&1; then
  env "${compose_env[@]}" docker compose -f compose.yaml config -q
elif command -v docker-compose >/dev/null; then
  env "${compose_env[@]}" docker-compose -f compose.yaml config -q
elif [ "${CI:-}" = "true" ]; then
  echo "error: CI=true needs docker compose or docker-compose to validate compose.yaml (.ci/run installs it)" >&2
  exit 1
else
  echo "note: neither the docker compose plugin nor docker-compose is installed: compose.yaml not validated" >&2
fi
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
