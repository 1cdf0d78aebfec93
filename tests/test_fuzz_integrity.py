"""Issue 28's fuzz suite: hostile inputs on every surface of finding 7 (command-line values,
paths and --out targets, job files, audit records, the app's address), generated from a seed
so a failure reproduces. Every case runs in-process (main(argv)) under a time bound, and must
end in exactly one `error:` line with exit code 2 (a job listing: the hostile file skipped,
the others listed), nothing written, and little memory. The counts of tracebacks, hangs,
blow-ups and silent acceptances are printed and must all be 0.

CI runs a seeded sample of each surface (well under two minutes); `pytest -m fuzz_full
tests/test_fuzz_integrity.py` runs every case.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import resource
import signal
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import DEMO_CHECKPOINT

from unlearn_core.cli.main import main

SEED = 28
SAMPLE = 0.12  # of each surface's cases, in CI
CASE_SECONDS = 30  # a case still running after this is a hang
BLOW_UP_MIB = 768  # a case that raises the process's peak memory by more is a blow-up


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` of the code swallows it."""


@dataclass
class Counts:
    cases: int = 0
    tracebacks: list = field(default_factory=list)
    hangs: list = field(default_factory=list)
    blow_ups: list = field(default_factory=list)
    silent: list = field(default_factory=list)  # accepted (exit 0) or not one line, or wrote

    def failures(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "cases" and v}

    def line(self, surface: str, seconds: float) -> str:
        return (
            f"fuzz {surface}: {self.cases} cases, {len(self.tracebacks)} tracebacks, "
            f"{len(self.hangs)} hangs, {len(self.blow_ups)} blow-ups, {len(self.silent)} silent "
            f"acceptances, {seconds:.1f} s"
        )


def _peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def run_case(argv: list[str], watch: list[Path]) -> tuple[str, int | None, str, bool]:
    """(outcome, exit code, stderr, wrote) of main(argv); outcome is "ran", "traceback" or
    "hang". `watch`: folders whose files must not change."""
    before = [_files(w) for w in watch]
    err, out = io.StringIO(), io.StringIO()

    def alarm(*_):
        raise Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(CASE_SECONDS)
    outcome, code = "ran", None
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse's usage errors
                code = exit_.code
    except Hang:
        outcome = "hang"
    except BaseException as exc:  # noqa: BLE001  (that is what is counted)
        outcome = f"traceback {type(exc).__name__}: {str(exc)[:80]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    wrote = [_files(w) for w in watch] != before
    return outcome, code, err.getvalue(), wrote


def judge(counts: Counts, name: str, argv: list[str], watch: list[Path], expect: str = "refused"):
    """Run one case and count it; expect "refused" (exit 2, one error line) or "listed"."""
    peak = _peak_mib()
    outcome, code, err, wrote = run_case(argv, watch)
    counts.cases += 1
    if outcome == "hang":
        counts.hangs.append(name)
    elif outcome != "ran":
        counts.tracebacks.append(f"{name}: {outcome}")
    elif _peak_mib() - peak > BLOW_UP_MIB:
        counts.blow_ups.append(f"{name}: +{_peak_mib() - peak} MiB")
    elif expect == "refused":
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        if code != 2 or len(errors) != 1 or "Traceback" in err or wrote:
            counts.silent.append(f"{name}: exit {code}, {len(errors)} error lines, wrote {wrote}")
    elif code != 0 or wrote:
        counts.silent.append(f"{name}: exit {code}")


def sampled(cases: list, request) -> list:
    if "fuzz_full" in (request.config.getoption("markexpr") or ""):
        return cases
    rng = random.Random(SEED)
    return [c for c in cases if rng.random() < SAMPLE]


def report(counts: Counts, surface: str, started: float) -> None:
    print(counts.line(surface, time.monotonic() - started))
    for kind, names in counts.failures().items():
        print("\n".join(f"  {kind}: {name}" for name in names))
    assert not counts.failures(), counts.line(surface, time.monotonic() - started)


# --- command-line values -------------------------------------------------------------------

