"""Atomic file writes: a reader sees the old file or the whole new one, never half of it.

Every file the project writes for someone else to read (checkpoints, run reports, audit
records) goes through `atomic_write`: the content is written to a temporary file beside the
destination, flushed to disk and renamed over it in one step.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path


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


def write_bytes_atomic(path: str | Path, payload: bytes) -> Path:
    """Write `payload` to `path` atomically (atomic_write)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))


def safe_stem(file_name: str, limit: int, default: str) -> str:
    """The stem of a file name a browser sent, fit to name a file or a message here: letters,
    digits, "_" and "-" kept, other runs of characters made one "_", at most `limit` characters
    ("../My model (2).pt" -> "My_model_2_"); `default` when nothing is left. Never a path."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(file_name).stem)[:limit] or default
