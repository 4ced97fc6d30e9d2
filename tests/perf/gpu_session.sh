#!/usr/bin/env bash
# Runs on a GPU machine over a copy of the working tree: unpacks the carried Legion runtime and
# binaries (.carry/, made by tests/perf/gpu_pack.sh), then runs `hpcmap run` for each command given
# as an argument ("APP MACHINE MAPPER SIZE TRIALS"), printing a summary table last.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/perf/gpu_env.sh
out=${OUT:-/tmp}
for spec in "$@"; do
  read -r app machine mapper size trials <<<"$spec"
  name="${app}-${machine}-${mapper##*/}-${size//[=,]/_}"
  echo "== hpcmap run $app --machine $machine --mapper $mapper --size $size --trials $trials"
  python3 -m hpcmap.cli run "$app" --machine "$machine" --mapper "$mapper" --size "$size" \
      --trials "$trials" --timeout 300 --json > "$out/$name.json" 2> "$out/$name.err"
  echo "exit $?"; tail -3 "$out/$name.err"
  python3 - "$out/$name.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("no JSON:", e); sys.exit()
s = d["stats"]
print(d["app"], d["machine"], d["mapper"], "trials", [round(t["elapsed_s"] or -1, 4) for t in d["trials"]],
      "median", s["median_s"], "ci95", s["ci95_s"], [t["outcome"] for t in d["trials"]], d.get("error"))
PY
done