NOT_NUMBERS = ["", "abc", "²", "٣", "0x10", "1e309", "nan", "inf", "-inf", "9" * 5000, " "]
NOT_POSITIVE = ["0", "-1", str(-(2**70))]
NOT_SEEDS = ["-1", str(2**70), str(2**32), "1.5", "1e3", *NOT_NUMBERS]
NOT_DATES = ["9999-01-01", "2999-01-01", "2024-02-30", "yesterday", "2024-1-1", "x" * 5000,
             "²⁰²⁴-01-01", "2024-13-01", "0000-00-00"]  # fmt: skip
NOT_CLASSES = ["-1", "10", "99999999999999", "²", "a", "", ",", "1.5", "9" * 5000, "3;5"]
NOT_ADDRESSES = ["127.0.0.1:99999999999999999999", "127.0.0.1:0", "127.0.0.1:65536",
                 "nohost", "127.0.0.1:²", "127.0.0.1:-1", ":6379", "127.0.0.1:",
                 "x" * 5000 + ":1"]  # fmt: skip
NOT_INDICES = ["-1", "99999999999999", "²", "٣", "a", "", ","]
NOT_GRIDS = ["lr=nan", "lr=inf", "lr=", "foo=1", "lr=abc", "=", "lr", "sd_gamma=1e309",
             "epochs=1e400", "batch_size=-inf"]  # fmt: skip


def hostile_paths(root: Path) -> list[str]:
    """Paths that are no checkpoint or run: devices, a FIFO, links, folders, text, nothing."""
    fifo, link, text = root / "fifo", root / "zero-link", root / "text.safetensors"
    if not fifo.exists():
        os.mkfifo(fifo)
        link.symlink_to("/dev/zero")
        text.write_text("not weights")
        (root / "adir").mkdir()
    return ["/dev/zero", str(fifo), str(link), str(text), str(root / "adir"), "/proc/nope",
            "/etc/passwd", "nope.safetensors", "a" * 5000, ""]  # fmt: skip


def hostile_outs(root: Path) -> list[str]:
    """--out targets that cannot be written: a file, below a file, a read-only file system, a
    name too long, a device."""
    afile = root / "afile"
    afile.write_text("x")
    return [str(afile), str(afile / "below"), "/proc/nope", "/proc/nope/deeper", "/dev/null",
            "b" * 5000, str(root / ("c" * 300))]  # fmt: skip


