#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment .venv and install the lab into it,
# editable, with the versions pinned in constraints.txt. Usage: scripts/install.sh [EXTRAS]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
spec="."
[ -n "${1:-}" ] && spec=".[$1]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e "$spec"
