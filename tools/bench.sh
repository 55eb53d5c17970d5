#!/usr/bin/env bash
# Install what is missing, build (optimised), and run the main job: the
# benchmark's default suite (shmring-bench), which prints the comparison
# table, and render its plots. Results go to build-release/bench-results/
# (results.csv, results.json, *.png), or to $SHMRING_BENCH_OUT.
# Usage: bash tools/bench.sh [shmring-bench options, e.g. --quick, --filter spsc]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash tools/setup.sh

dir=build-release
if [[ -f "$dir/build.ninja" ]]; then
	meson setup --reconfigure "$dir" --buildtype=release -Dtests=disabled
else
	meson setup "$dir" --buildtype=release -Dtests=disabled
fi
ninja -C "$dir" bench/shmring-bench

out=${SHMRING_BENCH_OUT:-$dir/bench-results}
mkdir -p "$out"
"$dir/bench/shmring-bench" --csv "$out/results.csv" --json "$out/results.json" "$@"
if command -v gnuplot >/dev/null; then
	bash bench/plot.sh "$out/results.csv" "$out" >/dev/null && echo "plots: $out/*.png"
fi
echo "results: $out/results.csv $out/results.json"
