#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Print where `meson install` puts the package: meson's choice (argv[2])
when this python3 looks there (sys.path), else this python3's own
site-packages directory under the install prefix (argv[1]), else
meson's choice all the same.

Debian's python3 looks in PREFIX/lib/python3.X/dist-packages for the
prefix /usr/local, while meson 1.0 picks PREFIX/lib/python3/dist-packages
there, which it never reads."""

import os
import sys


def main():
    prefix, default = os.path.normpath(sys.argv[1]), os.path.normpath(sys.argv[2])
    paths = [os.path.normpath(p) for p in sys.path if p]
    if default in paths:
        return default
    for p in paths:
        rel = os.path.relpath(p, prefix)
        if rel.startswith("lib") and os.path.basename(p) in ("site-packages", "dist-packages"):
            return p
    return default


if __name__ == "__main__":
    print(main())
