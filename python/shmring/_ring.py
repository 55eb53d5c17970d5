# SPDX-License-Identifier: MIT
"""Rings: Ring (create, open, lifecycle), SlotRing (SPSC, MPMC) and
MessageRing (MSG_SPSC, MSG_MPSC)."""

import enum as _enum
import errno as _errno
import functools as _functools
import os as _os
import struct as _struct
import time as _time

from ._errors import Error, error as _error
from ._shmring_cffi import ffi, lib
from ._views import Views as _Views


class Kind(_enum.IntEnum):
    """Ring types (shmring.h)."""

    SPSC = lib.SHMRING_SPSC  # fixed slots, one producer, one consumer
    MPMC = lib.SHMRING_MPMC  # fixed slots, any number of each
    MSG_SPSC = lib.SHMRING_MSG_SPSC  # variable-length messages, one producer
    MSG_MPSC = lib.SHMRING_MSG_MPSC  # variable-length messages, many producers


class Role(_enum.IntEnum):
    """What an endpoint attaches as."""

    NONE = lib.SHMRING_ROLE_NONE  # create only: attach as neither side
    PRODUCER = lib.SHMRING_PRODUCER
    CONSUMER = lib.SHMRING_CONSUMER
    OBSERVER = lib.SHMRING_OBSERVER  # read-only mapping


_WAIT_MODES = {
    "spin_sleep": lib.SHMRING_WAIT_SPIN_SLEEP,
    "spin": lib.SHMRING_WAIT_SPIN,
    "sleep": lib.SHMRING_WAIT_SLEEP,
}

# The longest one call waits in C. A signal that lands while the library
# spins (not in its futex sleep, which -EINTR ends at once) is handled
# when the slice ends, since Python runs signal handlers between calls.
SLICE = 0.1
_SLICE_NS = int(SLICE * 1e9)

_EAGAIN = -_errno.EAGAIN
_ETIMEDOUT = -_errno.ETIMEDOUT
_EINTR = -_errno.EINTR

_NULL = ffi.NULL
_unpack = ffi.unpack
_from_buffer = ffi.from_buffer
_monotonic = _time.monotonic
_pyr_push = lib.pyr_push
_pyr_pop = lib.pyr_pop
_pyr_push_burst = lib.pyr_push_burst
_pyr_pop_burst = lib.pyr_pop_burst
_pyr_reserve = lib.pyr_reserve
_pyr_commit = lib.pyr_commit
_pyr_peek = lib.pyr_peek
_pyr_release = lib.pyr_release
_MPMC = lib.SHMRING_MPMC

_BURST_BYTES = 1 << 16  # message rings: what one pop_burst copies at most (or one message)


def _blocking(fn, args, timeout):
    """Call fn(*args, ns) in slices of at most SLICE until it returns
    anything but the end of a slice (-ETIMEDOUT before the timeout, or
    -EINTR); Python runs pending signal handlers between the calls, so
    Ctrl-C raises KeyboardInterrupt here. timeout: seconds, None: none."""
    if timeout is None:
        while True:
            rc = fn(*args, _SLICE_NS)
            if rc != _ETIMEDOUT and rc != _EINTR:
                return rc
    end = _monotonic() + timeout
    while True:
        ns = int((end - _monotonic()) * 1e9)
        if ns < 0:
            ns = 0
        last = ns <= _SLICE_NS
        rc = fn(*args, ns if last else _SLICE_NS)
        if rc == _ETIMEDOUT:
            if last:
                return rc
        elif rc != _EINTR:
            return rc


@_functools.lru_cache(maxsize=64)
def _slots_struct(k, size):
    """A struct that cuts k slots of `size` bytes apart."""
    return _struct.Struct(f"{size}s" * k)


def _cname(name):
    if name is None:
        return _NULL
    return _os.fsencode(name)


def _contiguous(data):
    """A cffi pointer to a bytes-like object, and its size in bytes."""
    if isinstance(data, bytes):
        return data, len(data)
    mv = memoryview(data)
    return _from_buffer(mv), mv.nbytes


