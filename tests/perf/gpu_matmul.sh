#!/usr/bin/env bash
# GFLOPS of the matrix multiplications (cannon, summa, pumma, ...) on a GPU machine, with the
# default and expert mappers (and others), on 1 GPU and on all of the machine's GPUs, against
# cuBLAS DGEMM on one card (the ceiling, measured through PyTorch, which calls cuBLAS).
#
#   tests/perf/gpu_matmul.sh pack          on the development machine: .mmcarry/ (ignored) gets
#                                           the committed tree, the Legion runtime, OpenBLAS and
#                                           the apps' mappers compiled to policy IR
#   tests/perf/gpu_matmul.sh run [N] [APPS...]   on the GPU machine, from a copy of the working tree
#                                           carrying .mmcarry/: builds the apps with the cuBLAS
#                                           leaf and runs each at size n = N (default 20000)
#
# pack keeps an existing .mmcarry/deps.tar.xz (the runtime and OpenBLAS) unless REPACK_DEPS=1. It
# reads APPS (default: cannon summa pumma) and BASE, a commit: each app's sources and expert
# mapper as they were at BASE, measured as the mapper `base` (the app built from BASE's sources with
# BASE's expert.map) or `base-default` (BASE's sources, DefaultMapper). Every other NAME.map in
# benchmarks/APP/ is packed as the mapper NAME.
#
# run reads MAPPERS (default: "default expert"; also base, base-default and the packed NAMEs),
# GPUS (default: "1 G", G = 4 or the GPUs there are), TRIALS (default 1: rounds, each running every
# app with every mapper once, in that order, so that the mappers' trials interleave) and PEAK
# (default 1; 0 skips the PyTorch ceiling and PEAK_GFLOPS, default 65094, is the ceiling instead).
# It ends with a table: GFLOPS per app, GPU count and mapper over the trials, and the mean as a
# share of GPUs x the ceiling. For example, Solomonik before and after a change, 5 rounds on 4 GPUs:
#   APPS=solomonik BASE=41cf747~1 tests/perf/gpu_matmul.sh pack
#   MAPPERS="default expert base" GPUS=4 TRIALS=5 PEAK=0 bash tests/perf/gpu_matmul.sh run 20000 solomonik
set -uo pipefail
cd "$(dirname "$0")/../.."
APPS_DEFAULT="cannon summa pumma"

