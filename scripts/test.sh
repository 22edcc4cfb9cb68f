#!/usr/bin/env bash
# Runs every test. Installs what the tests need first (system packages included).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
MEDIASYNC_SETUP_EXTRA=test MEDIASYNC_TEST_PACKAGES="openssh-server openssl postgresql chromium libimage-exiftool-perl" scripts/setup.sh
# The rules that must hold before any test: lint, and the import contracts in
# pyproject.toml (the core never imports Prefect; no import cycles among its packages).
uv run --frozen ruff check .
uv run --frozen lint-imports --no-cache
set +e
uv run --frozen pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected no tests: that is a failure, not a pass.
[ "$status" -eq 5 ] && echo "no tests were collected" >&2 && exit 1
exit "$status"
