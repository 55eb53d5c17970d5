# SPDX-License-Identifier: MIT
"""Ring sets (set.h): RingSet, the consumer side serving many rings, and
SetLink, a producer ring's link to a set."""

import collections as _collections
import errno as _errno
import time as _time

from ._errors import Error, error as _error
from ._ring import _blocking, _cname
from ._shmring_cffi import ffi, lib

HAVE_SETS = hasattr(lib, "pyset_create")

SetMessage = _collections.namedtuple("SetMessage", "member tag data")
SetMessage.__doc__ = "A message a RingSet delivered: member id, the member's tag, payload bytes."


def _need_sets(op):
    if not HAVE_SETS:
        raise Error(_errno.ENOTSUP, "the library was built without ring sets (liburcu)", op)


class RingSet:
    """The consumer side of a ring set: one consumer serving a changing set
    of SPSC and message rings (docs/sets.md).

    RingSet(name) creates the named set (or takes over one whose consumer
    died); producers in other processes join it with ring.join_set(name)
    and their rings are attached at the next poll. RingSet() makes an
    anonymous set for rings this process adds itself. Close with close()
    or a with block. Several threads may poll and wait on one set.
    """

    __slots__ = ("_ps", "name", "__weakref__")

    def __init__(self, name=None, *, doorbell=False):
        _need_sets("RingSet")
        self._ps = ffi.new("struct pyset *")
        self.name = name
        rc = lib.pyset_create(self._ps, _cname(name), lib.SHMRING_SET_F_DOORBELL if doorbell else 0)
        if rc < 0:
            raise _error(rc, "RingSet")

    def close(self):
        """Destroy the set: every member and the control ring are closed
        (idempotent). Error(EBUSY) while another thread is in a call on it."""
        rc = lib.pyset_destroy(self._ps)
        if rc < 0 and rc != -_errno.EBADF:
            raise _error(rc, "close")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        ps = getattr(self, "_ps", None)
        try:
            if ps is not None:
                lib.pyset_destroy(ps)
        except Exception:  # interpreter shutdown: the module may be gone
            pass

    def _check(self, rc, op):
        if rc < 0:
            raise _error(rc, op)
        return rc

    def add(self, ring, tag=0):
        """Move `ring`, a consumer Ring of this process (SPSC or message
        ring), into the set; `ring` is closed after it. The member id."""
        if ring._views:
            raise Error(_errno.EBUSY, "the ring has a peek open: release it first", "add")
        member = self._check(lib.pyset_add(self._ps, ring._h, tag), "add")
        ring._moved()
        return member

    def add_name(self, ring_name, tag=0):
        """Open the named ring as its consumer and add it; the member id."""
        return self._check(lib.pyset_add_name(self._ps, _cname(ring_name), tag), "add_name")

    def remove(self, member):
        """Remove a member (its undelivered messages are not delivered)."""
        self._check(lib.pyset_remove(self._ps, member), "remove")

    @property
    def fd(self):
        """The control ring's descriptor."""
        return self._check(lib.pyset_fd(self._ps), "fd")

    def poll(self, budget=64):
        """Deliver what is there now: up to `budget` messages from each
        member, as a list of SetMessage (copies; empty when none).
        Also attaches rings that joined and removes drained members whose
        producer has gone."""
        b = ffi.new("struct pyset_batch *")
        try:
            n = self._check(lib.pyset_poll(self._ps, budget, b), "poll")
            if n == 0 or b.n == 0:
                return []
            k = b.n
            data = ffi.unpack(ffi.cast("char *", b.data), b.len)
            members = ffi.unpack(b.member, k)
            lens = ffi.unpack(b.mlen, k)
            tags = ffi.unpack(b.tag, k)
        finally:
            lib.pyset_batch_free(b)
        out = []
        off = 0
        for i in range(k):
            n = lens[i]
            out.append(SetMessage(members[i], tags[i], data[off:off + n]))
            off += n
        return out

    def wait(self, timeout=None):
        """Sleep until a member may have data: True (poll now; it may still
        find nothing) or False (timeout, seconds). KeyboardInterrupt ends it."""
        rc = _blocking(lib.pyset_wait, (self._ps,), timeout)
        if rc == -_errno.ETIMEDOUT:
            return False
        self._check(rc, "wait")
        return True

    def poll_wait(self, budget=64, timeout=None):
        """poll(), waiting until it delivers something or the timeout
        passes (then an empty list)."""
        msgs = self.poll(budget)
        if msgs:
            return msgs
        if timeout is None:
            while not msgs:
                self.wait()
                msgs = self.poll(budget)
            return msgs
        end = _time.monotonic() + timeout
        while not msgs:
            left = end - _time.monotonic()
            if left <= 0 or not self.wait(left):
                return self.poll(budget)
            msgs = self.poll(budget)
        return msgs


class SetLink:
    """A producer ring's link to a ring set (Ring.join_set). While it is
    joined the ring rings the set's doorbell; leave() (or the end of a
    with block, or closing the ring) ends it. The set's consumer removes
    the ring once its producer has closed it and it is drained."""

    __slots__ = ("_l", "ring", "set_name")

    def __init__(self, ring, set_name, tag=0):
        _need_sets("join_set")
        if ring.name is None:
            raise Error(_errno.EINVAL, "only a named ring can join a set", "join_set")
        if ring._link is not None:
            raise Error(_errno.EBUSY, "the ring has joined a set already", "join_set")
        self._l = ffi.new("struct pyset_link *")
        self.ring = ring
        self.set_name = set_name
        rc = lib.pyset_join(self._l, _cname(set_name), ring._h, _cname(ring.name), tag)
        if rc < 0:
            raise _error(rc, "join_set")
        ring._link = self

    def leave(self):
        """Stop ringing the set's doorbell and close the link (idempotent)."""
        ring = self.ring
        if ring is None:
            return
        rc = lib.pyset_leave(self._l, ring._h)
        self.ring = None
        ring._link = None
        if rc < 0:
            raise _error(rc, "leave")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.leave()
