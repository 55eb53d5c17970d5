# SPDX-License-Identifier: MIT
"""Zero-copy views: memoryviews over ring memory that end with their
reservation or peek.

Each view is a memoryview of a cffi buffer made for it alone. CPython
registers every memoryview made from it (a slice, memoryview(v),
v.cast(), the memoryview numpy.frombuffer keeps) with one managed buffer,
which holds a reference to the cffi buffer until the last of them is
released. At commit or release, for each handed-out view:

  1. other live memoryviews on its managed buffer (found through the
     managed buffer's reference count, then gc.get_referrers): refused,
     nothing changed (the handed-out view stays usable);
  2. the handed-out view is released (BufferError if something holds an
     export of it: refused);
  3. the cffi buffer's reference count must then be the binding's own;
     anything else (a view made from v.obj, say) refuses too.

A refused commit or release raises Error(EBUSY) and changes nothing in
the ring; delete or release the other views and call it again. Once it
succeeds, no view of that memory exists any more, and the handed-out one
raises ValueError on any use. The pointer under each buffer also keeps
the Ring alive, so the garbage collector never closes (unmaps) a ring
while a view of it exists.
"""

import errno as _errno
import gc as _gc
import sys as _sys

from ._errors import Error
from ._shmring_cffi import ffi

_getrefcount = _sys.getrefcount
_get_referents = _gc.get_referents
_get_referrers = _gc.get_referrers
_buffer = ffi.buffer
_ffi_gc = ffi.gc


def _keep(ring):
    """A destructor for ffi.gc that only holds `ring` (so the pointer
    cdata keeps the Ring alive)."""
    return lambda _p: ring


def _extra_refs(entries):
    """References to the cffi buffers of `entries` beyond the binding's own
    (calibrated below on a buffer nobody else holds)."""
    most = 0
    for e in entries:
        n = _getrefcount(e[0])
        if n > most:
            most = n
    return most


_MBUF = type(_get_referents(memoryview(b""))[0])


def _mbuf_refs(mv):
    """The managed buffer under mv and its reference count as seen here
    (None: not the CPython layout this relies on; steps 2 and 3 remain)."""
    refs = _get_referents(mv)
    if len(refs) != 1 or type(refs[0]) is not _MBUF:
        return None, 0
    mbuf = refs[0]
    return mbuf, _getrefcount(mbuf)


def _others_alive(mv):
    """Does a live memoryview other than mv share mv's managed buffer?"""
    mbuf, n = _mbuf_refs(mv)
    if mbuf is None or n <= _MBUF_BASE:
        return False
    # More memoryviews hold it: live ones, or released ones not yet freed.
    for r in _get_referrers(mbuf):
        if r is not mv and type(r) is memoryview:
            try:
                r.nbytes
            except ValueError:  # released
                continue
            return True
    return False


def _calibrate():
    raw = ffi.new("char[]", 1)
    cb = _buffer(raw, 1)
    mv = memoryview(cb)
    mbuf_base = _mbuf_refs(mv)[1]
    entries = [(cb, mv)]
    mv.release()
    del cb, mv
    return _extra_refs(entries), mbuf_base


_BASE, _MBUF_BASE = _calibrate()


class Views:
    """The views a Ring has handed out for its open reservation or peeks."""

    __slots__ = ("entries",)

    def __init__(self):
        self.entries = []

    def __bool__(self):
        return bool(self.entries)

    def make(self, ring, ptr, length, readonly):
        cb = _buffer(_ffi_gc(ptr, _keep(ring)), length)
        mv = memoryview(cb)
        if readonly:
            ro = mv.toreadonly()
            mv.release()
            mv = ro
        self.entries.append((cb, mv))
        return mv

    def end(self, op):
        """Invalidate every view, or raise Error(EBUSY) if one is still in
        use (see the module's docstring)."""
        entries = self.entries
        for e in entries:
            if _others_alive(e[1]):
                raise _busy(op)
        exported = False
        for e in entries:
            try:
                e[1].release()
            except BufferError:
                exported = True
        if not exported and _extra_refs(entries) > _BASE:
            _gc.collect()  # a cycle may hold the last view
        if exported or _extra_refs(entries) > _BASE:
            raise _busy(op)
        entries.clear()


def _busy(op):
    return Error(_errno.EBUSY,
                 "a view of the ring's memory is still in use (a slice, a copy of the "
                 "memoryview, an exported buffer or an array made from it): release or "
                 "delete it, then call again", op)
