# SPDX-License-Identifier: MIT
"""Errors of the binding: shmring.Error and the subclasses that are also
the matching built-in OSError subclasses (TimeoutError, ...)."""

import errno as _errno
import os as _os

from ._shmring_cffi import ffi, lib


def _strerror(err):
    return ffi.string(lib.shmring_strerror(err)).decode("utf-8", "replace")


class Error(OSError):
    """A failed shmring call.

    errno     the code, positive (errno.EAGAIN, ...)
    strerror  its text (the library's shmring_strerror for the codes of
              library calls, else os.strerror)
    detail    what was wrong: the library's shmring_errdetail() text for
              the calls that set it (create, open, close, ...), else the
              binding's reason, or ""
    op        the operation that failed ("push", "open", ...)
    """

    def __init__(self, err, detail="", op="", strerror=None):
        super().__init__(err, _os.strerror(err) if strerror is None else strerror)
        self.detail = detail
        self.op = op

    def __str__(self):
        s = f"[Errno {self.errno}] {self.strerror}"
        if self.op:
            s = f"{self.op}: {s}"
        if self.detail:
            s += f" ({self.detail})"
        return s

    def __reduce__(self):
        return (type(self), (self.errno, self.detail, self.op, self.strerror))


class Timeout(Error, TimeoutError):
    """-ETIMEDOUT: a blocking call's timeout passed."""


class PeerGone(Error, BrokenPipeError):
    """-EPIPE: every endpoint of the other side died and nothing is left."""


class Exists(Error, FileExistsError):
    """-EEXIST: create over an existing name."""


class NotFound(Error, FileNotFoundError):
    """-ENOENT: open of a missing name."""


class Denied(Error, PermissionError):
    """-EPERM / -EACCES: another user's ring, or a mode wider than accepted."""


_BY_ERRNO = {
    _errno.ETIMEDOUT: Timeout,
    _errno.EPIPE: PeerGone,
    _errno.EEXIST: Exists,
    _errno.ENOENT: NotFound,
    _errno.EPERM: Denied,
    _errno.EACCES: Denied,
}


# What the fast-path codes mean when nothing more precise was said.
_GENERIC = {
    _errno.EBADF: "this endpoint's role or ring kind does not allow the operation, "
                  "or the handle was inherited across fork()",
    _errno.EPROTO: "the ring's shared state is corrupt",
}


def error(rc, op):
    """The exception for a negative return code rc of the C side; the
    detail is read at once, on the thread that made the call."""
    err = -rc
    detail = ffi.string(lib.pyshm_detail()).decode("utf-8", "replace")
    text = None if lib.pyshm_detail_own() else _strerror(err)
    if not detail:
        detail = _GENERIC.get(err, "")
    return _BY_ERRNO.get(err, Error)(err, detail, op, text)
