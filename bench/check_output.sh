#!/bin/sh
# Smoke test of shmring-bench: a tiny run; checks that every case ran and
# that the table, the CSV and the JSON are well formed. Not the timings.
set -eu
bench=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$bench" --list > "$dir/list"
test -s "$dir/list"

"$bench" --quick --quiet --csv "$dir/out.csv" --json "$dir/out.json" > "$dir/table" 2> "$dir/err" || {
	cat "$dir/err" "$dir/table"; exit 1; }

grep -q '^Throughput' "$dir/table"
grep -q '^Round trip' "$dir/table"
grep -q '^Targets' "$dir/table"
grep -q '^Machine: ' "$dir/table"
# the SPSC lines at 64 B and as processes (every build has a peer there)
grep -q '^  SPSC 64 B vs best single-op peer ' "$dir/table"
grep -q '^  SPSC 64 B processes vs best single-op peer ' "$dir/table"
# the broadcast lines: readers, against SPSC, against the fan-out, round trip
for size in 8 64; do
	grep -q "^  broadcast $size B, 4 readers vs 1 reader " "$dir/table"
	grep -q "^  broadcast $size B, 1 reader vs SPSC processes " "$dir/table"
	grep -q "^  broadcast $size B, 4 readers vs SPSC fan-out " "$dir/table"
done
grep -q '^  broadcast round trip p50 vs SPSC, processes ' "$dir/table"
grep -q '^shmring-bcast-lossy .* 1x4  lost ' "$dir/table"
if grep -q FAILED "$dir/table"; then cat "$dir/table"; exit 1; fi

# CSV: the header, 21 fields on every line, numbers where numbers belong,
# and the subjects every build has, plus the optional SPSC peers this build
# lists (8 and 64 B, threads and processes).
want="tput:shmring-spsc tput:shmring-spsc-burst tput:shmring-spsc-typed rtt:shmring-spsc tput:pipe rtt:pipe rtt:cacheline rtt:futex tput:xcopy tput:memcpy tput:vyukov"
# broadcast: lossless and the fan-out at 8 and 64 B, lossy, round trip
want="$want tput:shmring-bcast:proc:8 tput:shmring-bcast:proc:64 tput:spsc-fanout:proc:8 tput:spsc-fanout:proc:64"
want="$want tput:shmring-bcast-lossy:proc:8 rtt:shmring-bcast:proc:8"
for s in lamport-cached lamport-cached-burst boost-spsc boost-spsc-burst; do
	if grep -q "^$s " "$dir/list"; then
		for m in thr proc; do
			want="$want tput:$s:$m:8 tput:$s:$m:64"
		done
	fi
done
grep -q '^lamport-cached ' "$dir/list" # the reference is in every build
awk -F, -v want="$want" '
NR == 1 { if ($0 != "test,subject,group,mode,wait,size,prod,cons,burst,metric,unit,median,min,max,reps,samples,vs_best,best,vs_floor,floor,preempt") { print "bad header: " $0; bad = 1 } next }
NF != 21 { print "line " NR ": " NF " fields"; bad = 1 }
$1 != "tput" && $1 != "rtt" { print "line " NR ": test " $1; bad = 1 }
$12 !~ /^[0-9.e+]+$/ || $13 !~ /^[0-9.e+]+$/ || $14 !~ /^[0-9.e+]+$/ { print "line " NR ": values " $12 " " $13 " " $14; bad = 1 }
$12 + 0 < $13 + 0 || $12 + 0 > $14 + 0 { print "line " NR ": median outside min-max"; bad = 1 }
$15 != 2 { print "line " NR ": reps " $15; bad = 1 }
{ seen[$1 ":" $2] = 1; seen[$1 ":" $2 ":" $4 ":" $6] = 1 }
END {
	n = split(want, w, " ")
	for (i = 1; i <= n; i++) if (!(w[i] in seen)) { print "missing " w[i]; bad = 1 }
	exit bad
}' "$dir/out.csv"

# JSON: parses, and has as many results as the CSV has cases.
if command -v python3 > /dev/null; then
	python3 - "$dir/out.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["tool"] == "shmring-bench"
assert d["results"], "no results"
for r in d["results"]:
    assert "error" not in r, r
    if r["test"] == "rtt":
        assert r["p50"]["median"] <= r["max"]["median"], r
    else:
        assert r["msgs_per_s"]["median"] > 0, r
PY
fi
echo "ok: $(($(wc -l < "$dir/out.csv") - 1)) figures"
