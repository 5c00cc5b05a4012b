#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what the suites need when it is missing,
# checks the services they use, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# A target directory outside the clone, when this machine has the shared one, lets a fresh
# clone (CI's included) reuse the dependencies already built here.
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -w /work ]; then export CARGO_TARGET_DIR=/work/cargo-target; fi

# Build tools the dependencies need: webauthn-rs links OpenSSL, found with pkg-config.
if ! pkg-config --exists openssl 2>/dev/null; then
  echo "test: installing Debian's libssl-dev and pkg-config (OpenSSL, for webauthn-rs)"
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq libssl-dev pkg-config
fi

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

# Redis: the cluster suite (three `passerelle serve` processes) needs a real one; start the
# local one if it is installed but stopped, and fail clearly if there is none.
redis_ready() {
  timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379 && printf "PING\r\n" >&3 && head -c 5 <&3 | grep -q PONG' 2>/dev/null
}
if ! redis_ready && command -v redis-server >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 >/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do redis_ready && break; sleep 0.5; done
fi
if ! redis_ready; then
  echo "Redis is not reachable on 127.0.0.1:6379 (PASSERELLE_TEST_REDIS_URL); install it: apt-get install redis-server" >&2
  exit 1
fi

# The habits the code is held to: formatting, and every lint of the workspace (unwrap_used,
# missing docs, …) as an error.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

# The OpenAPI document must pass a standard validator, or client generators break.
if ! python3 -c 'import openapi_spec_validator' 2>/dev/null; then
  echo "test: installing openapi-spec-validator (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator
fi
cargo build -p passerelle-server --bin passerelle --locked
openapi_doc="$(mktemp --suffix=.json)"
trap 'rm -f "$openapi_doc"' EXIT
"${CARGO_TARGET_DIR:-target}/debug/passerelle" openapi > "$openapi_doc"
python3 -m openapi_spec_validator "$openapi_doc"

# Every test, the integration suite's servers on SQLite…
PASSERELLE_TEST_BACKEND=sqlite cargo test --workspace --all-targets --locked "$@"

# …then the integration suite again, each test server on its own PostgreSQL database.
# The backup drill is SQLite's own (PostgreSQL is saved with pg_dump, docs/OPERATIONS.md).
PASSERELLE_TEST_BACKEND=postgres cargo test -p passerelle-tests --test it --locked "$@" -- --skip backup::

# The web client: type check and browser tests in a real headless Chromium.
./scripts/browser-tests.sh
