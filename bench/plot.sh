#!/bin/sh
# Render PNG plots from a shmring-bench CSV with gnuplot (Debian: gnuplot-nox).
#
#   plot.sh results.csv [outdir]
#
# Writes to outdir (default: the CSV's directory):
#   throughput-size.png  bytes/s against message size, log-log, one line per
#                        subject (threads, one producer and one consumer)
#   throughput-8b.png    messages/s of every subject at 8 bytes, median with
#                        min-max bars
#   latency.png          round-trip percentiles p50, p90, p99, p99.9 per ring
set -eu

csv=${1:?usage: plot.sh results.csv [outdir]}
out=${2:-$(dirname "$csv")}
command -v gnuplot > /dev/null || { echo "plot.sh: gnuplot not found (apt install gnuplot-nox)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- throughput against size: one data block per subject ---
awk -F, -v dir="$tmp" '
NR > 1 && $1 == "tput" && $10 == "bytes" && $4 == "thr" && $7 == 1 && $8 == 1 && $12 != "nan" {
	n[$2]++
	if (n[$2] == 1) order[++k] = $2
	line[$2] = line[$2] $6 " " $12 " " $13 " " $14 "\n"
}
END {
	for (i = 1; i <= k; i++) if (n[order[i]] > 1) {
		f = dir "/size_" i ".dat"
		printf "%s", line[order[i]] > f
		print f " " order[i] > (dir "/size.list")
	}
}' "$csv"

if [ -s "$tmp/size.list" ]; then
	plots=""
	while read -r f name; do
		[ -n "$plots" ] && plots="$plots, "
		plots="$plots'$f' using 1:(\$2/1e9):(\$3/1e9):(\$4/1e9) with yerrorlines title '$name'"
	done < "$tmp/size.list"
	gnuplot <<EOF
set terminal pngcairo size 1100,700 font ",10"
set output '$out/throughput-size.png'
set title 'One-way throughput against message size (threads, 1 producer, 1 consumer; median, min-max)'
set logscale xy 2
set logscale y 10
set xlabel 'message size (bytes)'
set ylabel 'GB/s'
set grid
set key outside right top
set format x '%.0s%cB'
set format y '%g'
plot $plots
EOF
fi

# --- messages/s at 8 bytes, every subject and shape ---
awk -F, 'NR > 1 && $1 == "tput" && $10 == "msgs" && $6 == 8 && $12 != "nan" && $3 != "floor" {
	label = $2 " " $4
	if ($7 != 1 || $8 != 1) label = label " " $7 "P" $8 "C"
	if ($9 > 1) label = label " b" $9
	print "\"" label "\" " $12 / 1e6 " " $13 / 1e6 " " $14 / 1e6 " " ($3 == "shmring" ? 1 : 2)
}' "$csv" > "$tmp/rate8.dat"

if [ -s "$tmp/rate8.dat" ]; then
	gnuplot <<EOF
set terminal pngcairo size 1100,650 font ",10"
set output '$out/throughput-8b.png'
set title '8-byte messages: one-way throughput (median, min-max of the repetitions)'
set style fill solid 0.6 border -1
set boxwidth 0.7
set logscale y 10
set ylabel 'million messages/s'
set xtics rotate by -45 left
set grid ytics
set key off
set bmargin 10
set rmargin 10
set palette defined (1 '#1f77b4', 2 '#aaaaaa')
unset colorbox
plot '$tmp/rate8.dat' using 0:2:3:4:(0.7):5:xtic(1) with boxerrorbars lc palette
EOF
fi

# --- latency percentiles per ring ---
awk -F, 'NR > 1 && $1 == "rtt" && $12 != "nan" {
	key = $2 " " $4
	if (!(key in seen)) { seen[key] = ++k; names[k] = key }
	v[key, $10] = $12
}
END {
	for (i = 1; i <= k; i++) {
		key = names[i]
		print "\"" key "\" " v[key, "p50"] " " v[key, "p90"] " " v[key, "p99"] " " v[key, "p99.9"]
	}
}' "$csv" > "$tmp/lat.dat"

if [ -s "$tmp/lat.dat" ]; then
	gnuplot <<EOF
set terminal pngcairo size 1100,650 font ",10"
set output '$out/latency.png'
set title 'Round trip over two rings: percentiles (median of the repetitions)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.7 border -1
set logscale y 10
set ylabel 'ns'
set xtics rotate by -45 left
set grid ytics
set key top left
set bmargin 9
plot '$tmp/lat.dat' using 2:xtic(1) title 'p50', '' using 3 title 'p90', '' using 4 title 'p99', '' using 5 title 'p99.9'
EOF
fi

ls "$out"/throughput-size.png "$out"/throughput-8b.png "$out"/latency.png 2> /dev/null || true
