#!/usr/bin/env bash
# Install the Debian 12 packages that shmring's build, tests and benchmark
# need. Installs only what is missing; runs apt-get update only then.
# Non-interactive; uses sudo when not run as root.
set -euo pipefail

packages=(
	# build
	meson ninja-build pkg-config gcc g++ libc6-dev clang
	# <linux/membarrier.h> (the MPMC claim mode), <linux/futex.h>
	linux-libc-dev
	# libraries
	libhwloc-dev hwloc liburcu-dev libcriterion-dev
	# static linking (pkg-config --static, tools/examples.sh): hwloc.pc's
	# Libs.private names -ludev, which libhwloc-dev does not pull in
	libudev-dev
	# readiness fds through io_uring futex waits; the event-loop examples
	liburing-dev libuv1-dev
	# benchmark baselines and plots
	libck-dev libdpdk-dev libboost-dev gnuplot-nox python3
	# verification: libFuzzer/sanitizer runtimes, model checker, load generator
	libclang-rt-14-dev spin stress-ng
	# manual pages: the man test renders every page with groff and man
	groff-base man-db
	# the metrics exporter's test scrapes shmring-dump --listen with it
	curl
	# the Python binding (python/), its tests, numpy interop in them
	python3-cffi python3-pytest python3-dev python3-numpy
	# the bridge to NATS JetStream (libnats) and its tests' server
	libnats-dev nats-server
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[[ "$status" == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "setup: all ${#packages[@]} packages are installed"
	exit 0
fi

sudo=()
if ((EUID != 0)); then
	command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
	sudo=(sudo -n)
	[[ -t 0 ]] && sudo=(sudo)
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
