"""Connecting to Ray: a cluster at an address, or a local instance this process starts, owns,
watches and leaves nothing of when it ends.

A local instance is started with no dashboard, bound to 127.0.0.1, its workers' logs kept from
this process's terminal. Its raylet is watched: when it dies (killed, or out of memory) the
jobs on it cannot end, so `LocalNode.check` raises NodeDied at the next poll instead of
waiting for Ray's own 15 s detection and its log; and a watchdog (reaper.py) kills what is left
of the instance once this process has ended, however it ended.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from unlearn_core.engine.reaper import reap
from unlearn_core.errors import UserError

ADDRESS_ENV = "UNLEARN_RAY_ADDRESS"
_WATCHDOGS: list[subprocess.Popen] = []  # held for the process: their pipes close at its end


class NodeDied(UserError):
    """Ray's local node died: every job on it has ended, and this instance cannot run more."""


class LocalNode:
    """The local instance this process started: its raylet and its session folder."""

    def __init__(self, node):
        self.raylet = node.all_processes["raylet"][0].process  # a Popen: poll() sees its end
        self.session_dir = node.get_session_dir_path()
        # the watchdog: holds the read end of a pipe only this process writes to
        reaper = Path(__file__).with_name("reaper.py")
        watchdog = subprocess.Popen(
            [sys.executable, "-I", str(reaper), self.session_dir, str(os.getpid())],
            stdin=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C in this terminal must not end it first
        )
        _WATCHDOGS.append(watchdog)

    def check(self) -> None:
        """NodeDied when the raylet has ended."""
        code = self.raylet.poll()
        if code is None:
            return
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        raise NodeDied(
            f"Ray's local node died (its raylet ended: {how}; the out-of-memory killer or a "
            "kill -9 does this); its jobs were lost: run them again."
        )

    def reap(self) -> None:
        """Kill what ray.shutdown() left of the instance (workers outlive their raylet)."""
        reap(self.session_dir)


def connect(
    address: str | None, workers: int | None, runtime_env: dict, gpus: int | None = None
) -> LocalNode | None:
    """Connect to the cluster at `address`, or start a local instance (`workers` CPUs; `gpus`
    GPUs, None: those Ray finds) and return it. Ray's own log stays out of this process's
    terminal either way."""
    import ray

    quiet_ray()
    common = dict(log_to_driver=False, configure_logging=False, runtime_env=runtime_env)
    if address:
        check_reachable(address)
        host = address.removeprefix("ray://").rpartition(":")[0]
        if host in ("127.0.0.1", "localhost"):
            stay_on_loopback()
            common["_node_ip_address"] = "127.0.0.1"
        ray.init(address=address, **common)
        return None
    stay_on_loopback()
    ray.init(
        address="local",  # a new instance: never one someone else started with `ray start`
        num_cpus=workers or os.cpu_count(),
        num_gpus=gpus,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        # no idle task workers kept (a fanned-out audit's): each cost 0.5% of a core idle and,
        # once it has run a call, holds torch, the data and the models (about 1 GB); the next
        # call still reuses one. Jobs run on the pool's actors, which this does not touch.
        _system_config={"num_workers_soft_limit": 0},
        **common,
    )
    node = ray._private.worker._global_node
    stop_log_monitor(node)
    return LocalNode(node)


def stop_log_monitor(node) -> None:
    """End the instance's log monitor: it only ships workers' output to drivers, which
    log_to_driver=False turns away, and it reads their log files ten times a second (0.6% of a
    core, a quarter of an idle instance's CPU). Ray offers no switch for it in ray.init."""
    from ray._private import ray_constants

    for info in node.all_processes.pop(ray_constants.PROCESS_TYPE_LOG_MONITOR, []):
        info.process.kill()
        info.process.wait()


def quiet_ray() -> None:
    """Ray's messages stay out of this process's terminal: its log below errors, and the
    worker and node failures its driver prints to stdout (dozens of lines each; the failed
    job's own error says what happened in one) go to the "ray" logger at debug level."""
    import ray._private.worker as ray_worker

    logger = logging.getLogger("ray")
    logger.setLevel(logging.ERROR)

    def to_log(data, ignore_prefix: bool) -> None:
        for line in data.get("lines", []):
            logger.debug("(%s) %s", data.get("pid"), line)

    # read by name on each message by Ray's error listener (_private/worker.py)
    ray_worker.print_to_stdstream = to_log


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """A Ray address (host:port or ray://host:port) that nothing answers at is one line,
    before Ray itself would wait a minute or more for it."""
    import re
    import socket

    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536:
        raise UserError(
            f"Ray address {address[:80]!r} is not host:port with a port of 1 to 65535 "
            "(e.g. 127.0.0.1:6379)."
        )
    if len(host) > 253:  # DNS's limit; idna raises on a longer name
        raise UserError(f"Ray address {address[:80]!r}…: the host name is too long.")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, UnicodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise UserError(f"cannot reach a Ray cluster at {address[:80]}: {reason}.") from None


def stay_on_loopback() -> None:
    """A local instance, or a cluster on this machine (started on 127.0.0.1): Ray would
    otherwise replace 127.0.0.1 in addresses by the host's network address, where nothing of
    that cluster listens. Its switch for single-machine platforms keeps every Ray process on
    loopback (the environment variable reaches the processes it starts)."""
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
