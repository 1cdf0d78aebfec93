"""Finding a Ray instance's processes in a test, by the files they keep open in its session
folder (a check only: the engine's reaper finds what it kills by an environment token)."""

from __future__ import annotations

import os
from pathlib import Path


def session_pids(session_dir: str) -> list[int]:
    """This user's processes with a file open under session_dir, this one left out."""
    prefix = session_dir.rstrip("/") + "/"
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            links = [os.readlink(fd.path) for fd in os.scandir(f"{entry.path}/fd")]
        except OSError:  # ended meanwhile, or not ours
            continue
        if any(link.startswith(prefix) for link in links):
            found.append(int(entry.name))
    return found


def title(pid: int) -> str:
    """A process's title (ray::NAME for Ray's workers and agents); "" once it has ended."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return ""
