#!/usr/bin/env bash
# One-command GPU check (tools/gpu_check.py --help says what it runs); about 8 minutes on one GPU.
#   tools/gpu_check.sh [--out DIR] [--dry-run] ...
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" "$root/tools/gpu_check.py" "$@"
