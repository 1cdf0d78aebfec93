"""Is a run what it says it is? The one check of a run folder or its audit zip for an auditor.

A run holds exactly report.json, request.json, model.safetensors, retrained.safetensors (when
report.json records `checkpoints.retrained_sha256`, i.e. the oracle ran) and SHA256SUMS listing
every one of them; an audit zip adds audit.html. `verify_run` refuses, with one line naming the
file (`IntegrityError.file`):

- a file that is missing, not listed in SHA256SUMS, or listed but absent;
- anything else in the folder (an extra file, a folder) and a SHA256SUMS line naming a path;
- a symbolic link or anything but a regular file inside the folder: such an entry is never
  opened (files are opened with O_NOFOLLOW and checked again with fstat), so /dev/zero or
  /etc/passwd are never read; every read is bounded;
- a file whose sha256 differs from SHA256SUMS, and weights whose sha256 differs from the one
  report.json records (`checkpoints.unlearned_sha256`, `retrained_sha256`);
- a request.json that is not the report's forget request.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

from unlearn_core.errors import UserError
from unlearn_core.files import parse_json_bounded
from unlearn_core.run.report import Report

REPORT, MODEL, REQUEST, SUMS = "report.json", "model.safetensors", "request.json", "SHA256SUMS"
RETRAINED, AUDIT_PAGE = "retrained.safetensors", "audit.html"
PRIVACY = "privacy.json"  # an audit zip's privacy audit of the run's request, when there is one
# a signed audit zip's signature and verdict attestation (run/signing.py checks them); they sign
# SHA256SUMS and every file, so SHA256SUMS does not list them
SIGNATURE_MEMBERS = ("signature.sigstore.json", "verdict.intoto.json")
RUN_FILES = (REPORT, REQUEST, MODEL, RETRAINED)
MAX_SUMS_BYTES = 4096  # five lines of 64 hex digits and a short name
MAX_JSON_BYTES = 256 * 2**20  # a report with per-sample arrays of a large forget set
MAX_WEIGHTS_BYTES = 2 * 2**30  # checkpoint.MAX_CHECKPOINT_BYTES
_LINE = re.compile(r"([0-9a-f]{64})  (\S+)")
_CHUNK = 1 << 20


class IntegrityError(UserError):
    """A run that fails the check; `file` names the file at fault."""

    def __init__(self, file: str, problem: str, where: str):
        super().__init__(f"{file}: {problem} (run {where}); the run cannot be trusted.")
        self.file = file


def _limit(name: str) -> int:
    if name.endswith(".safetensors"):
        return MAX_WEIGHTS_BYTES
    return MAX_SUMS_BYTES if name == SUMS else MAX_JSON_BYTES


class _Folder:
    """A run folder: entries are judged by lstat; files are opened without following links."""

    def __init__(self, path: Path):
        self.path, self.where = path, path.name or str(path)

    def entries(self) -> dict[str, str | None]:
        """name -> None for a regular file, else what it is."""
        out = {}
        with os.scandir(self.path) as it:
            for entry in it:
                mode = entry.stat(follow_symlinks=False).st_mode
                out[entry.name] = (
                    None
                    if stat.S_ISREG(mode)
                    else "is a symbolic link"
                    if stat.S_ISLNK(mode)
                    else "is not a regular file"
                )
        return out

    def chunks(self, name: str) -> Iterator[bytes]:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.path / name, flags)
        except OSError as err:
            raise IntegrityError(name, f"cannot be opened ({err.strerror})", self.where) from None
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise IntegrityError(name, "is not a regular file", self.where)
            if info.st_size > _limit(name):
                raise IntegrityError(name, f"is larger than {_limit(name)} bytes", self.where)
            yield from iter(lambda: f.read(_CHUNK), b"")


class _Zip:
    """An audit zip: entries are judged by their headers; reads stop at the size limit."""

    def __init__(self, path: Path, zf: zipfile.ZipFile):
        self.zf, self.where = zf, path.name
        self.infos = {}
        for info in zf.infolist():
            if info.filename in self.infos:
                raise IntegrityError(info.filename, "appears twice in the zip", self.where)
            self.infos[info.filename] = info

    def entries(self) -> dict[str, str | None]:
        out = {}
        for name, info in self.infos.items():
            kind = stat.S_IFMT(info.external_attr >> 16)
            out[name] = (
                "is a folder"
                if info.is_dir()
                else "is a symbolic link"
                if kind == stat.S_IFLNK
                else None
            )
        return out

    def chunks(self, name: str) -> Iterator[bytes]:
        info, total = self.infos[name], 0
        if info.file_size > _limit(name):
            raise IntegrityError(name, f"is larger than {_limit(name)} bytes", self.where)
        try:
            with self.zf.open(info) as f:
                for block in iter(lambda: f.read(_CHUNK), b""):
                    total += len(block)
                    if total > _limit(name):
                        raise IntegrityError(name, "inflates past its size limit", self.where)
                    yield block
        except IntegrityError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as err:
            raise IntegrityError(name, f"cannot be read from the zip ({err})", self.where) from None


def _read(source, name: str) -> bytes:
    return b"".join(source.chunks(name))


def _sha256(source, name: str) -> str:
    digest = hashlib.sha256()
    for block in source.chunks(name):
        digest.update(block)
    return digest.hexdigest()


def _parse_sums(text: bytes, allowed: tuple[str, ...], where: str) -> dict[str, str]:
    """SHA256SUMS -> {file: sha256}; IntegrityError for a line that is not ours."""
    listed = {}
    for number, line in enumerate(text.decode("utf-8", "replace").splitlines(), 1):
        match = _LINE.fullmatch(line)
        if match is None:
            raise IntegrityError(SUMS, f"line {number} is not '<sha256>  <file>'", where)
        digest, name = match.groups()
        if name not in allowed:
            raise IntegrityError(name, "is named in SHA256SUMS but is no file of a run", where)
        if name in listed:
            raise IntegrityError(name, "is listed twice in SHA256SUMS", where)
        listed[name] = digest
    return listed


def _json_object(source, name: str) -> dict | list:
    return _parse(_read(source, name), name, source.where)


def _parse(raw: bytes, name: str, where: str):
    """JSON of a record's file within files.parse_json_bounded's caps; IntegrityError else."""
    try:
        return parse_json_bounded(raw, name)
    except UserError as err:
        problem = str(err).removeprefix(f"{name} ").rstrip(".")
        raise IntegrityError(name, problem, where) from None


def _expected(report: dict, audit_zip: bool, where: str) -> dict[str, str | None]:
    """file -> the sha256 report.json records for it (None: recorded nowhere but SHA256SUMS)."""
    checkpoints = report.get("checkpoints") if isinstance(report, dict) else None
    if not isinstance(checkpoints, dict) or not isinstance(report.get("forget"), dict):
        raise IntegrityError(REPORT, "lacks its checkpoints or forget block", where)
    files = {REPORT: None, REQUEST: None, MODEL: checkpoints.get("unlearned_sha256")}
    if checkpoints.get("retrained_sha256") is not None:  # the oracle ran
        files[RETRAINED] = checkpoints["retrained_sha256"]
    if audit_zip:
        files[AUDIT_PAGE] = None
    return files


def _check_entries(source, expected: dict, listed: dict, entries: dict) -> None:
    for name, problem in entries.items():
        if name != SUMS and name not in expected:
            raise IntegrityError(name, "is an extra file that no run holds", source.where)
        if problem is not None:
            raise IntegrityError(name, problem, source.where)
    for name in expected:
        if name not in entries:
            raise IntegrityError(name, "is missing", source.where)
        if name not in listed:
            raise IntegrityError(name, "is not listed in SHA256SUMS", source.where)
    for name in listed:
        if name not in expected:
            raise IntegrityError(
                name, "is listed in SHA256SUMS but not part of the run", source.where
            )


def _check_privacy(privacy, report: dict, where: str) -> None:
    """The audit in a record must be of the run's checkpoint and method."""
    checkpoints = report["checkpoints"]
    same = isinstance(privacy, dict) and (
        privacy.get("checkpoint_sha256") == checkpoints.get("original_sha256")
        and privacy.get("method") == report.get("method")
    )
    if not same:
        raise IntegrityError(PRIVACY, "is not an audit of this run's checkpoint and method", where)


