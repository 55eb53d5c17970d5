# SPDX-License-Identifier: MIT
"""The binding in one process: every kind's operations, errors, the
lifetime rules of zero-copy views, threads and the GIL, anonymous rings
with fork(), ring sets."""

import errno
import gc
import os
import pickle
import threading
import time

import pytest

import shmring
from shmring import CONSUMER, MPMC, MSG_MPSC, MSG_SPSC, NONE, OBSERVER, PRODUCER, SPSC, Ring


def pair(name, kind, capacity=None, size=None):
    if kind in (SPSC, MPMC):
        p = Ring.create(name, kind, capacity or 8, size or 16)
    else:
        p = Ring.create(name, kind, capacity or 4096, size or 256)
    return p, Ring.open(name, CONSUMER)


ALL = [SPSC, MPMC, MSG_SPSC, MSG_MPSC]
KIND_IDS = [k.name for k in ALL]


# ---- copy in and out ----

@pytest.mark.parametrize("kind", ALL, ids=KIND_IDS)
def test_push_pop(name, kind):
    p, c = pair(name, kind)
    with p, c:
        assert isinstance(p, shmring.SlotRing if kind in (SPSC, MPMC) else shmring.MessageRing)
        assert (p.kind, p.role, c.role) == (kind, PRODUCER, CONSUMER)
        assert c.pop() is None
        assert p.push(b"hello")
        assert p.push(bytearray(b"ba"))
        assert p.push(memoryview(b"xmvx")[1:3])
        got = [c.pop(), c.pop(), c.pop()]
        if kind in (SPSC, MPMC):
            # a slot ring carries whole slots: short messages are padded
            assert got == [b"hello".ljust(16, b"\0"), b"ba".ljust(16, b"\0"),
                           b"mv".ljust(16, b"\0")]
        else:
            assert got == [b"hello", b"ba", b"mv"]
        assert c.pop() is None


@pytest.mark.parametrize("kind", ALL, ids=KIND_IDS)
def test_stats(name, kind):
    p, c = pair(name, kind)
    with p, c, Ring.open(name, OBSERVER) as o:
        for _ in range(3):
            assert p.push(b"abc")
        for ring in (p, c, o):
            st = ring.stats()
            assert st["type"] == kind
            assert st["fill"] == st["head"] - st["tail"] > 0
            assert st["prod"]["live"] >= 1 and st["cons"]["live"] >= 1
        assert c.pop() is not None
        assert o.stats()["fill"] < p.stats()["fill"] + 1
        assert o.stats()["tail"] > st["tail"]


@pytest.mark.parametrize("kind", [SPSC, MPMC], ids=["SPSC", "MPMC"])
def test_slot_full_and_bursts(name, kind):
    p, c = pair(name, kind, 8, 16)
    with p, c:
        msgs = [bytes([i]) * 16 for i in range(10)]
        assert [p.push(m) for m in msgs] == [True] * 8 + [False] * 2
        assert p.fill == 8
        assert c.pop_burst(3) == msgs[:3]
        assert p.push_burst(msgs[8:]) == 2
        assert p.push_burst([b"z"]) == 1
        assert p.push_burst([b"y"]) == 0  # full
        assert c.pop_burst(100) == msgs[3:10] + [b"z".ljust(16, b"\0")]
        assert c.pop_burst() == []
        # one buffer of whole slots in, whole slots out into a buffer
        assert p.push_burst(b"".join(msgs[:4])) == 4
        out = bytearray(16 * 3)
        assert c.pop_burst_into(out) == 3
        assert bytes(out) == b"".join(msgs[:3])
        assert c.pop() == msgs[3]
        with pytest.raises(ValueError):
            p.push_burst(b"x" * 17)


def test_message_ring_ops(name):
    p, c = pair(name, MSG_SPSC, 4096, 256)
    with p, c:
        assert p.max_message == 256
        assert p.push(b"")
        assert c.pop() == b""
        assert p.push_burst([b"a", b"bb", b"", b"c" * 256]) == 4
        assert c.pop_burst(10) == [b"a", b"bb", b"", b"c" * 256]
        with pytest.raises(shmring.Error) as e:
            p.push(b"x" * 257)
        assert e.value.errno == errno.EMSGSIZE
        n = 0
        while p.push(b"y" * 200):
            n += 1
        assert 0 < n < 4096 // 200
        assert p.used > 0
        assert len(c.pop_burst(1000)) == n


