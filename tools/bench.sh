#!/usr/bin/env bash
# Install what is missing, build (optimised), and run the main job: the
# benchmark's default suite (shmring-bench), which prints the comparison
# table, and render its plots; then the event-loop and wake-policy cases
# (shmring-ready-bench: readiness fds against eventfd and pipes, the
# waker's cost, interrupts sent to another core), with their own targets.
# Results go to build-release/bench-results/ (results.csv, results.json,
# ready.csv, *.png), or to $SHMRING_BENCH_OUT.
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
ninja -C "$dir" bench/shmring-bench bench/shmring-ready-bench

out=${SHMRING_BENCH_OUT:-$dir/bench-results}
mkdir -p "$out"
"$dir/bench/shmring-bench" --csv "$out/results.csv" --json "$out/results.json" "$@"
if command -v gnuplot >/dev/null; then
	bash bench/plot.sh "$out/results.csv" "$out" >/dev/null && echo "plots: $out/*.png"
fi
# The event-loop cases (about 25 s): --quick and --cpus apply to them too.
ready_args=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case "${args[i]}" in
	-q | --quick) ready_args+=(--quick) ;;
	--cpus=*) ready_args+=("${args[i]}") ;;
	--cpus) ready_args+=(--cpus "${args[i + 1]:-}") ;;
	esac
done
"$dir/bench/shmring-ready-bench" --csv "$out/ready.csv" "${ready_args[@]}"
echo "results: $out/results.csv $out/results.json $out/ready.csv"
