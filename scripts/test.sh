#!/usr/bin/env bash
# The README's test command: install everything the tests need, then run the whole suite.
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -k widget  # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# System packages (tor, chromium + driver, w3m, Java, Node) and the Node test tools.
bash scripts/install-system-deps.sh

# The project and its test extras, in a virtual environment of its own.
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

exec .venv/bin/python -m pytest "$@"
