# SPDX-License-Identifier: MIT
"""Ctrl-C during a blocking call: a Python process blocked in a wait
gets SIGINT and ends with KeyboardInterrupt. Only a generous watchdog,
no timing assertion."""

import errno
import signal
import threading
import time

import pytest

import shmring
from conftest import finish, start

KINDS = {"spsc": shmring.SPSC, "mpmc": shmring.MPMC, "msg_spsc": shmring.MSG_SPSC,
         "msg_mpsc": shmring.MSG_MPSC}


def blocked(pid):
    """Is the process asleep (in a futex wait, where /proc tells)?"""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            w = f.read()
    except OSError:
        w = ""
    if w and w != "0":
        return "futex" in w
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "S"


@pytest.mark.parametrize("op,kind,policy", [
    ("pop", "spsc", "spin_sleep"),
    ("pop", "mpmc", "sleep"),
    ("pop", "msg_spsc", "spin_sleep"),
    ("pop", "msg_mpsc", "sleep"),
    ("pop", "spsc", "spin"),  # never sleeps: the slice ends the call
    ("push", "spsc", "spin_sleep"),
    ("push", "msg_spsc", "sleep"),
    ("set", "spsc", "-"),
])
def test_sigint_ends_wait(name, op, kind, policy):
    if op == "set" and not shmring.HAVE_SETS:
        pytest.skip("library without ring sets")
    k = KINDS[kind]
    size = 16 if k in (shmring.SPSC, shmring.MPMC) else 64
    with shmring.Ring.create(name, k, 8 if size == 16 else 256, size, shmring.NONE):
        p = start("py", "wait", name, "--kind", kind, "--policy", policy, "--op", op)
        try:
            assert p.stdout.readline().strip() == "waiting", p.stderr.read()
            if policy != "spin":
                end = time.monotonic() + 30
                while not blocked(p.pid) and time.monotonic() < end:
                    time.sleep(0.01)
                assert blocked(p.pid), "the child never went to sleep in its wait"
            else:
                time.sleep(0.2)
            p.send_signal(signal.SIGINT)
            rc, _, err = finish(p, timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert rc == -signal.SIGINT, err
    assert "KeyboardInterrupt" in err


def test_interrupted_wait_leaves_ring_usable(name):
    """In this process: SIGINT to the thread blocked in pop_wait raises
    KeyboardInterrupt there; the ring works on afterwards."""
    main = threading.get_ident()
    with shmring.Ring.create(name, shmring.SPSC, 8, 16) as p, \
            shmring.Ring.open(name, shmring.CONSUMER) as c:

        def interrupt():
            while True:  # until the main thread is inside its wait
                try:
                    c.fill
                except shmring.Error as e:
                    assert e.errno == errno.EBUSY
                    break
                time.sleep(0.001)
            signal.pthread_kill(main, signal.SIGINT)

        t = threading.Thread(target=interrupt)
        t.start()
        with pytest.raises(KeyboardInterrupt):
            c.pop_wait(timeout=60)  # Timeout (a failure) if no signal came
        t.join()
        assert p.push(b"still")
        assert c.pop_wait(timeout=10) == b"still".ljust(16, b"\0")
