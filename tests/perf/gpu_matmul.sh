#!/usr/bin/env bash
# GFLOPS of the matrix multiplications (cannon, summa, pumma, ...) on a GPU machine, with the
# default and expert mappers, on 1 GPU and on all of the machine's GPUs, against cuBLAS DGEMM on
# one card (the ceiling, measured through PyTorch, which calls cuBLAS).
#
#   tests/perf/gpu_matmul.sh pack          on the development machine: .mmcarry/ (ignored) gets
#                                           the committed tree, the Legion runtime, OpenBLAS and
#                                           the expert mappers compiled to policy IR
#   tests/perf/gpu_matmul.sh run [N] [APPS...]   on the GPU machine, from a copy of the working tree
#                                           carrying .mmcarry/: builds the apps with the cuBLAS
#                                           leaf and runs each at size n = N (default 20000)
set -uo pipefail
cd "$(dirname "$0")/../.."
APPS_DEFAULT="cannon summa pumma"

if [[ ${1:-} == pack ]]; then
  set -e
  mkdir -p .mmcarry/policy
  git archive -o .mmcarry/tree.tar HEAD
  blas=$(mktemp -d)
  mkdir -p "$blas/blas/include" "$blas/blas/lib"
  cp /usr/include/x86_64-linux-gnu/openblas-pthread/*.h "$blas/blas/include/"
  cp -L /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 /lib/x86_64-linux-gnu/libgfortran.so.5 \
        /lib/x86_64-linux-gnu/libquadmath.so.0 "$blas/blas/lib/"
  tar -C .legion -cf - wheel | tar -C "$blas" -xf -
  tar -C "$blas" -cf - wheel blas | xz -T2 -6 > .mmcarry/deps.tar.xz
  rm -rf "$blas"
  for app in ${APPS:-$APPS_DEFAULT}; do
    .venv/bin/hpcmap dsl compile "benchmarks/$app/expert.map" -o ".mmcarry/policy/$app.json"
  done
  du -sh .mmcarry
  exit 0
fi

[[ ${1:-} == run ]] || { echo "usage: $0 pack | run [N] [APPS...]" >&2; exit 2; }
n=${2:-20000}
shift $(( $# >= 2 ? 2 : $# ))
apps=${*:-$APPS_DEFAULT}
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

echo "== cuBLAS DGEMM on one card (PyTorch float64 mm), n = $n and n/2"
python3 - "$n" <<'PY'
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

echo "== build"
cmake -S "$work/tree" -B "$work/build" -DLEGION_INCLUDE_DIR="$work/deps/wheel/include" \
      -DLEGION_LIB_DIR="$work/deps/wheel/lib" -DCUDA_STUB_DIR=/usr/local/cuda/lib64/stubs -DHPCMAP_CUDA=ON -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
      -DOPENBLAS_INCLUDE_DIR="$work/deps/blas/include" -DOPENBLAS_LIBRARY="$work/deps/blas/lib/libopenblas.so.0" \
      > "$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log"; exit 1; }
grep -i "cublas" "$out/cmake.log"
cmake --build "$work/build" --parallel 16 --target $apps > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }

flags_for() {  # the specs/machines h100x1 and h100x4 resources, for 1 or 4 GPUs
  if [[ $1 == 1 ]]; then echo "-ll:cpu 8 -ll:util 2 -ll:csize 16384 -ll:gpu 1 -ll:fsize 70000 -ll:zsize 2048"
  else echo "-ll:cpu 16 -ll:util 2 -ll:csize 65536 -ll:gpu $1 -ll:fsize 70000 -ll:zsize 2048"; fi
}
echo "== runs: n = $n, 3 timed multiplications after 1 warm-up"
for g in 1 $(( gpus >= 4 ? 4 : gpus )); do
  for app in $apps; do
    for mapper in default expert; do
      policy=()
      [[ $mapper == expert ]] && policy=(-hpcmap:policy "$carry/policy/$app.json")
      log="$out/$app-$g-$mapper.log"
      timeout 240 "$work/build/benchmarks/$app/$app" $(flags_for "$g") -n "$n" -iters 3 -warmup 1 "${policy[@]}" \
          > "$log" 2>&1
      rc=$?
      result=$(grep -o 'HPCMAP_RESULT .*' "$log" | sed 's/HPCMAP_RESULT //')
      echo "RUN gpus=$g app=$app mapper=$mapper exit=$rc $result"
      [[ -n $result ]] || tail -5 "$log"
    done
  done
done