def test_blocking_timeouts(name):
    p, c = pair(name, SPSC, 2, 8)
    with p, c:
        with pytest.raises(shmring.Timeout) as e:
            c.pop_wait(timeout=0.05)
        assert isinstance(e.value, TimeoutError) and e.value.errno == errno.ETIMEDOUT
        p.push_wait(b"1")
        p.push_wait(b"2", timeout=0)
        with pytest.raises(TimeoutError):
            p.push_wait(b"3", timeout=0.05)
        with pytest.raises(TimeoutError):
            p.push_burst_wait([b"3"], timeout=0)
        assert c.pop_wait(timeout=0) == b"1".ljust(8, b"\0")
        assert c.pop_burst_wait(4, timeout=1) == [b"2".ljust(8, b"\0")]
        with pytest.raises(TimeoutError):
            c.pop_burst_wait(4, timeout=0.01)


# ---- errors ----

def test_errors(name):
    with pytest.raises(shmring.NotFound) as e:
        Ring.open(name, CONSUMER)
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, OSError)
    assert e.value.errno == errno.ENOENT and e.value.op == "open"
    with pytest.raises(shmring.Error) as e:
        Ring.create(name, SPSC, 6, 16)
    assert e.value.errno == errno.EINVAL and "capacity" in e.value.detail
    with pytest.raises(shmring.Error) as e:
        Ring.create("/a/b", SPSC, 8, 16)
    assert e.value.errno == errno.EINVAL and "/" in e.value.detail
    with Ring.create(name, SPSC, 8, 16):
        with pytest.raises(shmring.Exists) as e:
            Ring.create(name, SPSC, 8, 16)
        assert isinstance(e.value, FileExistsError) and name[1:] in e.value.detail
        with Ring.open(name, CONSUMER) as c:
            with pytest.raises(shmring.Error) as e:
                Ring.open(name, CONSUMER)
            assert e.value.errno == errno.EBUSY and "live" in e.value.detail
            with pytest.raises(shmring.Error) as e:
                c.push(b"x")  # a consumer cannot push
            assert e.value.errno == errno.EBADF and e.value.detail
            with pytest.raises(shmring.Error) as e:
                c.push(b"x" * 17)
            assert e.value.errno == errno.EMSGSIZE
        with pytest.raises(shmring.Error) as e:
            Ring.open(name, CONSUMER, kind=MPMC)
        assert e.value.errno == errno.EPROTO and e.value.detail
    err = shmring.Error(errno.EBUSY, "why", "op")
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.errno, back.detail, back.op, str(back)) == \
        (shmring.Error, errno.EBUSY, "why", "op", str(err))


def test_closed_ring(name):
    p = Ring.create(name, SPSC, 8, 16)
    assert not p.closed
    p.close()
    p.close()  # idempotent
    assert p.closed
    with pytest.raises(shmring.Error) as e:
        p.push(b"x")
    assert e.value.errno == errno.EBADF and "closed" in e.value.detail
    with Ring.create(name + "x", SPSC, 8, 16) as q:
        pass
    assert q.closed
    shmring.unlink(name + "x")


# ---- zero copy and the lifetime of views ----

def test_reserve_commit_slots(name):
    p, c = pair(name, SPSC, 8, 16)
    with p, c:
        v = p.reserve()
        assert isinstance(v, memoryview) and len(v) == 16 and not v.readonly
        v[:5] = b"zero!"
        assert c.pop() is None  # nothing visible before commit
        p.commit()
        with pytest.raises(ValueError):
            v[0]  # the view ended with the commit
        m = c.peek()
        assert m.readonly and bytes(m[:5]) == b"zero!"
        with pytest.raises(TypeError):
            m[0] = 1
        c.release()
        with pytest.raises(ValueError):
            bytes(m)
        views = p.reserve_many(20)
        assert len(views) == 8
        for i, w in enumerate(views):
            w[:] = bytes([i]) * 16
        p.commit(3)  # the first three
        assert [bytes(x) for x in c.peek_many(10)] == [bytes([i]) * 16 for i in range(3)]
        c.release(2)
        assert c.pop() == bytes([2]) * 16
        assert c.peek() is None


