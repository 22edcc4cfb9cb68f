#!/usr/bin/env bash
# Runs the whole pipeline on generated sample media in ./demo (or the folder given).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
exec uv run --frozen mediasync demo "$@"
