#!/usr/bin/env bash
# The project's one install step, used by `make install` and by the container image:
#   deploy/install.sh VENV          ipcoord into the virtualenv VENV (created if missing)
#   deploy/install.sh VENV --dev    editable, with the dev tools (what `make install` does)
# Installing builds the protobuf code from protos/ (hatch_build.py runs grpcio-tools), so
# the generated modules are in the install either way.
set -euo pipefail
venv="${1:?usage: install.sh VENV [--dev]}"
python="${PYTHON:-python3}"
test -x "$venv/bin/python" || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-cache-dir --upgrade pip
if [[ "${2:-}" == "--dev" ]]; then
  "$venv/bin/python" -m pip install --quiet -e ".[dev]"
else
  "$venv/bin/python" -m pip install --quiet --no-cache-dir .
fi
