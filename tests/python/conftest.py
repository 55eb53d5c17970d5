# SPDX-License-Identifier: MIT
"""Fixtures of the binding's tests: unique shared-memory names, the peer
programs (ringpeer, C; pypeer.py, Python) and a runner for them.

Environment: SHMRING_RINGPEER (the C peer, set by meson), SHMRING_PYTHON
(the interpreter for Python peers; default: this one), SHMRING_PY_COUNT
(messages of the long streams, default 1000000; more for a soak run).
"""

import itertools
import json
import os
import signal
import subprocess
import sys

import pytest

import shmring

HERE = os.path.dirname(os.path.abspath(__file__))
PYPEER = os.path.join(HERE, "pypeer.py")
COUNT = int(os.environ.get("SHMRING_PY_COUNT", "1000000"))
WATCHDOG = 240  # seconds any one peer process may run

_seq = itertools.count()


def unique(tag="r"):
    return f"/pytest-{os.getpid()}-{tag}{next(_seq)}"


@pytest.fixture
def name(request):
    """A fresh ring name, unlinked after the test if it still exists."""
    n = unique()
    yield n
    for suffix in ("", ".ctl", ".set"):
        try:
            shmring.unlink(n + suffix)
        except shmring.Error:
            pass


def ringpeer():
    path = os.environ.get("SHMRING_RINGPEER")
    if not path:
        pytest.skip("SHMRING_RINGPEER not set (run through meson test)")
    return path


def peer_cmd(lang, *args):
    if lang == "c":
        return [ringpeer(), *map(str, args)]
    return [os.environ.get("SHMRING_PYTHON", sys.executable), PYPEER, *map(str, args)]


def start(lang, *args, **kw):
    env = dict(os.environ)
    return subprocess.Popen(peer_cmd(lang, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **kw)


def finish(p, timeout=WATCHDOG):
    """Wait for a peer (killed at the watchdog); its JSON summary if it
    printed one, and the exit status checked by the caller."""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"peer {p.args} still running after {timeout} s\n{err}")
    summary = None
    for line in out.splitlines():
        if line.startswith("{"):
            summary = json.loads(line)
    return p.returncode, summary, err


def check_ok(p, timeout=WATCHDOG):
    rc, summary, err = finish(p, timeout)
    assert rc == 0, f"{p.args} exited {rc}\n{err}"
    return summary
