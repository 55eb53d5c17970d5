# SPDX-License-Identifier: MIT
"""C <-> Python streams through real processes, every ring kind and ring
sets: ringpeer (C) on one side, pypeer.py (the binding) on the other,
each message checked (sequence, length, payload, CRC-32) and counted
exactly once."""

import struct

import pytest

import shmring
from conftest import COUNT, check_ok, start, unique

DIRECTIONS = [("c", "py"), ("py", "c")]
IDS = ["c-to-py", "py-to-c"]
M64 = (1 << 64) - 1
STOP_MESSAGE = struct.pack("<IIQII", 0x504F5453, 0, 0, 0, 0)  # pypeer.py, ringpeer.c


def expect(n):
    """A producer's [count, sum, sum of squares] for seqs 0 .. n-1."""
    return [n, (n * (n - 1) // 2) & M64, ((n - 1) * n * (2 * n - 1) // 6) & M64]


def create(name, kind):
    """The ring, made by the test itself (attached as neither side)."""
    if kind in ("spsc", "mpmc"):
        return shmring.Ring.create(name, shmring.Kind[kind.upper()], 1024, 64, shmring.NONE)
    return shmring.Ring.create(name, shmring.Kind[kind.upper()], 1 << 16, 512, shmring.NONE)


def merge(summaries):
    per = {}
    for s in summaries:
        assert s["bad"] == 0, s
        for p, (n, a, b) in s["producers"].items():
            c = per.setdefault(p, [0, 0, 0])
            c[0] += n
            c[1] = (c[1] + a) & M64
            c[2] = (c[2] + b) & M64
    return per


@pytest.mark.parametrize("kind", ["spsc", "msg_spsc"])
@pytest.mark.parametrize("prod,cons", DIRECTIONS, ids=IDS)
def test_stream(name, kind, prod, cons):
    """COUNT messages, one producer, one consumer."""
    with create(name, kind):
        c = start(cons, "consume", name, "--kind", kind, "--count", COUNT)
        p = start(prod, "produce", name, "--kind", kind, "--count", COUNT)
        check_ok(p)
        s = check_ok(c)
    assert s == {"count": COUNT, "bad": 0, "producers": {"0": expect(COUNT)}}


@pytest.mark.parametrize("prod,cons", DIRECTIONS, ids=IDS)
def test_mpmc(name, prod, cons):
    """Two producers, two consumers; a stop message each ends the consumers."""
    n = max(COUNT // 10, 1000)
    with create(name, "mpmc"):
        cs = [start(cons, "consume", name, "--kind", "mpmc", "--until-stop") for _ in range(2)]
        ps = [start(prod, "produce", name, "--kind", "mpmc", "--count", n, "--producer", i)
              for i in range(2)]
        for p in ps:
            check_ok(p)
        with shmring.Ring.open(name, shmring.PRODUCER) as stopper:
            for _ in cs:
                stopper.push_wait(STOP_MESSAGE, timeout=60)
        per = merge([check_ok(c) for c in cs])
    assert per == {"0": expect(n), "1": expect(n)}


@pytest.mark.parametrize("prod,cons", DIRECTIONS, ids=IDS)
def test_msg_mpsc(name, prod, cons):
    """Two producers, one consumer of a variable-length MPSC ring."""
    n = max(COUNT // 10, 1000)
    with create(name, "msg_mpsc"):
        c = start(cons, "consume", name, "--kind", "msg_mpsc", "--count", n, "--nprod", 2)
        ps = [start(prod, "produce", name, "--kind", "msg_mpsc", "--count", n, "--producer", i)
              for i in range(2)]
        for p in ps:
            check_ok(p)
        s = check_ok(c)
    assert s == {"count": 2 * n, "bad": 0, "producers": {"0": expect(n), "1": expect(n)}}


@pytest.mark.skipif(not shmring.HAVE_SETS, reason="library without ring sets")
@pytest.mark.parametrize("prod,cons", DIRECTIONS, ids=IDS)
def test_set(name, prod, cons):
    """Three producers, each with its own ring (SPSC and message rings),
    join the consumer's ring set by name; the consumer polls the set."""
    n = max(COUNT // 50, 1000)
    rings = [unique("m") for _ in range(3)]
    c = start(cons, "setconsume", name, "--count", n, "--nprod", 3)
    try:
        assert c.stdout.readline().strip() == "ready", c.stderr.read()
        ps = [start(prod, "setproduce", name, ring, "--kind", "spsc" if i % 2 else "msg_spsc",
                    "--count", n, "--producer", i) for i, ring in enumerate(rings)]
        for p in ps:
            check_ok(p)
        s = check_ok(c)
    finally:
        for ring in rings:
            try:
                shmring.unlink(ring)
            except shmring.Error:
                pass
    assert s == {"count": 3 * n, "bad": 0,
                 "producers": {str(i): expect(n) for i in range(3)}}
