#!/usr/bin/env python3
"""The fast paths compile inline into an outside program.

Compiles tests/inline/fastpath.c (loops over the fast paths of each ring
kind) at -O2 against the public headers, as a user's program would be,
disassembles the object with objdump -dr and fails if one of its loop_*
functions calls or tail-calls a fast-path function: one declared
SHMRING_FORCE_INLINE in a public header, or one of the shmring_ functions
the loops call by name. Calls to the out-of-line slow paths (futex wakes,
refresh, recovery) and to other helpers are allowed.

Usage: check_inline.py INCLUDE_DIR SOURCE OBJDUMP CC [CC_ARGS...]
"""
import glob
import os
import re
import subprocess
import sys
import tempfile


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def forced_names(include_dir):
    names = set()
    for path in glob.glob(os.path.join(include_dir, "shmring", "*.h")):
        text = strip_comments(open(path, encoding="utf-8").read())
        for m in re.finditer(r"^SHMRING_FORCE_INLINE\b[^;{]*?\b(shmring_\w+)\s*\(", text, re.M):
            names.add(m.group(1))
    return names


def called_names(source):
    text = strip_comments(open(source, encoding="utf-8").read())
    return set(re.findall(r"\b(shmring_\w+)\s*\(", text))


def loop_calls(dump):
    """(function, target) for each call or jump out of a loop_* function."""
    calls = []
    func = None
    pending = None  # a call whose target is in the relocation line below
    for line in dump.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if m:
            func = m.group(1) if m.group(1).startswith("loop_") else None
            pending = None
            continue
        if func is None:
            continue
        r = re.match(r"^\s+[0-9a-f]+: R_\w+\s+([\w.]+)", line)
        if r and pending:
            calls.append((func, r.group(1)))
            pending = None
            continue
        i = re.match(r"^\s+[0-9a-f]+:\s+(?:[0-9a-f]{2} )+\s*(\w+)\s+(.*)$", line)
        if not i:
            continue
        op, arg = i.group(1), i.group(2)
        if not (op.startswith("call") or op.startswith("jmp") or op in ("bl", "b")):
            pending = None
            continue
        t = re.search(r"<([\w.]+)(\+0x[0-9a-f]+)?>", arg)
        if t is None:
            pending = None
            continue
        if t.group(1) == func:
            pending = func  # unresolved: the relocation names the target
        else:
            calls.append((func, t.group(1)))
            pending = None
    return calls


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    include_dir, source, objdump = sys.argv[1:4]
    cc = sys.argv[4:]
    fast = forced_names(include_dir) | called_names(source)
    with tempfile.TemporaryDirectory() as tmp:
        obj = os.path.join(tmp, "fastpath.o")
        subprocess.run(cc + ["-std=c11", "-O2", "-I", include_dir, "-c", source, "-o", obj],
                       check=True)
        dump = subprocess.run([objdump, "-dr", obj], check=True, capture_output=True,
                              text=True).stdout
    funcs = set(re.findall(r"^[0-9a-f]+ <(loop_\w+)>:$", dump, re.M))
    if not funcs:
        sys.exit("no loop_* function in the disassembly")
    bad = sorted({(f, t) for f, t in loop_calls(dump)
                  if re.sub(r"\.(part|constprop|isra|cold)(\.\d+)?", "", t) in fast})
    for f, t in bad:
        print(f"{f}: calls {t} (a fast path, not inlined)")
    print(f"{len(funcs)} loops, {len(fast)} fast-path names, {len(bad)} calls to them")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
