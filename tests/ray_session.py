"""Finding a Ray instance's processes in a test: every process with a file open in its session
folder, Ray's or not (wider than what the engine's reaper kills: Ray's processes only)."""

from __future__ import annotations

import os
from pathlib import Path

from unlearn_core.engine.reaper import instance_pids


def session_pids(session_dir: str) -> list[int]:
    """This user's processes with a file open under session_dir, this one left out."""
    return instance_pids(session_dir, (os.getpid(),), ray_only=False)


def title(pid: int) -> str:
    """A process's title (ray::NAME for Ray's workers and agents); "" once it has ended."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return ""
