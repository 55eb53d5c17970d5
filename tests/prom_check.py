#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check a Prometheus text exposition (format 0.0.4) read from stdin.

Every line is a HELP or TYPE comment or a sample `name{labels} value`;
names and label names are valid; every sample's family has HELP and TYPE
lines before it, each once; a family's samples form one group; counters
end in _total; no series appears twice; every name starts with shmring_.
On success prints "samples N", then one line per series: its key
(name{a="x",...}, labels sorted, values unescaped), a tab, its value,
for the caller's checks. Exit status 1 and a message on the first
violation.
"""
import re
import sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
TYPES = {'counter', 'gauge', 'histogram', 'summary', 'untyped'}


def fail(n, line, why):
    sys.stderr.write('line %d: %s\n  %r\n' % (n, why, line))
    sys.exit(1)


def parse_labels(n, line, s, i):
    """Parse {a="x",b="y"} from s[i] == '{'; return (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if s[i] == '}':
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            fail(n, line, 'bad label name at %d' % i)
        key = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            fail(n, line, 'label %s: no =" after the name' % key)
        i += 2
        val = []
        while True:
            if i >= len(s):
                fail(n, line, 'label %s: unterminated value' % key)
            c = s[i]
            if c == '\\':
                e = s[i + 1:i + 2]
                if e == '\\':
                    val.append('\\')
                elif e == '"':
                    val.append('"')
                elif e == 'n':
                    val.append('\n')
                else:
                    fail(n, line, 'label %s: bad escape \\%s' % (key, e))
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == '\n':
                fail(n, line, 'raw newline in a label value')
            else:
                val.append(c)
                i += 1
        if key in labels:
            fail(n, line, 'label %s twice' % key)
        labels[key] = ''.join(val)
        if s[i] == ',':
            i += 1
        elif s[i] != '}':
            fail(n, line, 'expected , or } after label %s' % key)


def main():
    text = sys.stdin.read()
    if not text.endswith('\n'):
        fail(0, text[-80:], 'the exposition does not end with a newline')
    helps, types, done = {}, {}, set()
    current = None
    series = {}
    for n, line in enumerate(text.split('\n')[:-1], 1):
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if len(parts) < 3 or parts[1] not in ('HELP', 'TYPE'):
                continue  # another comment: allowed
            name = parts[2]
            if not NAME.fullmatch(name):
                fail(n, line, 'bad metric name in comment')
            table = helps if parts[1] == 'HELP' else types
            if name in table:
                fail(n, line, '%s given twice for %s' % (parts[1], name))
            if len(parts) < 4 or not parts[3].strip():
                fail(n, line, '%s without text' % parts[1])
            if parts[1] == 'TYPE' and parts[3] not in TYPES:
                fail(n, line, 'unknown type %s' % parts[3])
            table[name] = parts[3]
            if name in done:
                fail(n, line, 'family %s reopened' % name)
            if current and current != name:
                done.add(current)
            current = name
            continue
        if not line.strip():
            fail(n, line, 'empty line')
        m = NAME.match(line)
        if not m:
            fail(n, line, 'no metric name')
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == '{':
            labels, i = parse_labels(n, line, line, i)
        if line[i:i + 1] != ' ':
            fail(n, line, 'no space before the value')
        rest = line[i + 1:].split(' ')
        if len(rest) not in (1, 2):
            fail(n, line, 'value (and timestamp) expected')
        try:
            value = float(rest[0])
        except ValueError:
            fail(n, line, 'value %r is not a number' % rest[0])
        if not name.startswith('shmring_'):
            fail(n, line, 'name without the shmring_ prefix')
        if name not in helps or name not in types:
            fail(n, line, 'sample of %s before its HELP and TYPE' % name)
        if name != current:
            fail(n, line, 'sample of %s outside its family group' % name)
        if types[name] == 'counter' and not name.endswith('_total'):
            fail(n, line, 'counter %s does not end in _total' % name)
        if types[name] != 'counter' and name.endswith('_total'):
            fail(n, line, '%s ends in _total but is a %s' % (name, types[name]))
        if value < 0:
            fail(n, line, 'negative value')
        key = name + '{' + ','.join('%s="%s"' % (k, labels[k]) for k in sorted(labels)) + '}'
        if key in series:
            fail(n, line, 'series given twice')
        series[key] = value
    for name in types:
        if name not in helps:
            fail(0, name, 'TYPE without HELP')
    out = ['samples %d' % len(series)]
    out += ['%s\t%r' % (k, v) for k, v in series.items()]
    print('\n'.join(out))


main()
