#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what the suites need when it is missing,
# checks the services they use, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

export PASSERELLE_TEST_DATABASE_URL="${PASSERELLE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export PASSERELLE_TEST_REDIS_URL="${PASSERELLE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

# PostgreSQL: the migration and cluster suites need a real server; start the local one if
# it is installed but stopped, and fail clearly if there is none.
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_ready && command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! pg_ready; then
  echo "PostgreSQL is not reachable on 127.0.0.1:5432 (PASSERELLE_TEST_DATABASE_URL); install it: apt-get install postgresql" >&2
  exit 1
fi

cargo test --workspace --all-targets --locked "$@"

# The web client: type check and browser tests in a real headless Chromium.
./scripts/browser-tests.sh