@pytest.mark.parametrize("kind", [SPSC, MSG_SPSC], ids=["SPSC", "MSG_SPSC"])
def test_view_in_use_refuses(name, kind):
    """A slice, a copy of the memoryview or an exported buffer keeps the
    memory in use: commit and release refuse, change nothing, and work
    once it is gone."""
    p, c = pair(name, kind)
    with p, c:
        v = p.reserve(8) if kind == MSG_SPSC else p.reserve()
        v[:8] = b"12345678"
        for keep in (lambda: v[2:4], lambda: memoryview(v), lambda: v.cast("B")):
            held = keep()
            with pytest.raises(shmring.Error) as e:
                p.commit()
            assert e.value.errno == errno.EBUSY and e.value.op == "commit"
            assert c.pop() is None  # nothing published
            with pytest.raises(shmring.Error):
                p.close()  # nor closed under it
            assert bytes(held[:1])  # still readable: the ring is still mapped
            del held
        p.commit()
        m = c.peek()
        held = m[:4]
        with pytest.raises(shmring.Error) as e:
            c.release()
        assert e.value.errno == errno.EBUSY
        assert bytes(held) == b"1234"
        del held
        c.release()
        assert c.pop() is None


def test_reservation_is_one_at_a_time(name):
    p, c = pair(name, MPMC)
    with p, c:
        v = p.reserve()
        with pytest.raises(shmring.Error) as e:
            p.reserve()
        assert e.value.errno == errno.EBUSY
        with pytest.raises(shmring.Error) as e:
            p.commit(2)
        assert e.value.errno == errno.EINVAL
        p.abort()  # MPMC: consumers pass over it
        with pytest.raises(ValueError):
            len(bytes(v))
        assert c.pop() is None
        p.push(b"after")
        assert c.pop() == b"after".ljust(16, b"\0")


def test_message_zero_copy(name):
    p, c = pair(name, MSG_MPSC, 4096, 256)
    with p, c:
        v = p.reserve(3)
        v[:] = b"abc"
        p.abort()
        v = p.reserve_wait(5, timeout=1)
        v[:] = b"hello"
        p.commit()
        p.push(b"second")
        a = c.peek()
        b = c.peek()  # a batch: both held
        assert (bytes(a), bytes(b)) == (b"hello", b"second")
        assert c.peek() is None
        c.release()
        for m in (a, b):
            with pytest.raises(ValueError):
                m.tobytes()
        assert c.pop() is None
        with pytest.raises(shmring.Error) as e:
            p.reserve(257)
        assert e.value.errno == errno.EMSGSIZE


def test_views_keep_the_ring_alive(name):
    """Dropping every reference to a Ring leaves it open while a view of
    its memory exists (so the garbage collector never unmaps it)."""
    p, c = pair(name, SPSC)
    with p:
        p.push(b"kept")
        v = c.peek()
        del c
        gc.collect()
        assert bytes(v[:4]) == b"kept"  # still mapped
        with pytest.raises(shmring.Error) as e:
            Ring.open(name, CONSUMER)
        assert e.value.errno == errno.EBUSY  # the consumer is still attached
        del v
        gc.collect()
        Ring.open(name, CONSUMER).close()  # closed once the view went


def test_as_array(name):
    np = pytest.importorskip("numpy")
    p, c = pair(name, SPSC, 8, 32)
    with p, c:
        v = p.reserve()
        a = shmring.as_array(v, np.uint32)
        a[:] = np.arange(8, dtype=np.uint32)
        with pytest.raises(shmring.Error):
            p.commit()  # the array holds the memory
        del a
        p.commit()
        m = c.peek()
        b = np.frombuffer(m, dtype=np.uint32)
        assert b.tolist() == list(range(8)) and not b.flags.writeable
        with pytest.raises(shmring.Error):
            c.release()
        del b
        c.release()
        # numpy arrays of whole slots through the bursts
        rec = np.arange(4 * 4, dtype=np.uint64).reshape(4, 4)  # 4 slots of 32 B
        assert p.push_burst(rec) == 4
        out = np.zeros_like(rec)
        assert c.pop_burst_into(out) == 4
        assert (out == rec).all()


