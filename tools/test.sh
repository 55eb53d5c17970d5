#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite.
# Usage: bash tools/test.sh        (exit status 0 only if every suite passed)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash tools/setup.sh

failed=()
test_args=()

# run_suite <builddir> <meson setup args...>: configure (or reconfigure),
# build and run every test suite in <builddir>.
run_suite() {
	local dir=$1
	shift
	echo "==> $dir: meson setup $*"
	if [[ -f "$dir/build.ninja" ]]; then
		meson setup --reconfigure "$dir" "$@" || { failed+=("$dir (setup)"); return 1; }
	else
		meson setup "$dir" "$@" || { failed+=("$dir (setup)"); return 1; }
	fi
	echo "==> $dir: build"
	ninja -C "$dir" || { failed+=("$dir (build)"); return 1; }
	echo "==> $dir: test"
	meson test -C "$dir" --print-errorlogs "${test_args[@]}" || { failed+=("$dir (test)"); return 1; }
}

# Each suite runs even if an earlier one failed; the status reports all.
run_suite build -Dwerror=true -Dpython=enabled || true
# The examples, built and run against an installed copy of the library
# through its pkg-config file (shared and static), and the README's code
# checked against them.
bash tools/examples.sh build-examples || failed+=("examples")
# The Python binding and its tests (suite 'python') run once, in `build`
# (required there, so that CI cannot skip them); a sanitized library
# cannot be loaded into an uninstrumented python3.
# The checks that do not depend on the compiler or the sanitizers (man
# pages, the ABI reference, the exported symbols) ran in `build`.
test_args=(--no-suite docs --no-suite bridge)
# Nor the Python binding, the bridge or the benchmark programs: their
# suites run in `build`, and not building them here keeps CI short.
# clang builds everything with -Werror and runs the compile checks (suite
# build: the headers as C11 and C++, the forced inlining, the ABI); the
# suites themselves run under gcc above and under ASan+UBSan below.
test_args=(--suite build)
CC=clang run_suite build-clang -Dwerror=true -Dpython=disabled -Dbridge=disabled -Dbench=false || true
test_args=(--no-suite docs --no-suite bridge)
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true \
	-Dpython=disabled -Dbridge=disabled -Dbench=false || true
# ThreadSanitizer (suite 'tsan' only), libFuzzer, spin: see tools/ci-extra.sh
bash tools/ci-extra.sh || failed+=("ci-extra")

if ((${#failed[@]})); then
	echo "FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "all test suites passed"
