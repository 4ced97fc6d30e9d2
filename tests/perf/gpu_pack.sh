#!/usr/bin/env bash
# Packs what tests/perf/gpu_session.sh needs on a GPU machine into .carry/ (ignored by git):
# the Legion runtime (xz), the CUDA builds of the benchmarks, and Python 3.12 wheels.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .carry/build/benchmarks .carry/whl
[ -f .carry/legion.tar.xz ] || tar -C .legion -cf - wheel | xz -T2 -6 > .carry/legion.tar.xz
for exe in build/benchmarks/*/*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  mkdir -p ".carry/$(dirname "$exe" | sed 's|^build/||' | sed 's|^|build/|')"
  cp "$exe" ".carry/build/${exe#build/}"
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .carry/whl lark rich markdown-it-py mdurl pygments h5py
du -sh .carry
