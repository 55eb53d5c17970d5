# SPDX-License-Identifier: MIT
"""shmring: lock-free ring buffers in POSIX shared memory.

A binding of libshmring (cffi, API mode). docs/python.md has the guide:

    import shmring
    with shmring.Ring.create("/quotes", shmring.SPSC, 1024, 64) as prod:
        prod.push_wait(b"hello")
    # another process
    with shmring.Ring.open("/quotes", shmring.CONSUMER) as cons:
        msg = cons.pop_wait(timeout=1.0)

Rings: Ring (SlotRing for SPSC and MPMC, MessageRing for MSG_SPSC and
MSG_MPSC); ring sets: RingSet, SetLink; errors: Error (an OSError) and
its subclasses Timeout, PeerGone, Exists, NotFound, Denied.
"""

from ._errors import Denied, Error, Exists, NotFound, PeerGone, Timeout
from ._ring import SLICE, Kind, MessageRing, Ring, Role, SlotRing
from ._set import HAVE_SETS, RingSet, SetLink, SetMessage
from ._shmring_cffi import lib as _lib

SPSC = Kind.SPSC
MPMC = Kind.MPMC
MSG_SPSC = Kind.MSG_SPSC
MSG_MPSC = Kind.MSG_MPSC
PRODUCER = Role.PRODUCER
CONSUMER = Role.CONSUMER
OBSERVER = Role.OBSERVER
NONE = Role.NONE

NAME_MAX = _lib.SHMRING_NAME_MAX
SLOT_MAX = _lib.SHMRING_SLOT_MAX
LIBRARY_VERSION = (_lib.SHMRING_VERSION_MAJOR, _lib.SHMRING_VERSION_MINOR,
                   _lib.SHMRING_VERSION_PATCH)
__version__ = "%d.%d.%d" % LIBRARY_VERSION

unlink = Ring.unlink
unlink_stale = Ring.unlink_stale

# Shown (and pickled) as shmring.X, where they are exported.
for _cls in (Error, Timeout, PeerGone, Exists, NotFound, Denied, Kind, Role, Ring, SlotRing,
             MessageRing, RingSet, SetLink, SetMessage):
    _cls.__module__ = __name__
del _cls


def as_array(view, dtype="uint8", count=-1, offset=0):
    """A numpy array over a zero-copy view (numpy.frombuffer): no copy.
    The array holds the view's memory, so commit() or release() refuse
    (Error EBUSY) until the array is deleted. Needs numpy."""
    import numpy

    return numpy.frombuffer(view, dtype=dtype, count=count, offset=offset)


__all__ = [
    "Denied", "Error", "Exists", "HAVE_SETS", "Kind", "LIBRARY_VERSION", "MPMC", "MSG_MPSC",
    "MSG_SPSC", "MessageRing", "NAME_MAX", "NONE", "NotFound", "OBSERVER", "PRODUCER",
    "CONSUMER", "PeerGone", "Ring", "RingSet", "Role", "SLICE", "SLOT_MAX", "SPSC", "SetLink",
    "SetMessage", "SlotRing", "Timeout", "as_array", "unlink", "unlink_stale",
]
