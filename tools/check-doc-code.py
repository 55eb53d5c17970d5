#!/usr/bin/env python3
"""Check that the documentation's code cannot drift from code that runs.

1. Every ```c and ```cpp block of README.md and docs/api.md must be,
   line for line (tabs and all), a contiguous excerpt of one file in
   examples/, which tools/examples.sh builds and runs against the
   installed library.
2. In README.md and every docs/*.md, code fences are balanced: each
   opening fence has its closing fence before the file ends.

Usage: python3 tools/check-doc-code.py   (from anywhere; exit 1 on a problem)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXCERPT_DOCS = ["README.md", "docs/api.md"]
CODE_LANGS = {"c", "cpp", "c++"}
FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")


def fences(path):
    """Yield (lang, first_line_no, lines) per fenced block; raise on imbalance."""
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        # A backtick fence's info string has no backtick (CommonMark): a
        # line such as "```` ```c ```` ..." is inline code, not a fence.
        if not m or (m.group(1)[0] == "`" and "`" in m.group(2)):
            i += 1
            continue
        mark, info = m.group(1), m.group(2).strip()
        start = i + 1
        j = start
        while j < len(lines):
            c = FENCE.match(lines[j])
            if c and c.group(1)[0] == mark[0] and len(c.group(1)) >= len(mark) and not c.group(2).strip():
                break
            j += 1
        if j == len(lines):
            raise ValueError(f"{path.relative_to(ROOT)}:{i + 1}: code fence ({mark}{info}) is never closed")
        yield info.split()[0].lower() if info else "", start + 1, lines[start:j]
        i = j + 1


def main():
    examples = {}
    for f in sorted((ROOT / "examples").glob("*")):
        if f.suffix in (".c", ".cpp"):
            examples[f.name] = f.read_text(encoding="utf-8").split("\n")
    if not examples:
        print("check-doc-code: no examples/*.c or *.cpp", file=sys.stderr)
        return 1

    problems = []
    blocks = 0
    docs = sorted(set(EXCERPT_DOCS) | {str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")})
    for rel in docs:
        path = ROOT / rel
        if not path.exists():
            problems.append(f"{rel}: missing")
            continue
        try:
            found = list(fences(path))
        except ValueError as e:
            problems.append(str(e))
            continue
        if rel not in EXCERPT_DOCS:
            continue
        for lang, line, body in found:
            if lang not in CODE_LANGS:
                continue
            blocks += 1
            if not any(l.strip() for l in body):
                problems.append(f"{rel}:{line}: empty ```{lang} block")
                continue
            n = len(body)
            where = [name for name, src in examples.items()
                     if any(src[k:k + n] == body for k in range(len(src) - n + 1))]
            if not where:
                problems.append(f"{rel}:{line}: this ```{lang} block ({n} lines, "
                                f"starting {body[0].strip()!r}) is not a verbatim excerpt "
                                f"of any file in examples/: copy it from there")

    for p in problems:
        print(f"check-doc-code: {p}", file=sys.stderr)
    if not problems:
        print(f"check-doc-code: {blocks} code blocks of {', '.join(EXCERPT_DOCS)} are excerpts "
              f"of examples/; fences balanced in {len(docs)} files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
