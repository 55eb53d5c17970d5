#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the C source of the cffi extension module shmring._shmring_cffi.

API mode, out of line: cffi turns the declarations of shmring_cdef.h into
a CPython extension whose C part includes shmring_glue.h; meson compiles
that source against the in-tree headers and links it with the glue and
libshmring (python/meson.build).

usage: build_cffi.py OUTPUT.c [--sets]
  --sets   the library has ring sets (built with liburcu)
"""

import argparse
import os
import pathlib
import sys
import tempfile

import cffi


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output")
    ap.add_argument("--sets", action="store_true")
    args = ap.parse_args()

    here = pathlib.Path(__file__).resolve().parent
    cdef = (here / "shmring_cdef.h").read_text()
    preamble = '#include "shmring_glue.h"\n'
    if args.sets:
        cdef += (here / "shmring_set_cdef.h").read_text()
        preamble = "#define PYSHM_SETS 1\n" + preamble

    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.set_source("shmring._shmring_cffi", preamble)

    # Written whole under a temporary name, then renamed: the output is
    # always newer than the inputs (ninja) and never half written.
    out = pathlib.Path(args.output)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name + ".")
    os.close(fd)
    try:
        ffi.emit_c_code(tmp)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
