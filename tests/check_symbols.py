#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The exported-symbol line of libshmring.so.

src/libshmring.map names every exported symbol: the public API (sorted),
then the internal symbols that must be exported because public inline
functions, compiled into the user's program, refer to them (names with the
`__` marker, sorted, after the marker comment). This check fails when

  - the built shared library exports anything else, or misses a name;
  - an exported name has the `__` marker but is not one of those
    exceptions, or an exception is not referenced by the inline code
    (the inline functions compiled as symbols, src/ffi.c: their undefined
    shmring symbols are what a user's program needs from the library);
  - the inline code refers to a library symbol the map does not export;
  - the public names of the map differ from the functions the public
    headers declare SHMRING_API or SHMRING_(FORCE_)INLINE without the marker;
  - a list is not sorted.

Usage: check_symbols.py [--without=HEADER.h]... MAP LIBSHMRING_SO
                        FFI_OBJECT_OR_ARCHIVE INCLUDE_DIR [NM]
--without names a public header whose functions this build of the library
leaves out (set.h without liburcu): they must then not be exported.
"""
import re
import subprocess
import sys

EXCEPTIONS_MARK = "Internal, exported only because"


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", lambda m: " " * len(m.group(0)), text, flags=re.S)


def read_map(path):
    """(public names in order, exception names in order) of the map."""
    text = open(path, encoding="utf-8").read()
    at = text.find(EXCEPTIONS_MARK)
    if at < 0:
        sys.exit(f"{path}: no '{EXCEPTIONS_MARK}' comment before the exceptions")
    body = strip_comments(text)
    g = body.find("global:")
    loc = body.find("local:")
    if g < 0 or loc < 0 or loc < g:
        sys.exit(f"{path}: expected one 'global:' list followed by 'local:'")
    if re.search(r"[*?\[]", body[g:loc]):
        sys.exit(f"{path}: the global list must name symbols, not patterns")
    public, exceptions = [], []
    for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)\s*;", body[g:loc]):
        (exceptions if g + m.start() > at else public).append(m.group(1))
    return public, exceptions


def nm(nm_prog, args):
    out = subprocess.run([nm_prog] + args, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 2 and len(f[-2]) == 1:
            rows.append((f[-2], f[-1]))
    return rows


def header_names(include_dir, only=None):
    """Function (and data) names declared SHMRING_API / SHMRING_INLINE /
    SHMRING_FORCE_INLINE (in the headers named `only`, or in all)."""
    import glob
    import os

    names = set()
    for path in sorted(glob.glob(os.path.join(include_dir, "*.h"))):
        if only is not None and os.path.basename(path) not in only:
            continue
        text = strip_comments(open(path, encoding="utf-8").read())
        for m in re.finditer(r"\bSHMRING_(?:API|INLINE|FORCE_INLINE)\b", text):
            line_start = text.rfind("\n", 0, m.start()) + 1
            if text[line_start:m.start()].strip().startswith("#"):
                continue  # the macro's own definition
            end = min(i for i in (text.find(";", m.end()), text.find("{", m.end())) if i >= 0)
            decl = text[m.end():end]
            f = re.search(r"\b(shmring_\w*)\s*\(", decl)
            if f is None:
                f = re.search(r"\b(shmring_\w*)\s*$", decl)  # data
            if f is None:
                sys.exit(f"{path}: no shmring_ name in declaration '{decl.strip()[:60]}'")
            names.add(f.group(1))
    return names


def main():
    args = sys.argv[1:]
    without = [a.split("=", 1)[1] for a in args if a.startswith("--without=")]
    args = [a for a in args if not a.startswith("--without=")]
    if len(args) not in (4, 5):
        sys.exit(__doc__)
    map_path, lib, ffi, include_dir = args[:4]
    nm_prog = args[4] if len(args) == 5 else "nm"
    errors = []
    left_out = header_names(include_dir, without) if without else set()

    public, exceptions = read_map(map_path)
    for label, lst in (("public list", public), ("exception list", exceptions)):
        if lst != sorted(lst):
            errors.append(f"map: the {label} is not sorted")
        dup = sorted({n for n in lst if lst.count(n) > 1})
        if dup:
            errors.append(f"map: listed twice in the {label}: {' '.join(dup)}")
    for n in public:
        if "__" in n:
            errors.append(f"map: internal name {n} in the public list")
    for n in exceptions:
        if "__" not in n:
            errors.append(f"map: {n} among the exceptions has no __ marker")
    listed = set(public) | set(exceptions)

    # What the shared library exports (the version node is an 'A' symbol).
    exported = {name.split("@")[0] for t, name in nm(nm_prog, ["-D", "--defined-only", lib]) if t != "A"}
    for n in sorted(exported - listed):
        errors.append(f"{lib}: exports {n}, which the map does not list")
    for n in sorted(listed - exported - left_out):
        errors.append(f"{lib}: does not export {n}, which the map lists")
    for n in sorted(left_out & exported):
        errors.append(f"{lib}: exports {n}, which this build should leave out ({', '.join(without)})")
    for n in sorted(exported):
        if "__" in n and n not in exceptions:
            errors.append(f"{lib}: exports the internal name {n}")

    # What the inline code needs from the library.
    needed = {name for t, name in nm(nm_prog, ["-u", ffi]) if name.startswith("shmring")}
    if not needed:
        errors.append(f"{ffi}: refers to no shmring symbol (not the inline code?)")
    for n in sorted(needed - exported):
        errors.append(f"inline code refers to {n}, which the library does not export")
    for n in exceptions:
        if n not in needed:
            errors.append(f"map: exception {n} is not referenced by any inline function")

    # The headers' public names against the map's.
    declared = {n for n in header_names(include_dir) if "__" not in n}
    for n in sorted(declared - set(public)):
        errors.append(f"headers declare {n}, which the map's public list lacks")
    for n in sorted(set(public) - declared):
        errors.append(f"map lists {n}, which no public header declares")

    for e in errors:
        print("FAIL:", e)
    if errors:
        return 1
    print(f"ok: {len(public)} public symbols, {len(exceptions)} required internal "
          f"({' '.join(exceptions)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