def cli_cases(root: Path, run: Path) -> list[tuple[str, list[str]]]:
    """(name, argv) of every command-line case: a valid command with one value made hostile."""
    ck, paths, outs = str(DEMO_CHECKPOINT), hostile_paths(root), hostile_outs(root)
    out = str(root / "out")
    train = ["train", "--dataset", "demo", "--arch", "logreg", "--epochs", "1",
             "--out", out + ".safetensors"]  # fmt: skip
    unlearn = ["unlearn", "--checkpoint", ck, "--method", "none", "--forget-classes", "3",
               "--no-store", "--out", out]  # fmt: skip
    sweep = ["sweep", "--checkpoint", ck, "--methods", "none", "--forget-classes", "3",
             "--seeds", "0", "--executor", "inline", "--out", out]  # fmt: skip
    audit_ = ["privacy-audit", "--checkpoint", ck, "--method", "none", "--forget-classes", "3",
              "--models", "4", "--executor", "inline", "--out", out]  # fmt: skip
    study = ["study", "--grid", "lr=0.1", "--forget-indices", "1,2", "--out", out]
    explain = ["explain", "--kind", "probe", "--checkpoint", ck, "--unlearned", str(run),
               "--out", out]  # fmt: skip
    record = ["audit", "--run", str(run), "--out", str(root / "r.zip")]
    bad, pos = NOT_NUMBERS, NOT_NUMBERS + NOT_POSITIVE  # not numbers; not positive numbers
    plan = [
        (train, "--seed", NOT_SEEDS), (train, "--epochs", pos), (train, "--lr", pos),
        (train, "--batch-size", pos), (train, "--weight-decay", [*bad, "-1"]),
        (train, "--momentum", [*bad, "1", "-1"]), (train, "--sd-gamma", [*bad, "-1"]),
        (train, "--arch", ["vit_h_99", "", "../x", "x" * 5000]),
        (train, "--dataset", ["nope", "", "../etc", "x" * 5000]), (train, "--out", outs),
        (unlearn, "--checkpoint", paths), (unlearn, "--method", ["nope", "", "UNSIR", "x" * 99]),
        (unlearn, "--forget-classes", NOT_CLASSES), (unlearn, "--seed", NOT_SEEDS),
        (unlearn, "--request-date", NOT_DATES),
        (unlearn, "--requester", ["a\nb", "x" * 201, "\x1b[31m"]),
        (unlearn, "--set", ["epochs=0", "nope=1", "=", "lr", "lr=nan"]), (unlearn, "--out", outs),
        (sweep, "--checkpoint", paths), (sweep, "--seeds", NOT_INDICES), (sweep, "--out", outs),
        (sweep, "--methods", ["nope", ",", "none,nope"]), (sweep, "--workers", pos),
        (audit_, "--checkpoint", paths), (audit_, "--models", [*pos, "1", "3"]),
        (audit_, "--margin", [*bad, "-1", "0.6"]), (audit_, "--out", outs),
        (study, "--grid", NOT_GRIDS), (study, "--seed", NOT_SEEDS), (study, "--out", outs),
        (study, "--forget-indices", NOT_INDICES),
        (study, "--threads", pos), (explain, "--seed", NOT_SEEDS),
        (explain, "--checkpoint", paths), (explain, "--out", outs),
        (explain, "--unlearned", paths), (record, "--out", outs[1:5]), (record, "--run", paths),
    ]  # fmt: skip
    cases = []
    for base, flag, values in plan:
        for i, value in enumerate(values):
            argv = list(base)
            if flag in argv:
                argv[argv.index(flag) + 1] = value
            else:
                argv += [flag, value]
            cases.append((f"{base[0]} {flag} #{i}", argv))
    ray = [*sweep[:-2], "--executor", "ray", "--out", out]
    cases += [
        (f"sweep --address #{i}", [*ray, "--address", a]) for i, a in enumerate(NOT_ADDRESSES)
    ]
    cases += [(f"audit --verify #{i}", ["audit", "--verify", p]) for i, p in enumerate(paths)]
    cases += [(f"jobs cancel #{i}", ["jobs", "cancel", j]) for i, j in enumerate(
        ["j" * 5000, "../x", ".hidden", "", "a/b", "nope"])]  # fmt: skip
    big = [
        f"--grid={k}=" + ",".join(str(v) for v in range(1, 100))
        for k in ("lr", "epochs", "batch_size")
    ]
    cases.append(("study 990,000 settings", ["study", *big, "--forget-indices", "1", "--out", out]))
    return cases


@pytest.fixture(scope="module")
def run_folder(demo, tmp_path_factory) -> Path:
    from unlearn_core.request import ForgetRequest
    from unlearn_core.run.pipeline import unlearn_model
    from unlearn_core.run.store import write_run_folder
    from unlearn_core.training import Recipe, train

    recipe = Recipe(lr=0.05, batch_size=64, epochs=1, seed=0, probe_every=0)
    trained = train("logreg", demo, recipe, device="cpu", probes=False)
    run = unlearn_model(trained, {}, demo, ForgetRequest.for_classes(demo, [3]), "none")
    return write_run_folder(run, tmp_path_factory.mktemp("fuzzrun") / "run")


@pytest.mark.fuzz_full
def test_fuzz_command_line(tmp_path, run_folder, request):
    started, counts = time.monotonic(), Counts()
    cases = cli_cases(tmp_path, run_folder)
    assert len(cases) >= 350
    for name, argv in sampled(cases, request):
        judge(counts, name, argv, [tmp_path, Path(os.environ["UNLEARN_RUNS_DIR"])])
    report(counts, "command line", started)


# --- job files in the store ----------------------------------------------------------------

VALID_JOB = {"id": "job-1", "spec": {}, "state": "done", "progress": 1.0, "phase": "done",
             "owner": {"host": "h", "pid": 1, "start": "1"}}  # fmt: skip


