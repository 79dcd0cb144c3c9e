#!/usr/bin/env bash
# The main job, from a fresh clone: sets up .venv on the first run, trains the demo runs into runs/,
# prints their verdicts and starts TensorBoard with the Stuck? dashboard. Arguments go to demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash demo/venv.sh
exec .venv/bin/python demo/demo.py "$@"
