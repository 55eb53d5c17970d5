#!/usr/bin/env bash
# Install what is missing, build (optimised), and run the main job: the
# two-process demo that passes 10 million messages through a ring and
# through a pipe, and a ping-pong round trip over each.
# Usage: bash tools/bench.sh [shmring-demo options]
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
ninja -C "$dir" tools/shmring-demo

exec "$dir/tools/shmring-demo" "$@"