# ---- handles, threads, processes ----

def test_open_fd_observer_dup(name):
    with Ring.create(name, SPSC, 8, 16, NONE) as creator:
        with Ring.open_fd(creator.fd, PRODUCER) as p, creator.dup(CONSUMER) as c, \
                Ring.open(name, OBSERVER) as o:
            assert p.position == 0
            p.push(b"x")
            p.push(b"y")
            assert p.position == 2 and o.fill == 2
            assert c.pop() == b"x".ljust(16, b"\0")
            assert c.position == 1 and o.fill == 1
            with pytest.raises(shmring.Error):
                o.pop()


def test_anon_ring_with_fork():
    with Ring.create_anon(MSG_SPSC, 4096, 128) as p:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                with p.dup(CONSUMER) as c:  # the child's own endpoint
                    got = [c.pop_wait(timeout=30) for _ in range(100)]
                    code = 0 if got == [b"m%d" % i for i in range(100)] else 3
            finally:
                os._exit(code)
        for i in range(100):
            p.push_wait(b"m%d" % i, timeout=30)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


def test_busy_handle_and_gil(name):
    """A wait releases the GIL: another Python thread runs while the first
    is inside one C call, finds the handle busy (so it cannot close it
    under the wait), and pushes the message that ends the wait."""
    p, c = pair(name, SPSC)
    with p, c:
        from shmring._shmring_cffi import lib

        result = {}

        def other():
            while True:  # until the main thread is inside its call
                try:
                    c.fill
                except shmring.Error as e:
                    if e.errno != errno.EBUSY:
                        raise
                    break
                time.sleep(0.001)
            try:
                c.close()
                result["close"] = "closed"
            except shmring.Error as e:
                result["close"] = e.errno
            p.push(b"other thread")

        t = threading.Thread(target=other)
        t.start()
        # one call with a 60 s deadline: it returns the message only if
        # the other thread could run Python meanwhile
        n = lib.pyr_pop(c._h, c._buf, c._cap, 60 * 10**9)
        t.join()
        assert n == 16
        assert result["close"] == errno.EBUSY and not c.closed
        assert c.pop() is None


def test_wait_policy(name):
    p, c = pair(name, SPSC)
    with p, c:
        for mode in ("spin", "sleep", "spin_sleep"):
            c.set_wait_policy(mode, spin_ns=1000)
            with pytest.raises(TimeoutError):
                c.pop_wait(timeout=0.02)
        with pytest.raises(ValueError):
            c.set_wait_policy("nap")
        assert p.wake() >= 0 and c.wake() >= 0
        assert p.recover() == 0


# ---- ring sets ----

@pytest.mark.skipif(not shmring.HAVE_SETS, reason="library without ring sets")
def test_set_in_process(name):
    with shmring.RingSet() as s:
        assert s.wait(timeout=0.01) in (True, False)
        assert s.poll() == []
        p1, c1 = pair(name, SPSC)
        p2, c2 = pair(name + "m", MSG_SPSC)
        with p1, p2:
            m1 = s.add(c1, tag=11)
            assert c1.closed  # moved into the set
            m2 = s.add(c2, tag=22)
            p1.push(b"slot")
            p2.push(b"message")
            got = sorted(s.poll_wait(timeout=5) + s.poll(), key=lambda m: m.tag)
            assert [(m.member, m.tag, m.data) for m in got] == \
                [(m1, 11, b"slot".ljust(16, b"\0")), (m2, 22, b"message")]
            s.remove(m2)
            with pytest.raises(shmring.Error) as e:
                s.remove(m2)
            assert e.value.errno == errno.ENOENT
            assert s.poll_wait(timeout=0.05) == []
        shmring.unlink(name + "m")
    with pytest.raises(shmring.Error):
        s.poll()
