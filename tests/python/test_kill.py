# SPDX-License-Identifier: MIT
"""A Python endpoint SIGKILLed mid-stream, again and again: the C side
goes on as usual, the next Python process takes the dead one's place
where the ring says (its position), and nothing is lost."""

import os
import random
import signal
import struct
import time

import shmring
from conftest import COUNT, check_ok, start

KILLS = 6


def kill_soon(p, rnd):
    """Let p start streaming, then SIGKILL it; whether it was still running."""
    assert p.stdout.readline().strip() == "started", p.stderr.read()
    time.sleep(rnd.uniform(0.002, 0.04))
    p.send_signal(signal.SIGKILL)
    p.wait()
    return p.returncode == -signal.SIGKILL


def test_python_producer_killed(name):
    """C consumer, Python producers killed one after another: every
    message arrives once, in order (the C side checks each)."""
    n = max(COUNT // 5, 1000)
    rnd = random.Random(os.getpid())
    with shmring.Ring.create(name, shmring.SPSC, 256, 64, shmring.NONE):
        c = start("c", "consume", name, "--kind", "spsc", "--count", n, "--retry-epipe")
        killed = 0
        for _ in range(KILLS):
            killed += kill_soon(start("py", "produce", name, "--kind", "spsc", "--count", n,
                                      "--resume", "--retry-epipe"), rnd)
        check_ok(start("py", "produce", name, "--kind", "spsc", "--count", n, "--resume",
                       "--retry-epipe"))
        s = check_ok(c)
    assert killed > 0, "no producer was still streaming when killed"
    assert s["count"] == n and s["bad"] == 0


def test_python_consumer_killed(name, tmp_path):
    """C producer, Python consumers killed one after another: each logs a
    message's seq before releasing it, so the log holds every seq, in
    order, a seq twice only where a kill fell between log and release."""
    n = max(COUNT // 5, 1000)
    rnd = random.Random(os.getpid())
    log = tmp_path / "seqs"
    with shmring.Ring.create(name, shmring.SPSC, 256, 64, shmring.NONE):
        p = start("c", "produce", name, "--kind", "spsc", "--count", n, "--retry-epipe")
        killed = 0
        for _ in range(KILLS):
            killed += kill_soon(start("py", "consume", name, "--kind", "spsc", "--count", n,
                                      "--resume", "--retry-epipe", "--log", log), rnd)
        check_ok(start("py", "consume", name, "--kind", "spsc", "--count", n, "--resume",
                       "--retry-epipe", "--log", log))
        check_ok(p)
    assert killed > 0, "no consumer was still streaming when killed"
    data = log.read_bytes()
    seqs = struct.unpack(f"<{len(data) // 8}Q", data)
    assert len(data) % 8 == 0 and seqs[0] == 0 and seqs[-1] == n - 1
    steps = [b - a for a, b in zip(seqs, seqs[1:])]
    assert set(steps) <= {0, 1}, "a message lost or out of order"
    assert steps.count(0) <= KILLS
