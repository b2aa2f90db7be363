#!/usr/bin/env bash
# The test suite on a fresh machine: install into .venv with the dev extras, then run pytest.
# Extra arguments go to pytest (e.g. bash test.sh tests/test_mixture.py -x).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install.sh dev
exec .venv/bin/python -m pytest "$@"
