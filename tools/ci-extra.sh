#!/usr/bin/env bash
# The CI steps that are more than "build and run every test" (tools/test.sh
# runs the gcc, clang and ASan+UBSan suites with run_suite, then this):
# ThreadSanitizer on the thread variants, a bounded libFuzzer run, and the
# spin model of the sleep/wake protocol. It can also run alone (after
# tools/setup.sh).
#
# Usage: bash tools/ci-extra.sh [step...]
#   steps: tsan fuzz spin (default: all, in that order)
# Environment:
#   SHMRING_FUZZ_SECONDS   libFuzzer run length (default 60)
#   SHMRING_CI_NICE        prefix for heavy commands (default "nice")
# Exit status 0 only if every step passed. Build directories:
# build-tsan/, build-fuzz/ (see docs/reliability.md).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

fuzz_seconds=${SHMRING_FUZZ_SECONDS:-60}
nice_cmd=${SHMRING_CI_NICE-nice}
failed=()
declare -A took

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}

# configure <builddir> <meson setup args...> (CC from the environment is
# read at the first setup only; meson keeps it on reconfigure); then
# builds $targets (all when empty)
targets=()
configure() {
	local dir=$1
	shift
	echo "==> $dir: meson setup $*"
	if [[ -f "$dir/build.ninja" ]]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	echo "==> $dir: build ${targets[*]}"
	$nice_cmd ninja -C "$dir" "${targets[@]}"
}

# suite <builddir> <meson test args...>
suite() {
	local dir=$1
	shift
	echo "==> $dir: meson test $*"
	$nice_cmd meson test -C "$dir" --print-errorlogs "$@"
}

# ThreadSanitizer cannot follow shared memory into another process, so only
# the tests registered in suite 'tsan' (thread variants) run here.
step_tsan() {
	# Build only what suite 'tsan' runs.
	local dir=build-tsan
	echo "==> $dir: meson setup (suite tsan only)"
	if [[ -f "$dir/build.ninja" ]]; then
		meson setup --reconfigure "$dir" -Db_sanitize=thread -Db_lundef=false -Dwerror=true \
			-Dpython=disabled -Dbridge=disabled -Dbench=false >/dev/null || return 1
	else
		meson setup "$dir" -Db_sanitize=thread -Db_lundef=false -Dwerror=true \
			-Dpython=disabled -Dbridge=disabled -Dbench=false >/dev/null || return 1
	fi
	local targets
	mapfile -t targets < <(meson introspect --tests "$dir" | python3 -c '
import json, os, sys
root = os.path.abspath(sys.argv[1])
for t in json.load(sys.stdin):
    if any(s.split(":")[-1] == "tsan" for s in t["suite"]):
        print(os.path.relpath(t["cmd"][0], root))' "$dir")
	((${#targets[@]})) || { echo "no tests in suite tsan" >&2; return 1; }
	echo "==> $dir: build ${targets[*]}"
	$nice_cmd ninja -C "$dir" "${targets[@]}" || return 1
	suite "$dir" --suite tsan --no-rebuild
}

# libFuzzer for SHMRING_FUZZ_SECONDS in all, under ASan + UBSan, split
# between two targets: fuzz_attach (two thirds: arbitrary bytes as the
# object, seeded with real rings of every type) and fuzz_msg (one third: a
# live message ring whose shared state the input rewrites between
# operations). The library is instrumented for coverage too
# (fuzzer-no-link). A crash leaves its input in build-fuzz/fuzz-artifacts/:
# copy it to tests/fuzz/regress/ (attach) or tests/fuzz/regress-msg/ (msg)
# and fix.
step_fuzz() {
	local targets=(tests/fuzz/fuzz_attach tests/fuzz/fuzz_msg tests/fuzz/fuzz_mkseed)
	CC=clang configure build-fuzz -Db_sanitize=address,undefined -Db_lundef=false \
		-Dwerror=true -Dfuzz=enabled -Dbench=false -Dpython=disabled \
		-Dc_args=-fsanitize=fuzzer-no-link || return 1
	local f=build-fuzz
	local msg_seconds=$((fuzz_seconds / 3))
	local attach_seconds=$((fuzz_seconds - msg_seconds))
	((msg_seconds > 0)) || msg_seconds=1
	rm -rf "$f/fuzz-seeds" "$f/fuzz-artifacts"
	mkdir -p "$f/fuzz-corpus" "$f/fuzz-corpus-msg" "$f/fuzz-artifacts"
	"$f/tests/fuzz/fuzz_mkseed" "$f/fuzz-seeds" || return 1
	echo "==> fuzz_attach: ${attach_seconds}s"
	$nice_cmd "$f/tests/fuzz/fuzz_attach" -max_total_time="$attach_seconds" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$f/fuzz-artifacts/" \
		"$f/fuzz-corpus" "$f/fuzz-seeds" tests/fuzz/regress 2>"$f/fuzz-attach.log" || {
		tail -60 "$f/fuzz-attach.log"
		return 1
	}
	grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units)' "$f/fuzz-attach.log" || true
	echo "==> fuzz_msg: ${msg_seconds}s"
	$nice_cmd "$f/tests/fuzz/fuzz_msg" -max_total_time="$msg_seconds" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$f/fuzz-artifacts/msg-" \
		"$f/fuzz-corpus-msg" tests/fuzz/regress-msg 2>"$f/fuzz-msg.log" || {
		tail -60 "$f/fuzz-msg.log"
		return 1
	}
	grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units)' "$f/fuzz-msg.log" || true
}

# The Promela model of the sleep/wake protocol: exhaustive safety and
# liveness (acceptance cycles) search; any error fails the step.
step_spin() {
	bash tests/spin/check.sh
}

steps=("$@")
((${#steps[@]})) || steps=(tsan fuzz spin)
for s in "${steps[@]}"; do
	if ! declare -F "step_$s" >/dev/null; then
		echo "unknown step '$s'" >&2
		exit 2
	fi
	t0=$(date +%s)
	if "step_$s"; then
		took[$s]="ok $(($(date +%s) - t0))s"
	else
		took[$s]="FAILED $(($(date +%s) - t0))s"
		failed+=("$s")
	fi
	echo "<== $s: ${took[$s]}"
done

echo "ci-extra summary:"
for s in "${steps[@]}"; do
	echo "  $s: ${took[$s]}"
done
if ((${#failed[@]})); then
	echo "FAILED: ${failed[*]}" >&2
	exit 1
fi
