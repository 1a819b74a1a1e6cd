#!/usr/bin/env bash
# Creates the project's virtualenv ($2) with Python ($1) and installs the project into it.
# On Debian, `python3 -m venv` needs the python3-venv package: installed when we are root.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}

if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found; install Python 3.11 or later (Debian: apt-get install python3)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: $python is $("$python" --version 2>&1); this project needs Python 3.11 or later" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "python venv support missing: installing Debian's python3-venv" >&2
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$python" -m venv "$venv"
    else
      echo "error: '$python -m venv' failed; install your distribution's venv package (Debian: python3-venv)" >&2
      exit 1
    fi
  fi
fi
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$venv/bin/python" -m pip install -q -e '.[dev]'