if [[ ${1:-} == pack ]]; then
  set -e
  rm -rf .mmcarry/policy .mmcarry/base
  mkdir -p .mmcarry/policy .mmcarry/base
  git archive -o .mmcarry/tree.tar HEAD
  if [[ ! -f .mmcarry/deps.tar.xz || -n ${REPACK_DEPS:-} ]]; then  # minutes of xz on 2 cores: kept between packs
    blas=$(mktemp -d)
    mkdir -p "$blas/blas/include" "$blas/blas/lib"
    cp /usr/include/x86_64-linux-gnu/openblas-pthread/*.h "$blas/blas/include/"
    cp -L /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 /lib/x86_64-linux-gnu/libgfortran.so.5 \
          /lib/x86_64-linux-gnu/libquadmath.so.0 "$blas/blas/lib/"
    tar -C .legion -cf - wheel | tar -C "$blas" -xf -
    tar -C "$blas" -cf - wheel blas | xz -T2 -6 > .mmcarry/deps.tar.xz
    rm -rf "$blas"
  fi
  for app in ${APPS:-$APPS_DEFAULT}; do
    .venv/bin/hpcmap dsl compile "benchmarks/$app/expert.map" -o ".mmcarry/policy/$app.json"
    for map in $(git ls-files "benchmarks/$app/*.map"); do
      name=$(basename "$map" .map)
      [[ $name == expert ]] || .venv/bin/hpcmap dsl compile "$map" -o ".mmcarry/policy/$app-$name.json"
    done
    if [[ -n ${BASE:-} ]]; then
      git archive -o ".mmcarry/base/$app.tar" "$BASE" "benchmarks/$app"
      old=$(mktemp --suffix .map)
      git show "$BASE:benchmarks/$app/expert.map" > "$old"
      .venv/bin/hpcmap dsl compile "$old" -o ".mmcarry/policy/$app-base.json"
      rm -f "$old"
    fi
  done
  ls .mmcarry/policy
  du -sh .mmcarry
  exit 0
fi

[[ ${1:-} == run ]] || { echo "usage: $0 pack | run [N] [APPS...]" >&2; exit 2; }
n=${2:-20000}
shift $(( $# >= 2 ? 2 : $# ))
apps=${*:-$APPS_DEFAULT}
mappers=${MAPPERS:-default expert}
trials=${TRIALS:-1}
carry=$PWD/.mmcarry
work=/tmp/matmul
out=${OUT:-/tmp}
rm -rf "$work" && mkdir -p "$work/tree" "$work/deps"
tar -xf "$carry/tree.tar" -C "$work/tree"
tar -xJf "$carry/deps.tar.xz" -C "$work/deps"
(cd "$work/deps/blas/lib" && ln -sf libopenblas.so.0 libopenblas.so)
export LD_LIBRARY_PATH=$work/deps/wheel/lib:$work/deps/blas/lib:${LD_LIBRARY_PATH:-}
nvidia-smi -L
gpus=$(nvidia-smi -L | wc -l)
gpu_counts=${GPUS:-1 $(( gpus >= 4 ? 4 : gpus ))}

peak=${PEAK_GFLOPS:-65094}
if [[ ${PEAK:-1} != 0 ]]; then
  echo "== cuBLAS DGEMM on one card (PyTorch float64 mm), n = $n and n/2"
  python3 - "$n" <<'PY' | tee "$out/peak.log"
import sys, time, torch
for n in (int(sys.argv[1]), int(sys.argv[1]) // 2):
    a = torch.randint(-8, 9, (n, n), dtype=torch.float64, device="cuda")
    b = torch.randint(-8, 9, (n, n), dtype=torch.float64, device="cuda")
    torch.mm(a, b); torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(3):
        c = torch.mm(a, b)
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / 3
    print(f"DGEMM_PEAK n={n} {2 * n**3 / dt / 1e9:.0f} GFLOPS ({torch.cuda.get_device_name()})")
    del a, b, c
PY
  measured=$(grep -o "DGEMM_PEAK n=$n [0-9]*" "$out/peak.log" | awk '{print $3}')
  peak=${measured:-$peak}
fi

echo "== build"
targets=$apps
for app in $apps; do  # BASE's sources of an app, as the target APP_base
  [[ -f $carry/base/$app.tar ]] || continue
  base=$(mktemp -d)
  tar -xf "$carry/base/$app.tar" -C "$base"
  mv "$base/benchmarks/$app" "$work/tree/benchmarks/${app}_base"
  rm -rf "$base"
  sed -i "s/hpcmap_matmul_benchmark($app /hpcmap_matmul_benchmark(${app}_base /" \
      "$work/tree/benchmarks/${app}_base/CMakeLists.txt"
  targets="$targets ${app}_base"
done
cmake -S "$work/tree" -B "$work/build" -DLEGION_INCLUDE_DIR="$work/deps/wheel/include" \
      -DLEGION_LIB_DIR="$work/deps/wheel/lib" -DCUDA_STUB_DIR=/usr/local/cuda/lib64/stubs -DHPCMAP_CUDA=ON -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
      -DOPENBLAS_INCLUDE_DIR="$work/deps/blas/include" -DOPENBLAS_LIBRARY="$work/deps/blas/lib/libopenblas.so.0" \
      > "$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log"; exit 1; }
grep -i "cublas" "$out/cmake.log"
cmake --build "$work/build" --parallel 16 --target $targets > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }

flags_for() {  # the specs/machines h100x1 and h100x4 resources, for 1 or 4 GPUs
  if [[ $1 == 1 ]]; then echo "-ll:cpu 8 -ll:util 2 -ll:csize 16384 -ll:gpu 1 -ll:fsize 70000 -ll:zsize 2048"
  else echo "-ll:cpu 16 -ll:util 2 -ll:csize 65536 -ll:gpu $1 -ll:fsize 70000 -ll:zsize 2048"; fi
}
echo "== runs: n = $n, 3 timed multiplications after 1 warm-up; mappers: $mappers; $trials round(s)"
results=$out/results.txt
: > "$results"
for round in $(seq 1 "$trials"); do
  for g in $gpu_counts; do
    for app in $apps; do
      for mapper in $mappers; do
        exe=$work/build/benchmarks/$app/$app
        [[ $mapper == base* ]] && exe=$work/build/benchmarks/${app}_base/${app}_base
        policy=()
        case $mapper in
          default|base-default) ;;
          expert) policy=(-hpcmap:policy "$carry/policy/$app.json") ;;
          *) policy=(-hpcmap:policy "$carry/policy/$app-$mapper.json") ;;
        esac
        packed=1
        (( ${#policy[@]} == 0 )) || [[ -f ${policy[1]} ]] || packed=0
        if [[ ! -x $exe || $packed == 0 ]]; then
          echo "RUN gpus=$g app=$app mapper=$mapper round=$round: not packed or not built"; continue
        fi
        log="$out/$app-$g-$mapper-$round.log"
        timeout 240 "$exe" $(flags_for "$g") -n "$n" -iters 3 -warmup 1 "${policy[@]}" > "$log" 2>&1
        rc=$?
        result=$(grep -o 'HPCMAP_RESULT .*' "$log" | sed 's/HPCMAP_RESULT //')
        echo "RUN gpus=$g app=$app mapper=$mapper round=$round exit=$rc $result"
        [[ -n $result ]] && echo "$g $app $mapper $rc $result" >> "$results" || tail -5 "$log"
      done
    done
  done
done

echo "== GFLOPS over the rounds (ceiling: $peak GFLOPS per GPU)"
python3 - "$results" "$peak" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    g, app, mapper, rc, result = line.split(" ", 4)
    r = json.loads(result)
    ok = rc == "0" and r.get("check") == "pass"
    rows.setdefault((app, int(g), mapper), []).append(r["metric"] if ok else None)
print(f"{'app':10} {'GPUs':>4} {'mapper':14} {'ok':>5} {'mean':>9} {'median':>9} {'min':>9} {'max':>9} {'mean/ceiling':>12}")
for (app, g, mapper), values in sorted(rows.items()):
    good = [v for v in values if v is not None]
    if not good:
        print(f"{app:10} {g:>4} {mapper:14} {0:>2}/{len(values):<2} (no passing run)")
        continue
    mean = statistics.mean(good)
    print(f"{app:10} {g:>4} {mapper:14} {len(good):>2}/{len(values):<2} {mean:9.0f} {statistics.median(good):9.0f} "
          f"{min(good):9.0f} {max(good):9.0f} {100 * mean / (g * float(sys.argv[2])):11.1f}%")
PY
