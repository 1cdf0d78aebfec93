"""What is left of a local Ray instance once the process that started it has ended, killed.

Ray's head processes die with their owner (they are started with PR_SET_PDEATHSIG), but the
raylet's children do not: after a server killed with SIGKILL, `ray::DashboardAgent` and
`ray::RuntimeEnvAgent` lived on, ignoring SIGTERM, and workers running a job lived on after
their raylet was killed. The owner starts its instance with INSTANCE_ENV set to a token of its
own, which every process of the instance inherits (the raylet passes its environment on to the
agents and workers) and nothing else has: that is how they are found. (A file open in the
instance's session folder is not enough: any process reading or deleting that folder has one.)

Run as a script (stdlib only, so it starts in milliseconds and imports no torch), it is the
watchdog `ray_node.LocalNode` leaves beside the owner: it blocks on a pipe the owner holds and,
at end of file (the owner exited, however it ended), kills the instance's processes.

    python reaper.py TOKEN OWNER_PID
"""

from __future__ import annotations

import os
import signal
import sys
import time

INSTANCE_ENV = "UNLEARN_RAY_INSTANCE"
ROUNDS = 20  # a raylet dying can still be starting workers: look again, 0.25 s apart


def instance_pids(token: str, exclude: tuple[int, ...] = ()) -> list[int]:
    """This user's processes whose environment holds INSTANCE_ENV=token (others' environments
    are unreadable)."""
    marker = f"{INSTANCE_ENV}={token}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            with open(f"{entry.path}/environ", "rb") as f:
                variables = f.read().split(b"\0")
        except OSError:  # ended meanwhile, or not ours
            continue
        if marker in variables:
            found.append(int(entry.name))
    return found


def reap(token: str, exclude: tuple[int, ...] = ()) -> int:
    """SIGKILL every process of the instance but `exclude` until none is left; -> how many."""
    killed: set[int] = set()
    for _ in range(ROUNDS):
        pids = instance_pids(token, (*exclude, os.getpid()))
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
