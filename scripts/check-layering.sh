#!/usr/bin/env bash
# The workspace's dependency rules (shared/DESIGN.md §2), checked on the real dependency graph:
# - medibook-core is the pure domain: no web framework, database driver, HTTP client or async
#   runtime I/O anywhere in its tree;
# - medibook-store and medibook-integrations depend on no other workspace crate than the core;
# - medibook-web reaches storage only through the core's ports (no store, no SQL driver);
# - medibook-bench depends on no workspace crate and no SQL driver (it loads data with
#   `medibook seed` and measures the database with `medibook floor`);
# - medibook-testkit, the test harness every crate's tests use (the bench's included), likewise.
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0
deps() { cargo tree -p "$1" -e normal,build --prefix none --no-dedupe 2>/dev/null | sort -u; }
forbid() {
  local crate=$1 pattern=$2 why=$3 found
  found=$(deps "$crate" | grep -E "$pattern" | grep -v "^$crate " || true)
  if [ -n "$found" ]; then
    echo "$crate must not depend on $why, but depends on:" >&2
    echo "$found" >&2
    failed=1
  fi
}

forbid medibook-core '^(axum|axum-core|hyper|sqlx|sqlx-core|reqwest|tokio|mio|tower|lettre|fred|medibook-[a-z]+) ' \
  "I/O crates or other workspace crates"
forbid medibook-store '^medibook-(web|integrations|bench|medibook) |^medibook v' "workspace crates other than the core"
forbid medibook-integrations '^medibook-(store|web|bench) |^medibook v' "workspace crates other than the core"
forbid medibook-web '^(medibook-store|medibook-integrations|sqlx|sqlx-core) |^medibook v' \
  "the store, the integrations or a SQL driver"
forbid medibook-bench '^(medibook-[a-z]+|sqlx|sqlx-core) |^medibook v' "workspace crates or a SQL driver"
forbid medibook-testkit '^(medibook-[a-z]+|sqlx|sqlx-core) |^medibook v' "workspace crates or a SQL driver"

if [ "$failed" -ne 0 ]; then
  exit 1
fi
echo "layering check: ok (core pure; store and integrations on the core only; web on ports; bench and testkit on no workspace crate)"