def _report(source, listed: dict) -> dict:
    """report.json, after checking it against SHA256SUMS."""
    if REPORT not in listed:
        raise IntegrityError(REPORT, "is not listed in SHA256SUMS", source.where)
    raw = _read(source, REPORT)
    if hashlib.sha256(raw).hexdigest() != listed[REPORT]:
        raise IntegrityError(REPORT, "does not match SHA256SUMS", source.where)
    return _parse(raw, REPORT, source.where)


def _verify(source, audit_zip: bool) -> list[str]:
    entries = source.entries()
    if audit_zip:
        entries = {k: v for k, v in entries.items() if k not in SIGNATURE_MEMBERS or v}
    allowed = RUN_FILES + ((AUDIT_PAGE, PRIVACY) if audit_zip else ())
    for name in (REPORT, SUMS):
        if name not in entries:
            missing = "is missing: not a run folder" if name == REPORT else "is missing"
            raise IntegrityError(name, missing, source.where)
        if entries[name] is not None:
            raise IntegrityError(name, entries[name], source.where)
    listed = _parse_sums(_read(source, SUMS), allowed, source.where)
    report = _report(source, listed)
    try:
        report_from_values(report, f"run {source.where}")
    except UserError as err:
        problem = str(err).split(f"{REPORT} ", 1)[-1].rstrip(".")
        raise IntegrityError(REPORT, problem, source.where) from None
    expected = _expected(report, audit_zip, source.where)
    if audit_zip and PRIVACY in entries:
        expected[PRIVACY] = None
    _check_entries(source, expected, listed, entries)
    for name, recorded in expected.items():
        digest = _sha256(source, name)
        if digest != listed[name]:
            raise IntegrityError(name, "does not match SHA256SUMS", source.where)
        if recorded is not None and digest != recorded:
            raise IntegrityError(name, "does not match the sha256 in report.json", source.where)
    if _json_object(source, REQUEST) != report["forget"]:
        raise IntegrityError(REQUEST, "is not the forget request of report.json", source.where)
    if PRIVACY in expected:
        _check_privacy(_json_object(source, PRIVACY), report, source.where)
    return list(expected)


