#!/usr/bin/env bash
# Installs what the web UI's browser tests (tests/ui) need: Debian's Chromium at /usr/bin/chromium
# and the `playwright` Python package in .venv (it drives that Chromium; we never run
# `playwright install`, which downloads its own browser build). Idempotent; run as root on Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: chromium is missing and installing it needs root (apt-get install chromium)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
chromium --version

PY="${PYTHON:-.venv/bin/python}"
if ! "$PY" -c 'import playwright' >/dev/null 2>&1; then
    "$PY" -m pip install --quiet 'playwright>=1.45'
fi
"$PY" -c 'import importlib.metadata as m; print("playwright", m.version("playwright"))'
