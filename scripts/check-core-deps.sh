#!/usr/bin/env bash
# medibook-core is the pure domain: it must not depend on a web framework, a database driver, an
# HTTP client or an async runtime's I/O. Fails if any of them appears in its dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(axum|axum-core|hyper|sqlx|sqlx-core|reqwest|tokio|mio|tower|lettre|fred) '
found=$(cargo tree -p medibook-core -e normal,build --prefix none --no-dedupe 2>/dev/null | grep -E "$forbidden" | sort -u || true)
if [ -n "$found" ]; then
  echo "medibook-core must stay free of I/O crates, but depends on:" >&2
  echo "$found" >&2
  exit 1
fi
echo "medibook-core dependency check: ok (no axum, sqlx, reqwest, tokio, hyper, tower)"