class Ring:
    """One endpoint of a shmring ring (a producer, a consumer or an observer).

    Make one with Ring.create, Ring.open, Ring.create_anon, Ring.open_fd
    or ring.dup; they return a SlotRing (SPSC, MPMC) or a MessageRing
    (MSG_SPSC, MSG_MPSC). Close it with close() or a with block; the
    garbage collector closes a forgotten one, never while a zero-copy view
    of it is alive.

    An endpoint belongs to one thread at a time (give another thread its
    own with dup()): a call made while another thread is inside a call on
    the same Ring fails with Error(EBUSY) instead of racing it.

    Every operation that can fail raises shmring.Error (an OSError) with
    the errno and the library's detail text; "try" operations report a
    full or empty ring by their result instead (False, None, 0).

    Library calls on the handle go through the glue functions of
    shmring_glue.h with self._h (struct pyring *); a method for a new
    library call (a stats() method, say) is one glue function taking the
    handle and a result struct, and one method here that checks the
    result through _error().
    """

    __slots__ = ("_h", "_buf", "_cap", "_views", "_link", "_bbuf", "_blens", "_bn", "_zp",
                 "_zl", "_zn", "name", "kind", "role", "__weakref__")

    def __init__(self, h, name):
        self._h = h
        self.name = name
        self.kind = Kind(h.r.type)
        self.role = Role(h.r.role)
        self._cap = max(h.r.slot_size, 1)
        self._buf = ffi.new("char[]", self._cap)
        self._views = _Views()
        self._link = None
        self._bbuf = None
        self._blens = None
        self._bn = 0
        self._zn = 0
        self._zbufs(1)

    # ---- making endpoints ----

    @staticmethod
    def _wrap(h, name):
        cls = MessageRing if h.r.type in (lib.SHMRING_MSG_SPSC, lib.SHMRING_MSG_MPSC) else SlotRing
        return cls(h, name)

    @staticmethod
    def _flags(counters, solo):
        return (lib.SHMRING_F_COUNTERS if counters else 0) | (lib.SHMRING_F_SOLO if solo else 0)

    @classmethod
    def create(cls, name, kind, capacity, slot_size=0, role=Role.PRODUCER, *, mode=0o600,
               counters=False, solo=False, max_endpoints=0):
        """Create the named ring `name` ("/name") and attach as `role`
        (Role.NONE: neither, for a process that only sets it up).

        kind: Kind.SPSC, MPMC (capacity in slots of slot_size bytes),
        MSG_SPSC, MSG_MPSC (capacity in bytes, slot_size the largest
        message, 0: capacity / 4). capacity is a power of two. mode: the
        object's permission bits. counters: keep the fast-path counters.
        solo: MPMC claim mode (docs/mpmc.md). max_endpoints: endpoint
        table of multi-endpoint rings (0: 64). Raises Exists if the name
        is taken, Error otherwise.
        """
        h = ffi.new("struct pyring *")
        rc = lib.pyr_create(h, _cname(name), int(kind), capacity, slot_size, int(role), mode,
                            cls._flags(counters, solo), max_endpoints)
        if rc < 0:
            raise _error(rc, "create")
        return cls._wrap(h, name)

    @classmethod
    def create_anon(cls, kind, capacity, slot_size=0, role=Role.PRODUCER, *, counters=False,
                    solo=False, max_endpoints=0):
        """Create a ring with no name (a sealed memfd) for threads and
        fork()ed children (they attach with dup()), or processes given
        its fd (open_fd)."""
        h = ffi.new("struct pyring *")
        rc = lib.pyr_create(h, _NULL, int(kind), capacity, slot_size, int(role), 0,
                            cls._flags(counters, solo), max_endpoints)
        if rc < 0:
            raise _error(rc, "create_anon")
        return cls._wrap(h, None)

    @classmethod
    def open(cls, name, role, *, kind=None, slot_size=None, mode=None, timeout=None):
        """Open the existing ring `name` as `role`. kind / slot_size: the
        ring must be of this kind / slot size. mode: the widest
        permission bits accepted (default 0o600). timeout: seconds to
        wait for a creator still initialising (default 1). Raises
        NotFound, Error(EBUSY) (the single producer or consumer is held
        by a live process), Error(EPROTO) (not a valid ring: the detail
        names the field), ..."""
        h = ffi.new("struct pyring *")
        rc = lib.pyr_open(h, _cname(name), -1, int(role), int(kind or 0), slot_size or 0,
                          mode or 0, int(timeout * 1000) if timeout else 0)
        if rc < 0:
            raise _error(rc, "open")
        return cls._wrap(h, name)

    @classmethod
    def open_fd(cls, fd, role, *, kind=None, slot_size=None, mode=None):
        """Attach through a descriptor (an anonymous ring's fd, passed
        over a UNIX socket or inherited); the fd is duplicated."""
        h = ffi.new("struct pyring *")
        rc = lib.pyr_open(h, _NULL, fd, int(role), int(kind or 0), slot_size or 0, mode or 0, 0)
        if rc < 0:
            raise _error(rc, "open_fd")
        return cls._wrap(h, None)

    def dup(self, role):
        """Another endpoint on the same ring, as `role` (for another
        thread, or a fork()ed child's own)."""
        h = ffi.new("struct pyring *")
        rc = lib.pyr_dup(h, self._h, int(role))
        if rc < 0:
            raise _error(rc, "dup")
        return self._wrap(h, self.name)

    @staticmethod
    def unlink(name):
        """Remove the name; attached endpoints keep the ring until they close."""
        rc = lib.shmring_unlink(_cname(name))
        if rc < 0:
            raise _error(rc, "unlink")

    @staticmethod
    def unlink_stale(name):
        """Remove the name of a ring whose creator and endpoints are all
        dead (shmring_unlink_stale); Error(EBUSY) for a live ring."""
        rc = lib.shmring_unlink_stale(_cname(name))
        if rc < 0:
            raise _error(rc, "unlink_stale")

    # ---- lifecycle ----

    def close(self):
        """Detach (idempotent). Refused with Error(EBUSY), leaving the
        ring open, while a view of an open reservation or peek is in use
        (see commit); an open message reservation is aborted."""
        h = self._h
        if not h.attached:
            return
        self._views.end("close")
        if self._link is not None:
            self._link.leave()
        rc = lib.pyr_close(h)
        if rc < 0:
            raise _error(rc, "close")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            h = self._h
        except AttributeError:
            return
        # Nothing outside refers to this Ring: every view of it (each keeps
        # it alive) is garbage too, if any is left.
        try:
            if h.attached:
                lib.pyr_close(h)
        except Exception:  # interpreter shutdown: the module may be gone
            pass

    @property
    def closed(self):
        return not self._h.attached

    def _moved(self):
        """The handle went into a RingSet."""
        self._views.entries.clear()

    def __repr__(self):
        state = "closed" if self.closed else f"capacity={self.capacity}"
        return f"<shmring.{type(self).__name__} {self.name!r} {self.kind.name} {self.role.name} {state}>"

    # ---- properties ----

    @property
    def capacity(self):
        """Slots (slot rings) or bytes (message rings)."""
        return self._h.r.capacity

    @property
    def position(self):
        """This endpoint's next position: a producer's next slot (or byte,
        message rings), a consumer's next to read. On a fresh SPSC ring it
        counts the messages this side has moved since creation, across
        every endpoint that held the side (an opener that takes a dead
        endpoint's place resumes there)."""
        return self._h.r.pos

    def stats(self):
        """A snapshot of the ring (shmring_stats(), docs/stats.md) as a
        dict: geometry, head/tail/fill, and 'prod'/'cons' dicts of each
        side's positions, endpoint counts and counters ('valid' says
        which groups hold values: SHMRING_STATS_* bits). Reads only; any
        role, observers included."""
        out = ffi.new("struct shmring_ring_stats *")
        out.size = ffi.sizeof("struct shmring_ring_stats")
        rc = lib.shmring_stats(ffi.addressof(self._h.r), out)
        if rc < 0:
            raise _error(rc, "stats")

        def fields(obj, ctype):
            return {name: getattr(obj, name) for name, _ in ffi.typeof(ctype).fields}

        d = fields(out, "struct shmring_ring_stats")
        d["prod"] = fields(out.prod, "struct shmring_ring_side")
        d["cons"] = fields(out.cons, "struct shmring_ring_side")
        return d

    @property
    def fill(self):
        """Messages (slot rings) or bytes (message rings) in the ring now,
        as this endpoint can tell."""
        return self._check(lib.pyr_fill(self._h), "fill")

    @property
    def fd(self):
        """The ring's descriptor (kept open while attached)."""
        return self._check(lib.pyr_fd(self._h), "fd")

    def _check(self, rc, op):
        if rc < 0:
            raise _error(rc, op)
        return rc

    # ---- waiting ----

    def set_wait_policy(self, mode="spin_sleep", *, spin_ns=0, slice_ms=0, wake_batch=0):
        """How this endpoint's blocking calls wait (wait.h): mode
        "spin_sleep" (default: spin up to spin_ns, then sleep), "spin" or
        "sleep"; slice_ms: peer liveness re-check period; wake_batch:
        producer wakes sleeping consumers every N pushes. Signals always
        end a wait (KeyboardInterrupt)."""
        if mode not in _WAIT_MODES:
            raise ValueError(f"wait mode must be one of {sorted(_WAIT_MODES)}")
        self._check(lib.pyr_policy(self._h, _WAIT_MODES[mode], spin_ns, slice_ms, wake_batch),
                    "set_wait_policy")

    def wake(self):
        """Wake the other side's sleepers (the binding already does after
        each publication or release)."""
        return self._check(lib.pyr_wake(self._h), "wake")

    def recover(self):
        """Release what dead endpoints held (shmring_recover); the number
        recovered."""
        return self._check(lib.pyr_recover(self._h), "recover")

    # ---- copy in and out ----

    def push(self, data):
        """Copy one message in without waiting: True, or False when full.
        A slot ring pads a message shorter than the slot with zero bytes."""
        try:
            rc = _pyr_push(self._h, data, len(data), -1)
        except TypeError:
            p, n = _contiguous(data)
            rc = _pyr_push(self._h, p, n, -1)
        if rc == 0:
            return True
        if rc == _EAGAIN:
            return False
        raise _error(rc, "push")

    def push_wait(self, data, timeout=None):
        """Copy one message in, waiting while the ring is full. Raises
        Timeout, PeerGone (the consumers died), KeyboardInterrupt."""
        if not isinstance(data, bytes):
            data, n = _contiguous(data)
        else:
            n = len(data)
        if timeout is None:
            h = self._h
            rc = _pyr_push(h, data, n, _SLICE_NS)
            while rc == _ETIMEDOUT or rc == _EINTR:
                rc = _pyr_push(h, data, n, _SLICE_NS)
        else:
            rc = _blocking(_pyr_push, (self._h, data, n), timeout)
        if rc < 0:
            raise _error(rc, "push_wait")

    def pop(self):
        """Copy the next message out without waiting: bytes (a slot ring's
        whole slot), or None when empty."""
        n = _pyr_pop(self._h, self._buf, self._cap, -1)
        if n >= 0:
            return _unpack(self._buf, n)
        if n == _EAGAIN:
            return None
        raise _error(n, "pop")

    def pop_wait(self, timeout=None):
        """The next message, waiting while the ring is empty. Raises
        Timeout, PeerGone (the producers died, nothing left),
        KeyboardInterrupt."""
        if timeout is None:
            h, buf, cap = self._h, self._buf, self._cap
            n = _pyr_pop(h, buf, cap, _SLICE_NS)
            while n == _ETIMEDOUT or n == _EINTR:
                n = _pyr_pop(h, buf, cap, _SLICE_NS)
        else:
            n = _blocking(_pyr_pop, (self._h, self._buf, self._cap), timeout)
        if n < 0:
            raise _error(n, "pop_wait")
        return _unpack(self._buf, n)

    def __iter__(self):
        """Messages as they come (pop_wait), until the producers are gone
        (PeerGone ends the iteration)."""
        while True:
            try:
                yield self.pop_wait()
            except Error as e:
                if e.errno == _errno.EPIPE:
                    return
                raise

    # ---- bursts ----

    def _burst_bufs(self, n, size):
        if self._bbuf is None or len(self._bbuf) < size:
            self._bbuf = ffi.new("char[]", size)
        if self._bn < n:
            self._bn = n
            self._blens = ffi.new("uint32_t[]", n)
        return self._bbuf, self._blens

    def _push_burst(self, items, timeout, op):
        p, lens, n = self._burst_args(items)
        if n == 0:
            return 0
        if timeout is False:
            k = _pyr_push_burst(self._h, p, lens, n, -1)
        else:
            k = _blocking(_pyr_push_burst, (self._h, p, lens, n), timeout)
        if k < 0:
            raise _error(k, op)
        return k

    def push_burst(self, items):
        """Copy in as many of `items` as fit now, with one publication;
        the count pushed (0 when full). items: a list or tuple of
        bytes-like messages; slot rings also take one bytes-like object
        of whole slots (a numpy array, say)."""
        return self._push_burst(items, False, "push_burst")

    def push_burst_wait(self, items, timeout=None):
        """As push_burst, waiting until at least one fits; the count."""
        return self._push_burst(items, timeout, "push_burst_wait")

    def _pop_burst(self, n, timeout, op):
        if n <= 0:
            return []
        buf, lens = self._burst_bufs(n, self._burst_size(n))
        if timeout is False:
            k = _pyr_pop_burst(self._h, buf, len(buf), lens, n, -1)
        else:
            k = _blocking(_pyr_pop_burst, (self._h, buf, len(buf), lens, n), timeout)
        if k < 0:
            raise _error(k, op)
        return self._split(buf, lens, k)

    def pop_burst(self, n=32):
        """Copy out up to n messages without waiting: a list of bytes
        (empty when the ring is)."""
        return self._pop_burst(n, False, "pop_burst")

    def pop_burst_wait(self, n=32, timeout=None):
        """As pop_burst, waiting until at least one message is there."""
        return self._pop_burst(n, timeout, "pop_burst_wait")

    # ---- zero copy ----

    def _zbufs(self, n):
        """Room for n pointers and lengths of the C side's zero-copy answers."""
        if self._zn < n:
            self._zn = n
            self._zp = ffi.new("char *[]", n)
            self._zl = ffi.new("uint32_t[]", n)

    def _zc_check(self, op):
        if self._views:
            # a view handed out earlier must not outlive what it shows
            raise Error(_errno.EBUSY, "a reservation or peek is open: end it first", op)

    def abort(self):
        """Drop the open reservation: nothing of it is delivered. Its
        views end (refused with Error(EBUSY) while one is in use)."""
        self._views.end("abort")
        self._check(lib.pyr_abort(self._h), "abort")

    # ---- ring sets (producer side) ----

    def join_set(self, set_name, tag=0):
        """Announce this named producer ring to the ring set `set_name`;
        its consumer then takes our messages with the tag. Returns the
        SetLink (leave() or a with block ends it; close() leaves too)."""
        from ._set import SetLink

        return SetLink(self, set_name, tag)


