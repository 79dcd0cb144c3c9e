#!/usr/bin/env bash
# The whole test suite, from a fresh clone: creates (or reuses) .venv with the package, TensorFlow
# (CPU build) and the test tools, installs Debian's chromium for the browser tests if it is missing,
# then runs the linters and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash demo/venv.sh test

if [ ! -x /usr/bin/chromium ]; then
    echo "== installing Debian's chromium for the browser tests"
    sudo_or_root=()
    [ "$(id -u)" -eq 0 ] || sudo_or_root=(sudo)
    "${sudo_or_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_or_root[@]}" apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

echo "== ruff"
.venv/bin/ruff format --check .
.venv/bin/ruff check .

echo "== pytest"
set +e
.venv/bin/python -m pytest -ra "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure of the suite, not a pass" >&2
    exit 1
fi
exit "$status"
