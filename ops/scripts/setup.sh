#!/usr/bin/env bash
# One-time set-up shared by `npm run demo` and `npm test`: node modules, then a ClickHouse server binary
# (Debian's clickhouse-server via apt, as root) when none is installed and CLICKHOUSE_URL is unset.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing node modules (npm ci)..." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

have_clickhouse() {
  command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ] ||
    { command -v clickhouse >/dev/null 2>&1 && clickhouse server --help >/dev/null 2>&1; }
}

if [ -z "${CLICKHOUSE_URL:-}" ] && [ -z "${ADHOUSE_TEST_CLICKHOUSE_URL:-}" ] && ! have_clickhouse; then
  if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then
    echo "setup: no ClickHouse server found; installing Debian's clickhouse-server with apt-get..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clickhouse-server clickhouse-client >&2
  else
    echo "setup: no ClickHouse server found. Install one (Debian: sudo apt-get install clickhouse-server clickhouse-client)" >&2
    echo "       or point CLICKHOUSE_URL at an existing server." >&2
    exit 2
  fi
fi

# Tests only: chDB, a current ClickHouse engine from PyPI, for the 18.16-vs-current compatibility test.
if [ "${1:-}" = "--test" ] && ! python3 -c 'import chdb; chdb.query("SELECT 1")' >/dev/null 2>&1; then
  echo "setup: installing chdb from PyPI (current ClickHouse engine for the compatibility test)..." >&2
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip >&2
    else
      echo "setup: python3 with pip is needed for the compatibility test (pip install chdb)" >&2
      exit 2
    fi
  fi
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore chdb >&2 ||
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --break-system-packages chdb >&2
fi

# Tests only: promtool (Debian's prometheus package) checks that /metrics is valid exposition text.
if [ "${1:-}" = "--test" ] && ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then
    echo "setup: installing Debian's prometheus package for promtool (metrics format check)..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
  else
    echo "setup: promtool is needed by the tests (Debian: sudo apt-get install prometheus)" >&2
    exit 2
  fi
fi