class SlotRing(Ring):
    """An SPSC or MPMC ring of fixed-size slots (slot_size bytes)."""

    __slots__ = ()

    @property
    def slot_size(self):
        return self._h.r.slot_size

    def _burst_args(self, items):
        s = self._h.r.slot_size
        if isinstance(items, (list, tuple)):
            n = len(items)
            data = b"".join(items)
            if len(data) != n * s or (n and (min(map(len, items)) != s)):
                for x in items:
                    if len(x) > s:
                        raise Error(_errno.EMSGSIZE, "message longer than the slot", "push_burst")
                data = b"".join(bytes(x).ljust(s, b"\0") for x in items)
            return data, _NULL, n
        p, nbytes = _contiguous(items)
        if nbytes % s:
            raise ValueError(f"a buffer of whole slots is needed ({nbytes} bytes, slot {s})")
        return p, _NULL, nbytes // s

    def _burst_size(self, n):
        return n * self._h.r.slot_size

    def _split(self, buf, lens, k):
        # one struct call cuts the slots apart (a Python loop of slices
        # costs several times more per message)
        return list(_slots_struct(k, self._h.r.slot_size).unpack(_unpack(buf, k * self._h.r.slot_size)))

    def pop_burst_into(self, out):
        """Copy up to len(out) // slot_size slots, without waiting, into
        the writable buffer `out` (bytearray, numpy array, ...), one after
        another; the count."""
        p, nbytes = _contiguous(out)
        if memoryview(out).readonly:
            raise ValueError("pop_burst_into needs a writable buffer")
        n = nbytes // self._h.r.slot_size
        if n == 0:
            raise ValueError("buffer smaller than a slot")
        if self._blens is None or self._bn < n:
            self._bn = n
            self._blens = ffi.new("uint32_t[]", n)
        k = _pyr_pop_burst(self._h, p, nbytes, self._blens, n, -1)
        if k < 0:
            raise _error(k, "pop_burst_into")
        return k

    # zero copy: slots written and read in place

    def _reserve(self, n, timeout, op):
        self._zc_check(op)
        self._zbufs(n)
        ptrs = self._zp
        if timeout is False:
            k = _pyr_reserve(self._h, n, ptrs, -1)
        else:
            k = _blocking(_pyr_reserve, (self._h, n, ptrs), timeout)
        if k < 0:
            raise _error(k, op)
        s = self._h.r.slot_size
        make = self._views.make
        return [make(self, ptrs[i], s, False) for i in range(k)]

    def reserve(self):
        """Zero copy: one slot to write in place, a writable memoryview of
        slot_size bytes, or None when full. Nothing is visible until
        commit(); the view ends there (see commit)."""
        v = self._reserve(1, False, "reserve")
        return v[0] if v else None

    def reserve_many(self, n):
        """Up to n slots to write in place (a list of memoryviews, empty
        when full)."""
        return self._reserve(n, False, "reserve_many")

    def reserve_wait(self, timeout=None):
        """One slot to write in place, waiting while the ring is full."""
        return self._reserve(1, timeout, "reserve_wait")[0]

    def commit(self, n=None):
        """Publish the first n reserved slots (default: all). Every view of
        the reservation ends: the handed-out memoryviews are released and
        raise ValueError on any use. Refused with Error(EBUSY), nothing
        published, while a slice, copy, export or array of one is still
        alive. MPMC gives the rest of the reservation back (never
        delivered); SPSC reserves it again on the next reserve."""
        h = self._h
        if n is None:
            n = h.zc
        elif n > h.zc or n < 0:
            raise Error(_errno.EINVAL, f"commit of {n} slots, {h.zc} reserved", "commit")
        if self._views:
            self._views.end("commit")
        rc = _pyr_commit(h, n)
        if rc < 0:
            raise _error(rc, "commit")

    def _peek(self, n, timeout, op):
        self._zc_check(op)
        self._zbufs(n)
        ptrs, lens = self._zp, self._zl
        if timeout is False:
            k = _pyr_peek(self._h, n, ptrs, lens, -1)
        else:
            k = _blocking(_pyr_peek, (self._h, n, ptrs, lens), timeout)
        if k < 0:
            raise _error(k, op)
        make = self._views.make
        return [make(self, ptrs[i], lens[i], True) for i in range(k)]

    def peek(self):
        """Zero copy: the next message in place, a read-only memoryview, or
        None when empty. It stays in the ring until release()."""
        v = self._peek(1, False, "peek")
        return v[0] if v else None

    def peek_many(self, n):
        """Up to n messages in place (a list of read-only memoryviews)."""
        return self._peek(n, False, "peek_many")

    def peek_wait(self, timeout=None):
        """The next message in place, waiting while the ring is empty."""
        return self._peek(1, timeout, "peek_wait")[0]

    def release(self, n=None):
        """Free the peeked slots (SPSC: the first n, default all; MPMC:
        all). Their views end as commit's do (refused with Error(EBUSY)
        while one is in use)."""
        h = self._h
        if n is None:
            n = h.zc
        elif n > h.zc or n < 0 or (n != h.zc and h.r.type == _MPMC):
            raise Error(_errno.EINVAL, f"release of {n} slots, {h.zc} peeked"
                        + (" (MPMC releases all)" if h.r.type == _MPMC else ""), "release")
        if self._views:
            self._views.end("release")
        rc = _pyr_release(h, n)
        if rc < 0:
            raise _error(rc, "release")


