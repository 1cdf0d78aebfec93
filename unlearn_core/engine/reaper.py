"""What is left of a local Ray instance once the process that started it has ended, killed.

Ray's head processes die with their owner (they are started with PR_SET_PDEATHSIG), but the
raylet's children do not: after a server killed with SIGKILL, `ray::DashboardAgent` and
`ray::RuntimeEnvAgent` lived on, ignoring SIGTERM, and workers running a job lived on after
their raylet was killed. A process of the instance is one of Ray's (titled ray::..., or running
a program of Ray's package) with a file open in the instance's session folder, which names no
other instance. Both are needed: any process reading or deleting that folder has a file there
(a test's rmtree of it was killed), and an environment variable set for the instance was
missing from its agents' /proc/PID/environ in 2 of 8 runs (Ray retitles them with
setproctitle, which reuses that memory).

Run as a script (stdlib only, so it starts in milliseconds and imports no torch), it is the
watchdog `ray_node.LocalNode` leaves beside the owner: it blocks on a pipe the owner holds and,
at end of file (the owner exited, however it ended), kills the instance's processes.

    python reaper.py SESSION_DIR OWNER_PID
"""

from __future__ import annotations

import os
import signal
import sys
import time

ROUNDS = 20  # a raylet dying can still be starting workers: look again, 0.25 s apart


def is_ray(args: list[bytes]) -> bool:
    """Whether a command line (/proc/PID/cmdline split at NUL) is one of Ray's processes."""
    return args[0].startswith(b"ray::") or any(b"/ray/" in a for a in args[:3])


def instance_pids(
    session_dir: str, exclude: tuple[int, ...] = (), ray_only: bool = True
) -> list[int]:
    """This user's Ray processes (any process: ray_only=False, the tests' wider check) with a
    file open under session_dir (others' are unreadable)."""
    prefix = session_dir.rstrip("/") + "/"
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            with open(f"{entry.path}/cmdline", "rb") as f:
                if ray_only and not is_ray(f.read().split(b"\0")):
                    continue
            links = [os.readlink(fd.path) for fd in os.scandir(f"{entry.path}/fd")]
        except OSError:  # ended meanwhile, or not ours
            continue
        if any(link.startswith(prefix) for link in links):
            found.append(int(entry.name))
    return found


def reap(session_dir: str, exclude: tuple[int, ...] = ()) -> int:
    """SIGKILL every process of the instance but `exclude` until none is left; -> how many."""
    killed: set[int] = set()
    for _ in range(ROUNDS):
        pids = instance_pids(session_dir, (*exclude, os.getpid()))
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)  # agents ignore SIGTERM
                killed.add(pid)
            except OSError:
                pass
        time.sleep(0.25)
    return len(killed)


def main() -> None:
    sys.stdin.buffer.read()  # returns at end of file: the owner has ended (or is ending)
    reap(sys.argv[1], exclude=(int(sys.argv[2]),))  # one still ending kills its own instance


if __name__ == "__main__":
    main()
