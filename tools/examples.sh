#!/usr/bin/env bash
# Build the library, install it into a temporary prefix, and build and run
# every program in examples/ against that installed copy through
# pkg-config, as a user of the library would.
#
#   bash tools/examples.sh [BUILDDIR]     (default: build-examples)
#
# BUILDDIR is configured with --prefix=<a new temporary directory> (the
# tests and the benchmark are not built there), built and installed;
# the installed shmring.pc is then used as it is, with PKG_CONFIG_PATH.
# Each examples/NAME.c is compiled with `cc -std=c11 -Wall -Wextra
# -Werror`, each examples/NAME.cpp with `c++ -std=c++17 -Wall -Wextra
# -Werror`, with `pkg-config --cflags --libs shmring` plus the packages
# named in a `/* pkg-config: pkg ... */` comment in its first lines, and
# run with no arguments (it must exit 0 within 60 s). Every C example is
# also linked against the static libshmring.a with `pkg-config --static
# --libs shmring`, which checks the installed Requires.private and
# Libs.private, and run again. An example whose extra packages pkg-config
# does not know is skipped, with a message. Before any of this,
# tools/check-doc-code.py checks that the code blocks of README.md and
# docs/api.md are excerpts of examples/.
#
# Exit status 0 only if every example that was not skipped passed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

dir=${1:-build-examples}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmring-examples.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
bin=$tmp/bin
mkdir -p "$bin"

failed=()
passed=0
skipped=0

echo "==> examples: README.md and docs/api.md code blocks against examples/"
python3 tools/check-doc-code.py || failed+=("check-doc-code")

echo "==> examples: $dir: meson setup --prefix=$prefix"
opts=(--prefix="$prefix" -Dwerror=true -Dtests=disabled -Dbench=false -Dpython=disabled)
if [[ -f "$dir/build.ninja" ]]; then
	meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
	meson setup "$dir" "${opts[@]}" >/dev/null
fi
ninja -C "$dir" >/dev/null
meson install -C "$dir" --no-rebuild --quiet

pc=$(find "$prefix" -name shmring.pc -print -quit)
[[ -n "$pc" ]] || { echo "examples: no shmring.pc under $prefix" >&2; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir shmring)
[[ "$libdir" == "$prefix"/* ]] || { echo "examples: shmring.pc libdir $libdir is not under $prefix" >&2; exit 1; }
echo "==> examples: installed: $pc"
echo "    --cflags --libs:  $(pkg-config --cflags --libs shmring)"
echo "    --static --libs:  $(pkg-config --static --libs shmring)"

# needed <binary>: the shared libraries the binary names (DT_NEEDED).
needed() {
	readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

# run_example <label> <binary>: run it with no arguments, bounded in time.
run_example() {
	local label=$1 exe=$2 out=$tmp/out
	if (cd "$tmp" && LD_LIBRARY_PATH=$libdir timeout --kill-after=5 60 "$exe") >"$out" 2>&1; then
		echo "ok     $label"
		sed 's/^/         /' "$out"
		passed=$((passed + 1))
	else
		local rc=$?
		echo "FAIL   $label (exit $rc)"
		sed 's/^/         /' "$out"
		failed+=("$label")
	fi
}

shopt -s nullglob
sources=(examples/*.c examples/*.cpp)
((${#sources[@]})) || { echo "examples: no examples/*.c or *.cpp" >&2; exit 1; }

for src in "${sources[@]}"; do
	base=$(basename "$src")
	name=${base%.*}
	# Extra packages: `/* pkg-config: a b */` (or `// pkg-config: a b`) in the first 5 lines.
	extra=$(head -n 5 "$src" | sed -n 's@^\(/\*\|//\) *pkg-config: *\([^*]*\).*@\2@p' | head -n 1)
	read -r -a pkgs <<<"$extra"
	missing=()
	for p in "${pkgs[@]}"; do
		pkg-config --exists "$p" || missing+=("$p")
	done
	if ((${#missing[@]})); then
		echo "skip   $base: pkg-config does not know ${missing[*]}"
		skipped=$((skipped + 1))
		continue
	fi

	read -r -a cflags <<<"$(pkg-config --cflags shmring "${pkgs[@]}")"
	read -r -a libs <<<"$(pkg-config --libs shmring "${pkgs[@]}")"
	if [[ $src == *.c ]]; then
		compile=(cc -std=c11 -Wall -Wextra -Werror)
	else
		compile=(c++ -std=c++17 -Wall -Wextra -Werror)
	fi

	# Shared: the installed libshmring.so, found through LD_LIBRARY_PATH.
	exe=$bin/$name
	if ! "${compile[@]}" "${cflags[@]}" -o "$exe" "$src" "${libs[@]}"; then
		echo "FAIL   $base: does not compile"
		failed+=("$base (compile)")
		continue
	fi
	if ! needed "$exe" | grep -q '^libshmring\.so\.'; then
		echo "FAIL   $base: not linked against libshmring.so"
		failed+=("$base (link)")
		continue
	fi
	run_example "$base" "$exe"

	[[ $src == *.c ]] || continue
	# Static: libshmring.a and what the installed shmring.pc says it
	# needs (Requires.private, Libs.private); the C library and the
	# dependencies' own libraries stay shared (Debian ships no static
	# libudev, which hwloc needs).
	read -r -a slibs <<<"$(pkg-config --static --libs shmring "${pkgs[@]}")"
	link=()
	for a in "${slibs[@]}"; do
		if [[ $a == -lshmring ]]; then
			link+=(-Wl,-Bstatic -lshmring -Wl,-Bdynamic)
		else
			link+=("$a")
		fi
	done
	sexe=$bin/$name-static
	if ! "${compile[@]}" "${cflags[@]}" -o "$sexe" "$src" "${link[@]}"; then
		echo "FAIL   $base (static): does not link with pkg-config --static --libs shmring"
		failed+=("$base (static link)")
		continue
	fi
	if needed "$sexe" | grep -q '^libshmring'; then
		echo "FAIL   $base (static): still needs a shared libshmring"
		failed+=("$base (static link)")
		continue
	fi
	run_example "$base (static)" "$sexe"
done

echo "examples: $passed passed, $skipped skipped, ${#failed[@]} failed"
if ((${#failed[@]})); then
	echo "FAILED: ${failed[*]}" >&2
	exit 1
fi
