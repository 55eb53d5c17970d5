#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The manual pages (man/) against the public API and against groff.

Fails when
  - a public symbol of src/libshmring.map has no page man/<name>.3;
  - a page in man/ is not one of the pages meson installs, or the other
    way round;
  - a link page is not exactly ".so man3/<page>.3" naming a full page of
    man/, or its name is not in that page's NAME line; a name in a full
    page's NAME line has no file;
  - a full page's .TH does not name it, its section or the project
    version, or it lacks NAME, SYNOPSIS, DESCRIPTION (section 3: also
    RETURN VALUE and SEE ALSO), or a shmring page it refers to
    (.BR name (n)) does not exist;
  - groff -man -ww warns about a page (run with the pages laid out as
    man1/, man3/, man7/, so that .so links resolve as they do installed),
    or a line of it does not fit in 80 columns;
  - with man-db installed: `man -M DIR -w SECTION NAME...` does not find
    the page (through its link) of every public name, program and
    overview, or `man --warnings=w` warns about a full page or renders a
    line wider than 80 columns.

Usage: check_man.py MAN_DIR MAP VERSION PAGE...
Exits 77 (skipped) when groff is not installed.
"""
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile

WIDTH = 80  # columns of the terminal the pages must fit
LINK_RE = re.compile(r"^\.so man([1-8])/([A-Za-z0-9_.-]+)\.([1-8])\n?$")


def map_public(path):
    text = re.sub(r"/\*.*?\*/", "", open(path, encoding="utf-8").read(), flags=re.S)
    g, loc = text.find("global:"), text.find("local:")
    names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*;", text[g:loc])
    return [n for n in names if "__" not in n]


def name_line(text):
    """The names of a page's NAME section ("a, b \\- what")."""
    m = re.search(r"^\.SH NAME\n(.*?)\n\.SH", text, re.M | re.S)
    if not m:
        return None
    head = " ".join(m.group(1).split("\n"))
    if " \\- " not in head:
        return None
    return [n.strip().replace("\\-", "-") for n in head.split(" \\- ")[0].split(",")]


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    man_dir, map_path, version = sys.argv[1:4]
    listed = {os.path.basename(p): os.path.abspath(p) for p in sys.argv[4:]}
    errors = []

    groff = shutil.which("groff")
    if not groff:
        print("SKIP: groff is not installed (Debian: groff-base)")
        return 77

    present = sorted(f for f in os.listdir(man_dir) if re.search(r"\.[1-8]$", f))
    for f in present:
        if f not in listed:
            errors.append(f"man/{f} is not installed: add it to man/meson.build")
    for f in listed:
        if f not in present:
            errors.append(f"meson lists {f}, which man/ does not have")

    pages = {}  # file -> text
    for f in present:
        pages[f] = open(os.path.join(man_dir, f), encoding="utf-8").read()

    links, full = {}, {}
    for f, text in pages.items():
        if text.startswith(".so"):
            m = LINK_RE.match(text)
            if not m or m.group(1) != m.group(3):
                errors.append(f"{f}: a link page must be exactly '.so manN/PAGE.N'")
                continue
            links[f] = f"{m.group(2)}.{m.group(3)}"
        else:
            full[f] = text

    for f, target in links.items():
        if target not in full:
            errors.append(f"{f}: links to {target}, which is not a full page of man/")
            continue
        if f.rsplit(".", 1)[1] != target.rsplit(".", 1)[1]:
            errors.append(f"{f}: links across sections to {target}")
        names = name_line(full[target]) or []
        if f.rsplit(".", 1)[0] not in names:
            errors.append(f"{f}: its name is not in the NAME line of {target}")

    for f, text in full.items():
        base, sec = f.rsplit(".", 1)
        th = re.search(r'^\.TH\s+(\S+)\s+(\S+)\s+"[^"]*"\s+"([^"]*)"', text, re.M)
        if not th:
            errors.append(f"{f}: no .TH line")
        else:
            if th.group(1).lower().replace("\\-", "-") != base.lower():
                errors.append(f"{f}: .TH names {th.group(1)}")
            if th.group(2) != sec:
                errors.append(f"{f}: .TH section {th.group(2)}")
            if th.group(3) != f"shmring {version}":
                errors.append(f"{f}: .TH says '{th.group(3)}', not 'shmring {version}'")
        need = ["NAME", "SYNOPSIS", "DESCRIPTION"] if sec in ("1", "3") else ["NAME", "DESCRIPTION"]
        if sec == "3":
            need += ["RETURN VALUE", "SEE ALSO"]
        for sh in need:
            if not re.search(rf"^\.SH {sh}$", text, re.M):
                errors.append(f"{f}: no {sh} section")
        names = name_line(text)
        if names is None:
            errors.append(f"{f}: NAME is not 'name[, name...] \\- what'")
            names = []
        if base not in names:
            errors.append(f"{f}: NAME does not list {base}")
        for n in names:
            if f"{n}.{sec}" not in pages:
                errors.append(f"{f}: NAME lists {n}, which has no man/{n}.{sec}")
        if sec == "3":
            synopsis = re.search(r"^\.SH SYNOPSIS\n(.*?)^\.SH", text, re.M | re.S)
            for n in names:
                if synopsis and not re.search(rf"\b{re.escape(n)}\(", synopsis.group(1)):
                    errors.append(f"{f}: SYNOPSIS does not declare {n}")
        for ref, rsec in re.findall(r"^\.BR\s+(shmring[\w\\-]*)\s+\(([1-8])\)", text, re.M):
            target = f"{ref.replace(chr(92) + '-', '-')}.{rsec}"
            if target not in pages:
                errors.append(f"{f}: refers to {target}, which man/ does not have")

    public = map_public(map_path)
    if not public:
        errors.append(f"{map_path}: no public symbol found")
    for n in public:
        if f"{n}.3" not in pages:
            errors.append(f"{n} (exported, src/libshmring.map) has no page man/{n}.3")

    with tempfile.TemporaryDirectory() as tmp:
        for f in present:
            sec = f.rsplit(".", 1)[1]
            os.makedirs(os.path.join(tmp, f"man{sec}"), exist_ok=True)
            shutil.copy(os.path.join(man_dir, f), os.path.join(tmp, f"man{sec}", f))
        env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH=str(WIDTH), MANPAGER="cat", PAGER="cat")

        def groff_check(f):
            sec = f.rsplit(".", 1)[1]
            # -ww: every warning; plain text 78 columns wide, as man shows
            # it in an 80-column terminal, to see what does not fit.
            r = subprocess.run([groff, "-man", "-ww", "-Tutf8", "-rLL=78n", "-P-c", "-P-b", "-P-u",
                                "-P-o", f"man{sec}/{f}"], cwd=tmp, env=env, capture_output=True,
                               text=True)
            if r.returncode != 0 or r.stderr.strip():
                return f"groff on {f}: {r.stderr.strip() or 'exit ' + str(r.returncode)}"
            wide = [line for line in r.stdout.splitlines() if len(line) > WIDTH]
            if wide:
                return f"{f}: {len(wide)} line(s) wider than {WIDTH} columns: '{wide[0].strip()}'"
            return None

        man = shutil.which("man")

        def man_check(f):
            base, sec = f.rsplit(".", 1)
            r = subprocess.run([man, "-M", tmp, "--warnings=w", sec, base], env=env,
                               capture_output=True, text=True)
            if r.returncode != 0 or r.stderr.strip() or base not in r.stdout:
                return f"man {sec} {base}: {r.stderr.strip() or 'exit ' + str(r.returncode)}"
            if max(len(line) for line in r.stdout.splitlines()) > WIDTH:
                return f"man {sec} {base}: lines wider than {WIDTH} columns"
            return None

        # Link pages are their target's text: render the full pages; the
        # links are checked above and resolved by man -w below.
        jobs = [(groff_check, f) for f in sorted(full)]
        if man:
            jobs += [(man_check, f) for f in sorted(full)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            errors += [e for e in pool.map(lambda j: j[0](j[1]), jobs) if e]

        if man:
            # Every public name, program and overview, as `man NAME` finds
            # it (following .so links), in one call per section.
            topics = {"3": list(public)}
            for f in present:
                base, sec = f.rsplit(".", 1)
                if sec != "3":
                    topics.setdefault(sec, []).append(base)
            for sec, names in sorted(topics.items()):
                r = subprocess.run([man, "-M", tmp, "-w", sec] + names, env=env,
                                   capture_output=True, text=True)
                found = r.stdout.split()
                if r.returncode != 0 or r.stderr.strip() or len(found) != len(names):
                    errors.append(f"man -w {sec}: {r.stderr.strip() or 'exit ' + str(r.returncode)}")
                    continue
                for n, path in zip(names, found):
                    if os.path.basename(path).rsplit(".", 1)[0] not in [n] + [
                            links.get(f"{n}.{sec}", "").rsplit(".", 1)[0]]:
                        errors.append(f"man -w {sec} {n}: found {path}")
        else:
            print("note: man-db is not installed: checked with groff only")

    for e in errors:
        print("FAIL:", e)
    if errors:
        return 1
    print(f"ok: {len(full)} pages, {len(links)} links, {len(public)} public symbols, "
          f"all rendered without a warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