def verify_run(path: str | Path) -> list[str]:
    """Check a run folder or its audit zip (module notes); returns the files checked.
    IntegrityError (a UserError) naming the first file at fault."""
    path = Path(path)
    if path.is_dir():
        return _verify(_Folder(path), audit_zip=False)
    if not path.is_file():
        raise IntegrityError(path.name or str(path), "is neither a run folder nor a zip", "")
    try:
        with zipfile.ZipFile(path) as zf:
            return _verify(_Zip(path, zf), audit_zip=True)
    except IntegrityError:
        raise
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError) as err:
        raise IntegrityError(path.name, f"is not a readable zip ({err})", path.name) from None


def extract_run(zip_path: str | Path, target: str | Path) -> list[str]:
    """Write the run files of an audit zip (report.json, request.json and the weights) into
    the folder `target` with verify_run's size bounds, and return their names; run verify_run
    on the zip first. The zip's own names are never used as paths: only RUN_FILES are written."""
    zip_path, target = Path(zip_path), Path(target)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            source = _Zip(zip_path, zf)
            names = [name for name in RUN_FILES if name in source.infos]
            for name in names:
                with open(target / name, "wb") as f:
                    for block in source.chunks(name):
                        f.write(block)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError) as err:
        raise IntegrityError(
            zip_path.name, f"is not a readable zip ({err})", zip_path.name
        ) from None
    return names


def read_member(zip_path: str | Path, name: str) -> bytes | None:
    """The bytes of member `name` of an audit zip (None when it has none), with verify_run's
    size bounds; run verify_run on the zip first."""
    zip_path = Path(zip_path)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            source = _Zip(zip_path, zf)
            return _read(source, name) if name in source.infos else None
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError) as err:
        raise IntegrityError(
            zip_path.name, f"is not a readable zip ({err})", zip_path.name
        ) from None


REPORT_KEY_TYPES = {"method": str, "forget": dict, "metrics": dict, "checkpoints": dict}
# optional keys a reader relies on: text, a number or a block, or null
OPTIONAL_TYPES = {
    **dict.fromkeys(("dataset", "arch", "created", "run_id", "data_sha256", "command"), str),
    "seed": int,
    "config": dict,
}


def report_from_values(values, where: str) -> Report:
    """The Report of report.json's parsed `values`; UserError, one line beginning with `where`,
    unless it is an object with the keys every report has, a forget block of whole numbers and
    the optional keys of their types (the checks of a stored run and of a record alike)."""
    if not isinstance(values, dict):
        raise UserError(f"{where}: {REPORT} holds a {type(values).__name__}, not a report.")
    for key, kinds in REPORT_KEY_TYPES.items():
        if key not in values:
            raise UserError(f"{where}: {REPORT} lacks the key {key!r}.")
        if not isinstance(values[key], kinds):
            raise UserError(f"{where}: {REPORT} has a malformed {key!r}.")
    forget = values["forget"]
    lists = [forget.get(k) or [] for k in ("classes", "indices")]
    if not all(isinstance(part, list) for part in lists) or not all(
        isinstance(n, int) and not isinstance(n, bool) for part in lists for n in part
    ):
        raise UserError(f"{where}: {REPORT} has a malformed forget block.")
    for key, kind in OPTIONAL_TYPES.items():
        value = values.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise UserError(f"{where}: {REPORT} has a malformed {key!r}.")
    try:
        return Report.from_dict(values)
    except (AttributeError, TypeError, ValueError) as err:
        raise UserError(f"{where}: {REPORT} is malformed ({type(err).__name__}).") from None
