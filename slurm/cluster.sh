#!/usr/bin/env bash
# Start, stop or inspect the local Slurm cluster: slurm/cluster.sh up|down|status [--nodes N] [--json]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${HPCMAP_PYTHON:-}
if [[ -z "$python" ]]; then
    if [[ -x "$repo/.venv/bin/python" ]]; then python=$repo/.venv/bin/python; else python=python3; fi
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m hpcmap.cli cluster "$@"
