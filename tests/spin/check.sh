#!/usr/bin/env bash
# Model-check the sleep/wake protocol (wait.pml): 2 producers, 2 consumers.
#   1. safety, exhaustive: no assertion failure, no invalid end state (a
#      process asleep forever: a lost wakeup, or a deadlock);
#   2. ltl all_done with acceptance cycles (pan -a): every run ends with
#      every process finished, and there is no cycle (livelock);
#   3. each mutant (a barrier or re-check removed) must FAIL the safety
#      run: the model can tell a broken protocol from a sound one.
# Exit status 0 only if all of that holds. Needs spin and a C compiler.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/shmring-spin.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/wait.pml" "$work/"
cd "$work"
cc=${CC:-cc}
# 2^23 hash slots (64 MiB) hold the ~4 M states with room to spare.
pan_opts=(-m2000000 -w23)
status=0

# build <name> <mode: safety|accept> [spin -D defines...]
build() {
	local name=$1 mode=$2
	shift 2
	spin "$@" -a wait.pml >/dev/null
	if [[ $mode == safety ]]; then
		$cc -O2 -w -DSAFETY -DNOCLAIM -DCOLLAPSE -o "pan_$name" pan.c
	else
		$cc -O2 -w -DCOLLAPSE -o "pan_$name" pan.c
	fi
}

# errors reported by a pan run's output
errors_of() {
	sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$1" | tail -1
}

check_ok() {
	local name=$1 mode=$2 out
	shift 2
	build "$name" "$mode" "$@"
	out="$name.out"
	if [[ $mode == safety ]]; then
		nice "./pan_$name" "${pan_opts[@]}" >"$out" 2>&1 || true
	else
		nice "./pan_$name" -a "${pan_opts[@]}" >"$out" 2>&1 || true
	fi
	local e
	e=$(errors_of "$out")
	if [[ $e == 0 ]] && grep -q 'Full statespace search' "$out" &&
		! grep -q 'max search depth too small' "$out"; then
		echo "spin: $name ($mode): 0 errors, $(sed -n 's/^ *\([0-9e.+]*\) states, stored.*/\1/p' "$out") states"
	else
		echo "spin: $name ($mode): FAILED (errors: ${e:-?})"
		cat "$out"
		[[ -f wait.pml.trail ]] && spin -t -p -g wait.pml | tail -60
		status=1
	fi
	rm -f wait.pml.trail
}

check_fails() {
	local name=$1
	shift
	build "$name" safety "$@"
	nice "./pan_$name" "${pan_opts[@]}" >"$name.out" 2>&1 || true
	local e
	e=$(errors_of "$name.out")
	if [[ -n $e && $e != 0 ]] && grep -q 'invalid end state\|assertion violated' "$name.out"; then
		echo "spin: mutant $name: error found as expected ($(grep -o 'invalid end state\|assertion violated' "$name.out" | head -1))"
	else
		echo "spin: mutant $name: NOT detected (errors: ${e:-?}): the model has lost its teeth"
		cat "$name.out"
		status=1
	fi
	rm -f wait.pml.trail
}

check_ok protocol safety
check_ok protocol accept
check_fails no_w2 -DNO_W2
check_fails late_s1 -DLATE_S1
check_fails no_s4 -DNO_S4
exit $status