class MessageRing(Ring):
    """A MSG_SPSC or MSG_MPSC ring of variable-length messages."""

    __slots__ = ()

    @property
    def max_message(self):
        """The largest message the ring carries, in bytes."""
        return self._h.r.slot_size

    @property
    def used(self):
        """Bytes in use (records of any kind)."""
        return self.fill

    def _burst_args(self, items):
        if not isinstance(items, (list, tuple)):
            raise TypeError("message rings take a list or tuple of messages")
        n = len(items)
        lens = list(map(len, items))
        return b"".join(items), ffi.new("uint32_t[]", lens), n

    def _burst_size(self, n):
        return max(self._h.r.slot_size, _BURST_BYTES)

    def _split(self, buf, lens, k):
        if k == 0:
            return []
        ls = _unpack(lens, k)
        data = _unpack(buf, sum(ls))
        out = []
        off = 0
        for n in ls:
            out.append(data[off:off + n])
            off += n
        return out

    # zero copy: records written and read in place

    def _reserve(self, length, timeout, op):
        self._zc_check(op)
        ptrs = self._zp
        if timeout is False:
            k = _pyr_reserve(self._h, length, ptrs, -1)
        else:
            k = _blocking(_pyr_reserve, (self._h, length, ptrs), timeout)
        if k < 0:
            raise _error(k, op)
        if k == 0:
            return None
        return self._views.make(self, ptrs[0], length, False)

    def reserve(self, length):
        """Zero copy: room for a message of `length` bytes, a writable
        memoryview, or None when there is not enough room now. Publish
        with commit() or drop with abort(); the view ends there."""
        return self._reserve(length, False, "reserve")

    def reserve_wait(self, length, timeout=None):
        """Room for a message of `length` bytes, waiting for it."""
        return self._reserve(length, timeout, "reserve_wait")

    def commit(self):
        """Publish the reserved message. Every view of it ends (released:
        ValueError on any use); refused with Error(EBUSY), nothing
        published, while a slice, copy, export or array of it is alive."""
        if self._views:
            self._views.end("commit")
        rc = _pyr_commit(self._h, 1)
        if rc < 0:
            raise _error(rc, "commit")

    def _peek(self, timeout, op):
        ptrs, lens = self._zp, self._zl
        if timeout is False:
            k = _pyr_peek(self._h, 1, ptrs, lens, -1)
        else:
            k = _blocking(_pyr_peek, (self._h, 1, ptrs, lens), timeout)
        if k < 0:
            raise _error(k, op)
        if k == 0:
            return None
        return self._views.make(self, ptrs[0], lens[0], True)

    def peek(self):
        """Zero copy: the next message not yet peeked, a read-only
        memoryview, or None. Peek again for the one after it (a batch);
        release() frees them all and ends their views."""
        return self._peek(False, "peek")

    def peek_wait(self, timeout=None):
        """The next message not yet peeked, waiting for one."""
        return self._peek(timeout, "peek_wait")

    def release(self):
        """Free every message peeked so far; their views end as commit's
        do (refused with Error(EBUSY) while one is in use)."""
        if self._views:
            self._views.end("release")
        rc = _pyr_release(self._h, 0)
        if rc < 0:
            raise _error(rc, "release")
