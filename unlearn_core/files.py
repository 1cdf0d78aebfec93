"""Atomic file writes: a reader sees the old file or the whole new one, never half of it.

Every file the project writes for someone else to read (checkpoints, run reports, audit
records) goes through `atomic_write`: the content is written to a temporary file beside the
destination, flushed to disk and renamed over it in one step.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from safetensors import SafetensorError

from unlearn_core.errors import UserError


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call `write(tmp_path)` to fill a temporary file beside `path`, then rename it to `path`.

    The temporary file is removed if `write` raises; the destination is then untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide shared files from other users
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


@contextlib.contextmanager
def writing(path: str | Path):
    """Within the block, a failed write (OSError: a full disk, a read-only folder, a path below
    a file; or safetensors' own error for the same) is one UserError naming `path`."""
    try:
        yield
    except (OSError, SafetensorError) as err:
        reason = getattr(err, "strerror", None) or str(err).strip().splitlines()[0][:120]
        raise UserError(f"cannot write {path} ({reason}); nothing was written there.") from None


@contextlib.contextmanager
def out_lock(target: str | Path):
    """Hold `.NAME.lock` in the nearest existing folder above `target` for the block: a second
    process writing the same --out at the same time is refused with one line rather than
    silently replacing the first one's output. The lock file is removed when the block ends (a
    holder checks, once locked, that the file it locked is still the one at that path); the
    lock dies with its process."""
    target = Path(target).absolute()
    above = next((p for p in target.parents if p.is_dir()), Path("/"))
    lock = above / f".{target.name}.lock"
    with writing(lock):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(lock).st_ino:
                raise BlockingIOError  # released and removed in between: another one runs
        except (BlockingIOError, FileNotFoundError):
            raise UserError(
                f"{target} is being written by another process right now; wait for it or "
                "choose another --out."
            ) from None
        try:
            yield target
        finally:
            os.unlink(lock)
    finally:
        os.close(fd)


def check_out_folder(out: str | Path, flag: str = "--out") -> Path:
    """UserError, one line and before any work, unless a folder can be made or written at
    `out`: it is a folder or absent, and the nearest existing folder above it is one this
    process may write to (a file in the way, a read-only file system such as /proc, a
    permission)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{flag} {out} exists and is not a folder; name a folder.")
    above = next((p for p in out.absolute().parents if p.exists()), Path("/"))
    if not above.is_dir():
        raise UserError(f"{flag} {out} lies below {above}, which is not a folder.")
    folder = out if out.is_dir() else above
    try:  # a real probe: /proc passes os.access for root but takes no folder
        os.rmdir(tempfile.mkdtemp(dir=folder, prefix=".probe-"))
    except OSError as err:
        raise UserError(f"{flag} {out}: {folder} is not writable ({err.strerror}).") from None
    return out


def write_bytes_atomic(path: str | Path, payload: bytes) -> Path:
    """Write `payload` to `path` atomically (atomic_write); UserError naming `path` if the
    write fails (writing)."""
    with writing(path):
        return atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))


def safe_stem(file_name: str, limit: int, default: str) -> str:
    """The stem of a file name a browser sent, fit to name a file or a message here: letters,
    digits, "_" and "-" kept, other runs of characters made one "_", at most `limit` characters
    ("../My model (2).pt" -> "My_model_2_"); `default` when nothing is left. Never a path."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(file_name).stem)[:limit] or default


SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")  # a run's or job's id: never a path
MAX_JSON_CONTAINERS = 1_000_000  # objects and arrays in one JSON file: a report has thousands
MAX_JSON_DEPTH = 64  # nesting: a report nests six deep


def read_regular(path: str | Path, limit: int, what: str | None = None) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them. UserError, one line
    naming the cap, for anything else: a FIFO, a device (/dev/zero), a folder, a file over the
    cap. Opened non-blocking, so a FIFO is refused rather than waited on; the check is on the
    opened file (fstat), so a swap between check and read is refused too."""
    with os.fdopen(open_regular(path, limit, what), "rb") as f:
        payload = f.read(limit + 1)
    if len(payload) > limit:
        raise UserError(f"{what or Path(path).name} grew past the cap of {limit} bytes.")
    return payload


def open_regular(path: str | Path, limit: int, what: str | None = None) -> int:
    """A read-only descriptor of the regular file at `path` (links followed) of at most
    `limit` bytes. UserError, one line, for a FIFO, a device, a folder, a missing file or one
    over the cap (named). Opened non-blocking, so a FIFO is refused rather than waited on, and
    checked on the descriptor (fstat), so a swap after a check is refused too."""
    what = what or Path(path).name
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise UserError(f"{what} cannot be read ({err.strerror}).") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{what} is not a regular file.")
        raise UserError(f"{what} is {info.st_size} bytes, over the cap of {limit} bytes.")
    return fd


def parse_json_bounded(
    payload: bytes,
    what: str,
    max_containers: int = MAX_JSON_CONTAINERS,
    max_depth: int = MAX_JSON_DEPTH,
):
    """JSON from `payload`, refused (UserError naming the cap) when it could hold more than
    `max_containers` objects and arrays (counted on the bytes before parsing: `[{},{},…]` of
    100 MB would take gigabytes as Python objects) or nests deeper than `max_depth`; NaN and
    infinity are refused too (JSON has neither)."""
    containers = payload.count(b"{") + payload.count(b"[")
    if containers > max_containers:
        raise UserError(
            f"{what} holds over {max_containers} JSON objects and arrays (the cap); not ours."
        )
    try:
        value = json.loads(payload, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise UserError(f"{what} is not valid JSON.") from None
    if _depth(value) > max_depth:
        raise UserError(f"{what} nests deeper than {max_depth} levels (the cap); not ours.")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _depth(value) -> int:
    """How deep `value` nests (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest
