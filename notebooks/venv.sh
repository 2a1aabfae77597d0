#!/usr/bin/env bash
# Creates the notebooks' Python environment, or leaves it as it is when notebooks/requirements.txt has not
# changed since it was made. notebooks/run.sh calls it; CI calls it early, while Rust compiles.
#
#   bash notebooks/venv.sh            # NOTEBOOKS_VENV (default target/notebooks-venv)
#
# PYTHON names the interpreter that creates it (3.11 or newer; default python3).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${NOTEBOOKS_VENV:-$ROOT/target/notebooks-venv}

REQUIREMENTS=$ROOT/notebooks/requirements.txt
STAMP=$VENV/.requirements.sha256
if command -v sha256sum >/dev/null; then
    WANT=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
else
    WANT=$(shasum -a 256 "$REQUIREMENTS" | cut -d' ' -f1)
fi
if [[ ! -x $VENV/bin/python || ! -f $STAMP || $(cat "$STAMP") != "$WANT" ]]; then
    PYTHON=${PYTHON:-python3}
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "error: the notebooks need Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1 | head -n1)." \
            "Set PYTHON to a newer interpreter." >&2
        exit 1
    fi
    echo "== installing notebooks/requirements.txt into $VENV" >&2
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
    # A kernel of this environment's own, so that no other Jupyter installation's `python3` is picked up.
    "$VENV/bin/python" -m ipykernel install --prefix "$VENV" --name churn-notebooks \
        --display-name "churn notebooks" >/dev/null
    echo "$WANT" >"$STAMP"
fi

