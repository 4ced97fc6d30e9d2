# Sourced on a GPU machine over a copy of the working tree: unpacks what tests/perf/gpu_pack.sh
# carried (.carry/: the Legion runtime, CUDA builds, Python 3.12 wheels) and sets the environment
# so that `python3 -m hpcmap.cli` and the tests/perf benchmarks run there.
cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
mkdir -p .legion && tar -xJf .carry/legion.tar.xz -C .legion
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HPCMAP_BUILD_DIR=$PWD/.carry/build
find .carry/build -type f -perm -u+x -exec touch {} +
nvidia-smi -L
