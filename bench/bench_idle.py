"""CPU an idle app server uses: a browser tab left open, and no browser; print Markdown rows.

    python bench/bench_idle.py [--seconds 60] [--ray]

Starts `python -m streamlit run app.py --server.headless=true` on a free port with a temporary
run store (the app's default executor), opens the app once in headless chromium (Debian's, via
Playwright) and leaves the tab open: first on the landing page, then on the Unlearn page with
the stored demo run open (its jobs fragment is there too). After each page has rendered it
measures the server's CPU time over --seconds of idleness from /proc: utime + stime of the
server and its live descendants, plus cutime + cstime (children it reaped), in clock ticks.
With --ray it then runs one job from the Unlearn page (method `none`), which starts the server's
local Ray instance, and measures again once the job is done; each row also gives the part of
Ray's processes. Then it closes the browser and measures again. The goal (issues 15 and 24):
under 5% of one core. Not a test: numbers go to BENCHMARKS.md with the machine and its load
described.
"""

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from unlearn_core.engine.state import FINAL, JobBoard  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
RENDER_WAIT_S = 240  # the first page loads the demo model on busy cores
SETTLE_S = 5  # after the page's text shows: its charts draw, its first fragment runs end


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 onwards), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # the process ended
        return None
    return text[text.rindex(")") + 2 :].split()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))  # field 4: ppid
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def _is_ray(pid: int) -> bool:
    """A process of Ray's: its title is ray::..., or it runs a program of Ray's package."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return args[0].startswith(b"ray::") or any(b"/site-packages/ray/" in a for a in args[:3])


def cpu_ticks(pid: int) -> tuple[int, int]:
    """CPU time of `pid` (with what it reaped) and its live descendants, and the part of that
    spent in Ray's live processes, in clock ticks."""
    fields = _stat(pid)
    total, ray = sum(int(v) for v in fields[11:15]), 0  # utime stime cutime cstime
    for child in _descendants(pid):
        if child_fields := _stat(child):
            ticks = int(child_fields[11]) + int(child_fields[12])
            total += ticks
            ray += ticks if _is_ray(child) else 0
    return total, ray


def core_share(pid: int, seconds: float) -> tuple[float, float]:
    """Percent of one core the process tree used over the next `seconds`, and Ray's part."""
    (start_total, start_ray), start = cpu_ticks(pid), time.monotonic()
    time.sleep(seconds)
    end_total, end_ray = cpu_ticks(pid)
    scale = 100 / TICKS / (time.monotonic() - start)
    return (end_total - start_total) * scale, (end_ray - start_ray) * scale


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "UNLEARN_RUNS_DIR": str(store)}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true"]
    command += [f"--server.port={port}", "--browser.gatherUsageStats=false"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, **quiet)
    for _ in range(120):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the server did not start")


def run_one_job(page, store: Path) -> None:
    """Submit method `none` on the open Unlearn page and wait for the job to end: the server
    starts its local Ray instance for it."""
    wait = RENDER_WAIT_S * 1000
    page.locator(".st-key-unlearn_methods").click()
    page.get_by_role("option", name="none", exact=True).click(timeout=wait)
    page.keyboard.press("Escape")
    run = page.locator(".st-key-unlearn_run").get_by_role("button")
    run.wait_for(timeout=wait)  # the page reruns with the method's form
    time.sleep(SETTLE_S)
    run.click(timeout=wait)
    page.get_by_text("Submitted 1 job").wait_for(timeout=wait)
    board, end = JobBoard(store), time.monotonic() + RENDER_WAIT_S
    while not (jobs := board.list()) or any(j.state not in FINAL for j in jobs):
        if time.monotonic() > end:
            raise SystemExit("the job did not end")
        time.sleep(1)
    if jobs[0].state != "done":
        raise SystemExit(f"the job ended {jobs[0].state}: {jobs[0].error}")


def measure(url: str, pid: int, seconds: float, store: Path, ray: bool) -> list[tuple]:
    """(what was open, percent of a core, Ray's part) for the landing page, the Unlearn page
    with the demo run, (with ray) the same after a job ran on Ray, and no browser."""
    rows = []
    with sync_playwright() as p:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url)
        page.get_by_text("Test accuracy").first.wait_for(timeout=RENDER_WAIT_S * 1000)
        time.sleep(SETTLE_S)
        rows.append(("a tab open on the landing page", *core_share(pid, seconds)))
        page.locator(".st-key-open_demo_run").get_by_role("button").first.click()
        page.get_by_text("Results of the open runs").wait_for(timeout=RENDER_WAIT_S * 1000)
        time.sleep(SETTLE_S)
        rows.append(("a tab open on Unlearn, the demo run open", *core_share(pid, seconds)))
        if ray:
            run_one_job(page, store)
            time.sleep(3 * SETTLE_S)  # the panel's last fast reruns; Ray's idle workers end
            rows.append(("the same, Ray started by a job (done)", *core_share(pid, seconds)))
        browser.close()
    time.sleep(SETTLE_S)  # the server notices the closed socket
    rows.append(("no browser (the tab closed)", *core_share(pid, seconds)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--ray", action="store_true", help="also run a job, which starts Ray")
    args = parser.parse_args()
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{platform.machine()}, {os.cpu_count()} cores; load average at start {load}")
    with tempfile.TemporaryDirectory() as store:
        proc, url = start_server(Path(store) / "runs")
        try:
            rows = measure(url, proc.pid, args.seconds, Path(store) / "runs", args.ray)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average at the end {load}")
    print(f"\n| idle server, {args.seconds:.0f} s | CPU (% of one core) | of it Ray's | goal |")
    print("|---|---|---|---|")
    for what, share, ray in rows:
        print(f"| {what} | {share:.1f} | {ray:.1f} | {'met' if share < 5 else 'missed'} (< 5) |")


if __name__ == "__main__":
    main()
