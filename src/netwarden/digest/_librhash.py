"""ctypes binding to RHash's C library (``librhash.so.0``, Debian package ``librhash0``).

Why librhash: it is the library behind the ``rhash`` CLI, so our ED2K and TTH are the very
conventions the CLI prints (ED2K's treatment of files that are an exact multiple of 9,728,000
bytes, TTH's THEX tree), it computes MD5, SHA-1, SHA-256, ED2K and TTH in one ``rhash_update``
call per chunk, and it uses OpenSSL (SHA-NI where the CPU has it) for MD5/SHA-1/SHA-256 when
OpenSSL is present. ``ctypes.CDLL`` releases the GIL for the duration of every call, so several
threads hash several streams on several cores.

Only the few functions we need are declared; the constants come from ``rhash.h`` (RHash 1.4).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

from netwarden.errors import NetwardenError

# enum rhash_ids (rhash.h)
MD4 = 0x02
MD5 = 0x04
SHA1 = 0x08
TIGER = 0x10
TTH = 0x20
ED2K = 0x80
SHA256 = 0x20000

# enum rhash_print_sum_flags (rhash.h): raw bytes of the digest
RHPR_RAW = 0x1

_LIBRARY_NAMES = ("librhash.so.0", "librhash.so.1", "librhash.so")
_MAX_DIGEST = 64  # the longest digest librhash prints raw (SHA-512 and friends)


class LibRHashMissing(NetwardenError):
    """librhash cannot be loaded: the digest engine refuses to run without ED2K and TTH."""


_lib: ctypes.CDLL | None = None
_lock = threading.Lock()


def _declare(lib: ctypes.CDLL) -> None:
    lib.rhash_library_init.argtypes = []
    lib.rhash_library_init.restype = None
    lib.rhash_init.argtypes = [ctypes.c_uint]
    lib.rhash_init.restype = ctypes.c_void_p
    lib.rhash_update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.rhash_update.restype = ctypes.c_int
    lib.rhash_final.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.rhash_final.restype = ctypes.c_int
    lib.rhash_print.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    lib.rhash_print.restype = ctypes.c_size_t
    lib.rhash_free.argtypes = [ctypes.c_void_p]
    lib.rhash_free.restype = None
    lib.rhash_msg.argtypes = [ctypes.c_uint, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    lib.rhash_msg.restype = ctypes.c_int


def library() -> ctypes.CDLL:
    """The loaded and initialised librhash; raises :class:`LibRHashMissing` if there is none."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            names = list(_LIBRARY_NAMES)
            found = ctypes.util.find_library("rhash")
            if found:
                names.append(found)
            errors = []
            for name in names:
                try:
                    lib = ctypes.CDLL(name)
                except OSError as exc:
                    errors.append(str(exc))
                    continue
                _declare(lib)
                lib.rhash_library_init()
                _lib = lib
                break
            else:
                raise LibRHashMissing(
                    "the digest engine needs RHash's C library librhash.so.0 for ED2K and TTH, "
                    "and it could not be loaded (install the Debian package 'librhash0': "
                    f"apt-get install librhash0); tried: {'; '.join(errors)}")
    return _lib


class Context:
    """One librhash context computing the hashes in ``mask`` over a stream."""

    __slots__ = ("_ctx", "_lib")

    def __init__(self, mask: int) -> None:
        self._lib = library()
        ctx = self._lib.rhash_init(mask)
        if not ctx:
            raise MemoryError(f"librhash: rhash_init(0x{mask:x}) failed")
        self._ctx: int | None = ctx

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed ``data`` (zero-copy for bytes and writable buffers); the GIL is released."""
        if self._ctx is None:
            raise RuntimeError("librhash context already finalised")
        n = len(data) if not isinstance(data, memoryview) else data.nbytes
        if n == 0:
            return
        if isinstance(data, bytes):
            self._lib.rhash_update(self._ctx, data, n)
            return
        view = data if isinstance(data, memoryview) else memoryview(data)
        if view.readonly or not view.c_contiguous:
            # ctypes cannot point into a read-only buffer; copy this one chunk (bounded).
            self._lib.rhash_update(self._ctx, view.tobytes(), n)
            return
        buf = (ctypes.c_char * n).from_buffer(view.cast("B"))
        try:
            self._lib.rhash_update(self._ctx, buf, n)
        finally:
            del buf

    def finish(self, ids: tuple[int, ...]) -> dict[int, bytes]:
        """Finalise and return the raw digest of each hash id; frees the context."""
        if self._ctx is None:
            raise RuntimeError("librhash context already finalised")
        try:
            self._lib.rhash_final(self._ctx, None)
            out: dict[int, bytes] = {}
            for hash_id in ids:
                buf = ctypes.create_string_buffer(_MAX_DIGEST)
                n = self._lib.rhash_print(buf, self._ctx, hash_id, RHPR_RAW)
                if n == 0:
                    raise RuntimeError(f"librhash: no digest for hash id 0x{hash_id:x}")
                out[hash_id] = buf.raw[:n]
            return out
        finally:
            self.close()

    def close(self) -> None:
        """Free the C context (idempotent)."""
        if getattr(self, "_ctx", None) is not None:
            self._lib.rhash_free(self._ctx)
            self._ctx = None

    def __del__(self) -> None:
        self.close()


def digest(hash_id: int, data: bytes) -> bytes:
    """One-shot raw digest of ``data`` with a single librhash hash id (MD4, TIGER, ...)."""
    ctx = Context(hash_id)
    ctx.update(data)
    return ctx.finish((hash_id,))[hash_id]
