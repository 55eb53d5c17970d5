#!/usr/bin/env bash
# Model-check the sleep/wake protocol (wait.pml): the real epoch protocol
# (every arm bumps E, the waker skips while E == its last wake), early
# returns (deadline, EINTR, spurious), runs bounded to ARMS arms per process.
#   1. 2 producers + 1 consumer (two sleepers on the producers' block, two
#      wakers with their own epoch memory on the consumers'), one early
#      return per process: safety, exhaustive within the bound: no
#      assertion failure, no invalid end state (a process asleep forever:
#      a lost wakeup, or a deadlock); then ltl all_done with acceptance
#      cycles (pan -a): every run ends, no cycle (livelock);
#   2. 1 producer + 2 consumers, 2 messages (two sleepers on the
#      consumers' block), no early return (with one the search does not
#      fit a minute): safety;
#   3. 2 producers + 2 consumers (two sleepers and two wakers on both
#      blocks), one arm per process, no early return (with two arms the
#      search takes minutes): safety;
#   4. each mutant (a barrier, re-check or epoch bump removed) must FAIL
#      the 2P1C safety run: the model can tell a broken protocol from a
#      sound one;
#   5. the MPMC claim-mode handshake (solo.pml, store buffers modelled):
#      no position claimed twice, and each of its 5 mutants caught.
# Exit status 0 only if all of that holds. Needs spin and a C compiler.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/shmring-spin.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/wait.pml" "$here/solo.pml" "$work/"
cd "$work"
cc=${CC:-cc}
# 2^24 hash slots (128 MiB) hold the 7-10 M states of each run.
pan_opts=(-m2000000 -w24)
status=0

# build <name> <mode: safety|accept> [spin -D defines...]
build() {
	local name=$1 mode=$2
	shift 2
	spin "$@" -a "$model" >/dev/null
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
		[[ -f $model.trail ]] && spin -t -p -g "$model" | tail -60
		status=1
	fi
	rm -f "$model.trail"
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
	rm -f "$model.trail"
}

model=wait.pml
p2c1=(-DNP=2 -DNC=1)
check_ok p2c1 safety "${p2c1[@]}"
check_ok p2c1 accept "${p2c1[@]}"
check_ok p1c2 safety -DNP=1 -DNC=2 -DPER=2 -DEARLY=0
check_ok p2c2 safety -DNP=2 -DNC=2 -DARMS=1 -DEARLY=0
check_fails no_w2 "${p2c1[@]}" -DNO_W2
check_fails late_s1 "${p2c1[@]}" -DLATE_S1
check_fails no_s4 "${p2c1[@]}" -DNO_S4
check_fails no_s1_bump "${p2c1[@]}" -DNO_S1_BUMP

# The MPMC claim mode (solo.pml): two claimers with store buffers, one
# claim and one request for the mode each, the word starting with
# claimer 0 holding it and starting shared; each mutant must fail both.
# (-DOPS=2: 67 M states, 2 minutes, also 0 errors; not run here.)
model=solo.pml
check_ok solo_held safety -DOPS=1
check_ok solo_shared safety -DOPS=1 -DSTART_SHARED
for m in NO_BARRIER NO_GRANT_BARRIER NO_LEAVE_WAIT NO_GRANT_WAIT DIRECT; do
	check_fails "solo_held_$m" -DOPS=1 "-D$m"
	check_fails "solo_shared_$m" -DOPS=1 -DSTART_SHARED "-D$m"
done
exit $status
