#!/usr/bin/env bash
# Download the wheels of tools/gpu-wheels.txt for the GPU machine (default: CPython 3.12,
# manylinux x86_64) into .whl/ (git-ignored; the device run carries it). One version each.
#   tools/fetch_gpu_wheels.sh            # -> .whl/ for Python 3.12
#   tools/fetch_gpu_wheels.sh 3.11 DIR   # another Python (the CPU rehearsal) / folder
set -euo pipefail
cd "$(dirname "$0")/.."
PYVER="${1:-3.12}"
DEST="${2:-.whl}"
PIP="${PIP:-.venv/bin/python -m pip}"
rm -rf "$DEST" && mkdir -p "$DEST"
grep -v '^\s*#' tools/gpu-wheels.txt | grep -v '^\s*$' | while read -r spec; do
  $PIP download --quiet --no-deps --only-binary=:all: --python-version "$PYVER" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$DEST" "$spec" 2>&1 | grep -v "^WARNING: Location" || true
done
want=$(grep -cv '^\s*#\|^\s*$' tools/gpu-wheels.txt)
have=$(ls "$DEST"/*.whl | wc -l)
echo "fetch_gpu_wheels: $have of $want wheels for Python $PYVER in $DEST ($(du -sh "$DEST" | cut -f1))"
test "$have" -eq "$want"