def job_payloads() -> list[tuple[str, bytes | None]]:
    """(name, bytes) of hostile job files; None: a special file made by the case."""
    rng = random.Random(SEED)
    payloads = [("zero-link", None), ("fifo", None), ("folder", None)]
    plain = [b"", b"[]", b"{}", b"null", b"1", b'"x"', b"{" * 100_000, b"[" * 50_000,
             b"\xff\xfe", b'{"id": NaN}', b"[" + b"{}," * 300_000 + b"{}]"]  # fmt: skip
    payloads += [(f"plain-{i}", p) for i, p in enumerate(plain)]
    bad_values = [None, [], "x", 1, -1.5, float("inf"), {}, True, "9" * 5000, {"pid": "1"}]
    for key in VALID_JOB:
        for i, value in enumerate(bad_values):
            if (key, type(value)) in (("phase", str), ("spec", dict)):
                continue  # any text is a phase; a spec is read only when the job runs
            job = {**VALID_JOB, key: value}
            if key == "progress" and isinstance(value, int | float) and 0 <= value <= 1:
                continue
            text = json.dumps(job, allow_nan=True).encode()
            payloads.append((f"{key}-{i}", text))
        job = dict(VALID_JOB)
        del job[key]
        if key in ("id", "spec", "owner"):
            payloads.append((f"{key}-missing", json.dumps(job).encode()))
    for i in range(10):  # owners without a usable pid or host
        owner = {rng.choice(["host", "pid", "start", "x"]): rng.choice(bad_values[:5])}
        payloads.append((f"owner-{i}", json.dumps({**VALID_JOB, "owner": owner}).encode()))
    return payloads


def _place(path: Path, payload: bytes | None, name: str) -> None:
    if payload is not None:
        path.write_bytes(payload)
    elif name == "fifo":
        os.mkfifo(path)
    elif name == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")


@pytest.mark.fuzz_full
def test_fuzz_job_files(request):
    from unlearn_core.engine.state import JobBoard, JobRecord
    from unlearn_core.run.store import RunStore

    started, counts = time.monotonic(), Counts()
    board = JobBoard(RunStore().root)
    board.write(JobRecord(id="job-20260101-000000-none-aaaaaa", spec={"method": "none"}))
    cases = job_payloads()
    assert len(cases) >= 60
    for name, payload in sampled(cases, request):
        path = board.folder / f"job-fuzz-{name}.json"
        if payload is not None:  # the job's own id, so that only the mutation is at fault
            payload = payload.replace(b'"job-1"', f'"{path.stem}"'.encode())
        _place(path, payload, name)
        judge(counts, f"jobs list {name}", ["jobs"], [], expect="listed")
        judge(counts, f"jobs cancel {name}", ["jobs", "cancel", path.stem], [board.folder])
        path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
    report(counts, "job files", started)


# --- audit records -------------------------------------------------------------------------


def _zip(files: dict[str, bytes], target: Path, sums: bool = True) -> Path:
    files = dict(files)
    if sums:
        files.pop("SHA256SUMS", None)
        listed = "".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in files.items())
        files["SHA256SUMS"] = listed.encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return target


def record_mutations(files: dict[str, bytes]) -> list[tuple[str, dict, bool]]:
    """(name, files, remake sums) of hostile records: report.json's blocks broken (with the
    sums remade: only --reproduce can tell), JSON bombs, members renamed, added, dropped or
    changed without their sums."""
    report = json.loads(files["report.json"])
    values = [None, [], "x", 1, {}, float("nan"), [{}] * 3]
    cases = []
    for key in ("method", "forget", "metrics", "checkpoints", "dataset", "arch", "data_sha256",
                "config", "mia", "seed", "prediction_distribution"):  # fmt: skip
        for i, value in enumerate(values):
            if report.get(key) == value:
                continue
            changed = json.dumps({**report, key: value}, allow_nan=True).encode()
            cases.append((f"report.{key}={i}", {**files, "report.json": changed}, True))
    for block, key in (("forget", "classes"), ("forget", "count"), ("checkpoints",
                       "unlearned_sha256"), ("metrics", "unlearned")):  # fmt: skip
        for i, value in enumerate(values):
            changed = json.loads(files["report.json"])
            changed[block][key] = value
            body = json.dumps(changed, allow_nan=True).encode()
            cases.append((f"report.{block}.{key}={i}", {**files, "report.json": body}, True))
    bombs = [b"[" + b"{}," * 2_000_000 + b"{}]", b"[" * 100_000 + b"]" * 100_000, b"\xff", b""]
    cases += [(f"bomb-{i}", {**files, "report.json": b}, True) for i, b in enumerate(bombs)]
    cases += [(f"request-{i}", {**files, "request.json": b}, True)
              for i, b in enumerate([b"[]", b"{}", b"null", b"[" * 100_000])]  # fmt: skip
    for name in files:
        rest = {k: v for k, v in files.items() if k != name}
        cases.append((f"drop-{name}", rest, name != "SHA256SUMS"))
        cases.append((f"unlisted-change-{name}", {**files, name: files[name] + b" "}, False))
        cases.append((f"rename-{name}", {**rest, f"../{name}": files[name]}, True))
    cases += [(f"extra-{n}", {**files, n: b"x"}, True) for n in ("x.py", "privacy.json", "a/b")]
    return cases


