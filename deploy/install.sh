#!/usr/bin/env bash
# The project's one install step, used by `make install` and by the container image:
#   deploy/install.sh VENV          ipcoord into the virtualenv VENV (created if missing)
#   deploy/install.sh VENV --dev    editable, with the dev tools (what `make install` does),
#                                   kustomize included (the manifests' tests render with it)
# Installing builds the protobuf code from protos/ (hatch_build.py runs grpcio-tools), so
# the generated modules are in the install either way.
set -euo pipefail
venv="${1:?usage: install.sh VENV [--dev]}"
python="${PYTHON:-python3}"
test -x "$venv/bin/python" || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-cache-dir --upgrade pip
if [[ "${2:-}" == "--dev" ]]; then
  "$venv/bin/python" -m pip install --quiet -e ".[dev]"
  # kustomize, a Go program, from the Go module proxy into the venv; skipped when that
  # version is already there.
  kustomize_version=v5.7.1
  if ! "$venv/bin/kustomize" version 2>/dev/null | grep -qx "$kustomize_version"; then
    go=$(command -v go || echo /usr/local/go/bin/go)
    if [[ -x "$go" ]]; then
      GOBIN="$(cd "$venv" && pwd)/bin" "$go" install \
        "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version"
    else
      echo "install.sh: no Go toolchain: kustomize not installed (the manifests' tests need it)" >&2
    fi
  fi
else
  "$venv/bin/python" -m pip install --quiet --no-cache-dir .
fi
