#!/usr/bin/env bash
# The nine-application study (tests/perf/study.py) in one call on a 4-GPU device machine.
#
#   tests/perf/gpu_study.sh pack        here: .carry/study/ (ignored by git) gets the Legion runtime,
#                                       stencil, circuit and pennant built with their CUDA variants,
#                                       OpenBLAS, and the Python 3.12 wheels study.py needs
#   tests/perf/gpu_study.sh run [--cpu] [SECONDS]
#                                       there, from a copy of the working tree carrying .carry/study:
#                                       runs the study for at most SECONDS (default 280) of wall time,
#                                       most important first, and leaves the stores, logs and table
#                                       under $OUT (study/, study.md, *.log)
#
# Order: stencil, circuit, pennant, each searched from default by ccd (10 candidates, seed 0, 3
# trials, default and expert in 3 interleaved rounds) and its fastest mapper then re-measured beside
# the expert and default in 3 interleaved rounds (a best-of-10 of 3-trial medians is biased low);
# while they run, the six matrix multiplications are
# built with the cuBLAS leaf in the background (niced, 16 jobs); then those six the same way; then
# every app over the expert; then ccd and random with 3 seeds. Each step gets the time that is left
# and stops cleanly before it runs out. Studies are resumable: put a previous call's fetched study/
# folder at .carry/study/results and the next call continues it.
# Without a GPU it stops, unless given --cpu: then it runs the same steps on this host's CPUs
# (machine local, size small), labelled as such, to test this script.
set -uo pipefail
cd "$(dirname "$0")/../.."
CARRY=.carry/study
FIRST="${STUDY_FIRST-stencil circuit pennant}"
REST="${STUDY_REST-cannon summa pumma johnson solomonik cosma}"

if [[ ${1:-} == pack ]]; then
  set -e
  rm -rf "$CARRY/build" "$CARRY/whl" && mkdir -p "$CARRY/build" "$CARRY/whl"
  tar -C .legion -cf - wheel | xz -T2 -6 > "$CARRY/legion.tar.xz"
  for app in $FIRST; do   # rebuilt first if its sources changed; CUDA variants need nvcc here
    .venv/bin/python -c "import sys; from hpcmap.legion import build, runtime; from hpcmap import apps