@pytest.mark.fuzz_full
def test_fuzz_audit_records(run_folder, tmp_path, request):
    from unlearn_core.views.audit_record import write_audit_record

    started, counts = time.monotonic(), Counts()
    record = write_audit_record(run_folder, tmp_path / "record.zip")
    with zipfile.ZipFile(record) as zf:
        files = {info.filename: zf.read(info) for info in zf.infolist()}
    cases = record_mutations(files)
    assert len(cases) >= 100
    for i, (name, mutated, sums) in enumerate(sampled(cases, request)):
        target = _zip(mutated, tmp_path / f"case-{i}.zip", sums)
        argv = ["audit", "--verify", str(target), "--reproduce"]
        judge(counts, f"audit --verify --reproduce {name}", argv, [tmp_path])
        target.unlink()
    report(counts, "audit records", started)


# --- the app's address -----------------------------------------------------------------------


def address_values() -> list[tuple[str, str]]:
    rng = random.Random(SEED)
    pieces = ["1", "-1", "²", "٣", "1e3", "0x10", " ", ",", "9" * 30, "+1", "1.5", "∞", "%00"]
    cases = [("classes", "".join(rng.choice(pieces) for _ in range(rng.randint(1, 5))))
             for _ in range(60)]  # fmt: skip
    cases += [("indices", "".join(rng.choice(pieces) for _ in range(rng.randint(1, 5))))
              for _ in range(60)]  # fmt: skip
    cases += [("classes", "9" * 5000), ("indices", "¹²")]
    cases += [("runs", r) for r in ("/root", "..", "../runs", "models", "/etc/passwd", "x" * 5000,
                                    "a/b", ".hidden", "", "%2e%2e")]  # fmt: skip
    cases += [("request_date", d) for d in NOT_DATES]
    return cases


def test_fuzz_the_address(monkeypatch):
    """The address's values through the app's own parsers (ui.session_url), as a reload does:
    no exception, and only run ids of the store or checked numbers come back."""
    from ui import session_url
    from unlearn_core.errors import UserError
    from unlearn_core.request import check_origin

    notes: list[str] = []
    monkeypatch.setattr(session_url.st, "toast", notes.append)
    started, counts = time.monotonic(), Counts()
    cases = address_values()
    assert len(cases) >= 140
    for key, value in cases:  # cheap: all of them, always
        counts.cases += 1
        try:
            if key == "runs":
                got = session_url._runs(value)
                if got:
                    counts.silent.append(f"runs={value[:20]!r} opened {got}")
            elif key == "request_date":
                with contextlib.suppress(UserError):
                    check_origin(None, value)
                    counts.silent.append(f"request_date={value[:20]!r} accepted")
            else:
                got = session_url._numbers({key: value}, key)
                if not all(isinstance(n, int) and abs(n) < 10**12 for n in got):
                    counts.silent.append(f"{key}={value[:20]!r} gave {got[:3]}")
        except Exception as exc:  # noqa: BLE001  (that is what is counted)
            counts.tracebacks.append(f"{key}={value[:20]!r}: {type(exc).__name__}")
    report(counts, "address", started)


def test_the_suite_holds_at_least_700_cases(tmp_path, run_folder):
    from unlearn_core.views.audit_record import write_audit_record

    with zipfile.ZipFile(write_audit_record(run_folder, tmp_path / "record.zip")) as zf:
        files = {info.filename: zf.read(info) for info in zf.infolist()}
    counts = {
        "command line": len(cli_cases(tmp_path, run_folder)),
        "job files": 2 * len(job_payloads()),
        "audit records": len(record_mutations(files)),
        "address": len(address_values()),
    }
    print(f"fuzz cases: {counts}, {sum(counts.values())} in all")
    assert sum(counts.values()) >= 700
