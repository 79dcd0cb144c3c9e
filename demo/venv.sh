#!/usr/bin/env bash
# Creates .venv (or reuses it while setup.py is unchanged) with the package and TensorFlow's CPU
# build; `bash demo/venv.sh test` adds the test tools. Used by demo/run.sh and tests/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-base}"
version="$(sha256sum setup.py | cut -c1-16)"
if [ -f ".venv/.installed-$version-test" ] || [ -f ".venv/.installed-$version-$extras" ]; then
    exit 0
fi
echo "== setting up .venv (the first time takes a few minutes, mostly TensorFlow)"
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
spec="."
[ "$extras" = "base" ] || spec=".[$extras]"
.venv/bin/python -m pip install -q "tensorflow-cpu>=2.21,<3" -e "$spec"
rm -f .venv/.installed-*
touch ".venv/.installed-$version-$extras"