a = apps.load(sys.argv[1]); print(build.ensure_app(runtime.locate(), a.name, a.binary, quiet=False))" "$app"
    mkdir -p "$CARRY/build/benchmarks/$app" && cp "build/benchmarks/$app/$app" "$CARRY/build/benchmarks/$app/"
    readelf -S "build/benchmarks/$app/$app" | grep -q nv_fatbin \
      || echo "warning: $app has no CUDA code (was nvcc found when it was built?)" >&2
  done
  blas=$(mktemp -d) && mkdir -p "$blas/blas/include" "$blas/blas/lib"
  cp /usr/include/x86_64-linux-gnu/openblas-pthread/*.h "$blas/blas/include/"
  cp -L /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 /lib/x86_64-linux-gnu/libgfortran.so.5 \
        /lib/x86_64-linux-gnu/libquadmath.so.0 "$blas/blas/lib/"
  tar -C "$blas" -cf - blas | xz -T2 -6 > "$CARRY/blas.tar.xz" && rm -rf "$blas"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$CARRY/whl" lark rich markdown-it-py mdurl pygments h5py numpy
  du -sh "$CARRY"
  exit 0
fi

[[ ${1:-} == run ]] || { echo "usage: $0 pack | run [--cpu] [SECONDS]" >&2; exit 2; }
shift
cpu=(); [[ ${1:-} == --cpu ]] && { cpu=(--cpu); shift; }
limit=${1:-280}
start=$SECONDS
out=${OUT:-/tmp/gpu_study}
mkdir -p "$out"
py=${PYTHON:-python3}
[[ -d $CARRY/build ]] || { echo "no $CARRY: run '$0 pack' on the development machine first" >&2; exit 2; }
if [[ ${#cpu[@]} == 0 ]] && ! nvidia-smi -L; then
  echo "no GPU here; '$0 run --cpu' runs the study on this host's CPUs instead" >&2; exit 2
fi

work=$(mktemp -d /tmp/gpu_study.XXXX)

# The runtime, the carried binaries (newer than their sources, so nothing rebuilds them) and Python.
export HPCMAP_LEGION_HOME=$work/legion HPCMAP_BUILD_DIR=$work/build PYTHONUNBUFFERED=1
mkdir -p "$HPCMAP_LEGION_HOME" "$work/deps"
tar -xJf "$CARRY/legion.tar.xz" -C "$HPCMAP_LEGION_HOME"
tar -xJf "$CARRY/blas.tar.xz" -C "$work/deps"
(cd "$work/deps/blas/lib" && ln -sf libopenblas.so.0 libopenblas.so)
cp -r "$CARRY/build" "$HPCMAP_BUILD_DIR"
find "$HPCMAP_BUILD_DIR" -type f -perm -u+x -exec touch {} +
if ! "$py" -c "import h5py, lark, rich" 2>/dev/null; then
  wheels=("$CARRY"/whl/*.whl)
  "$py" -c "import numpy" 2>/dev/null && wheels=($(ls "$CARRY"/whl/*.whl | grep -v /numpy-))
  "$py" -m pip install -q --no-index --no-deps --no-compile --target "$work/site" "${wheels[@]}" \
    || { echo "could not install the carried wheels for $("$py" --version)" >&2; exit 1; }
  export PYTHONPATH=$work/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export LD_LIBRARY_PATH=$work/deps/blas/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
echo "setup: $((SECONDS - start)) s"

# The matrix multiplications, built in the background (in a session of their own, so that a build
# still running when the time is up can be stopped) while the first apps run.
build_mm() {
  nice -n 19 cmake -S . -B "$work/build-mm" -DLEGION_INCLUDE_DIR="$HPCMAP_LEGION_HOME/wheel/include" \
      -DLEGION_LIB_DIR="$HPCMAP_LEGION_HOME/wheel/lib" "${cuda[@]}" \
      -DOPENBLAS_INCLUDE_DIR="$work/deps/blas/include" -DOPENBLAS_LIBRARY="$work/deps/blas/lib/libopenblas.so.0" \
    && nice -n 19 cmake --build "$work/build-mm" --parallel "${STUDY_BUILD_JOBS:-16}" "${targets[@]}" \
    && for app in $REST; do mkdir -p "$HPCMAP_BUILD_DIR/benchmarks/$app"
         cp "$work/build-mm/benchmarks/$app/$app" "$HPCMAP_BUILD_DIR/benchmarks/$app/"; done
}
build_pid=
if [[ -n $REST ]]; then
  cuda=(-DHPCMAP_CUDA=OFF)
  [[ ${#cpu[@]} == 0 ]] && cuda=(-DHPCMAP_CUDA=ON -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc
                                 -DCUDA_STUB_DIR=/usr/local/cuda/lib64/stubs)
  [[ ${#cpu[@]} == 1 ]] && cuda+=(-DCUDA_STUB_DIR=$("$py" -c "from hpcmap.legion import runtime; runtime.ensure(quiet=True); print(runtime.stub_dir())"))
  targets=(); for app in $REST; do targets+=(--target "$app"); done
  setsid bash -c "$(declare -p cuda targets work REST); $(declare -f build_mm); build_mm" > "$out/build.log" 2>&1 &
  build_pid=$!
fi

# Earlier results carried in are continued, never overwritten.
mkdir -p "$out/study"
[[ -d $CARRY/results ]] && cp -rn "$CARRY/results/." "$out/study/"
common=(--results "$out/study" --budget 10 --trials 3 --baseline-trials 3 --timeout 120 --no-report "${cpu[@]}")
left() { echo $(( limit - (SECONDS - start) - 5 )); }
step() {  # step NAME ARGS...: one study.py call with the time that is left
  local name=$1; shift
  local t; t=$(left)
  if (( t < 20 )); then echo "== $name: skipped, $t s left"; return; fi
  echo "== $name ($t s left)"
  "$py" tests/perf/study.py "$@" "${common[@]}" --wall-limit "$t" > "$out/$name.log" 2>&1
  echo "   exit $?; $(grep -c ': ok' "$out/$name.log") ok runs; $(grep -E '^study: (stopped|error|interrupted)' "$out/$name.log" | tail -1)"
}
for app in $FIRST; do step "first-$app" "$app" --optimizers ccd --seeds 1 --starts default --confirm 3; done
if [[ -n $build_pid ]]; then
  echo "== waiting for the matrix multiplications' build"
  while kill -0 "$build_pid" 2>/dev/null && (( $(left) > 20 )); do sleep 2; done
  if kill -0 "$build_pid" 2>/dev/null; then
    kill -- -"$build_pid"; echo "   the build did not finish in time; stopped"; REST=
  elif wait "$build_pid"; then
    echo "   built: $(grep -ci cublas "$out/build.log") line(s) on cuBLAS in $out/build.log"
    for app in $REST; do step "rest-$app" "$app" --optimizers ccd --seeds 1 --starts default --confirm 3; done
  else
    echo "   the build failed:"; tail -5 "$out/build.log"; REST=
  fi
fi
step expert $FIRST $REST --optimizers ccd --seeds 1 --starts expert
step more $FIRST $REST --optimizers ccd,random --seeds 3 --starts default,expert
"$py" tests/perf/study.py $FIRST $REST --optimizers ccd,random --seeds 3 --starts default,expert --table-only \
  --confirm 3 "${common[@]}" > "$out/study.md" 2>&1
cat "$out/study.md"
echo "wall $((SECONDS - start)) s of $limit"
rm -rf "$work"
