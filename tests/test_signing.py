"""Signed audit records (run/signing.py): keygen, --sign, --verify --trusted-key; every forgery
the unsigned record could not catch fails in one line naming what failed; a genuine record
passes our check and model-signing's own verifier; the private key is never written."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from torch import nn

from tests.test_audit import _privacy, cli, make_report
from unlearn_core.errors import UserError
from unlearn_core.privacy.store import AuditStore
from unlearn_core.run.pipeline import RunRecord
from unlearn_core.run.signing import ATTESTATION, SIGNATURE, check_signature
from unlearn_core.run.store import write_run_folder


@pytest.fixture
def keys(tmp_path):
    cli("keygen", "--out", str(tmp_path / "keys"))
    folder = tmp_path / "keys"
    return folder / "unlearn-signing-key.pem", folder / "unlearn-signing-key.pub.pem"


@pytest.fixture
def record(tmp_path, keys):
    """A signed audit zip of a run with a privacy audit (privacy.json) in its store."""
    torch.manual_seed(0)
    store = tmp_path / "store"
    run = write_run_folder(RunRecord(make_report(), nn.Linear(4, 3), nn.Linear(4, 3)), store / "r")
    AuditStore(store).save(_privacy("unsir", "remembers", "U-LiRA tells them apart."))
    out = tmp_path / "record.zip"
    cli("--sign", str(run), "--key", str(keys[0]), "--signer", "Alice", "--out", str(out))
    return out


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rewrite(path: Path, changes: dict[str, bytes | None], target: Path) -> Path:
    """A copy of the zip with members replaced (None: removed), SHA256SUMS remade to match."""
    files = {**members(path), **changes}
    files = {k: v for k, v in files.items() if v is not None}
    names = [n for n in files if n not in ("SHA256SUMS", SIGNATURE, ATTESTATION)]
    sums = "".join(f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n" for n in names)
    files["SHA256SUMS"] = sums.encode()
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return target


def verify(path: Path, key: Path | None) -> str:
    """`audit --verify` (with --trusted-key when given); the one error line, or "" when ok."""
    try:
        cli("--verify", str(path), *(["--trusted-key", str(key)] if key else []))
    except UserError as err:
        assert "\n" not in str(err)
        return str(err)
    return ""


def test_a_genuine_record_verifies_and_names_its_signer(record, keys, capsys):
    assert verify(record, keys[1]) == ""
    first, second = capsys.readouterr().out.splitlines()[:2]
    assert first.startswith("signed by Alice (key SHA256:") and second.startswith("ok:")
    page = members(record)["audit.html"].decode()
    assert "Signed by Alice with key SHA256:" in page


def test_model_signings_own_verifier_accepts_it(record, keys, tmp_path):
    folder = tmp_path / "unpacked"
    folder.mkdir()
    with zipfile.ZipFile(record) as zf:
        zf.extractall(folder)

    def library_verify():
        command = ["verify", "key", "--signature", str(folder / SIGNATURE)]
        command += ["--public_key", str(keys[1]), str(folder)]
        return subprocess.run(
            [sys.executable, "-m", "model_signing", *command],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    done = library_verify()
    assert done.returncode == 0, done.stderr
    (folder / "model.safetensors").write_bytes(b"forged")  # and it fails on a forgery
    again = library_verify()
    assert again.returncode != 0


def test_the_attestation_binds_the_weights_request_and_verdict(record):
    envelope = json.loads(members(record)[ATTESTATION])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    weights = hashlib.sha256(members(record)["model.safetensors"]).hexdigest()
    assert statement["subject"] == [{"name": "model.safetensors", "digest": {"sha256": weights}}]
    predicate = statement["predicate"]
    assert predicate["method"] == "unsir" and predicate["signer"] == "Alice"
    assert predicate["privacy_audit"]["verdict"] == "remembers"
    indices = json.dumps(sorted(make_report().forget.indices)).encode()
    assert predicate["request"]["forget_indices_sha256"] == hashlib.sha256(indices).hexdigest()
    assert predicate["checkpoints"]["original_sha256"] == "a1" * 32
    assert predicate["verdict"] in ("forgotten", "remembers", "inconclusive")


def _flip(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _forgeries(record: Path, other: Path) -> dict[str, dict]:
    files = members(record)
    report = json.loads(files["report.json"])
    forged_model = _flip(files["model.safetensors"])
    report["checkpoints"]["unlearned_sha256"] = hashlib.sha256(forged_model).hexdigest()
    privacy = json.loads(files["privacy.json"])
    return {
        "a weight byte, SHA256SUMS remade": {"model.safetensors": forged_model},
        "weights, SHA256SUMS and report.json, consistently": {
            "model.safetensors": forged_model,
            "report.json": json.dumps(report).encode(),
        },
        "privacy.json's verdict": {
            "privacy.json": json.dumps({**privacy, "verdict": "forgotten"}).encode()
        },
        "another record's privacy.json": {"privacy.json": members(other)["privacy.json"]},
        "another record's signature": {SIGNATURE: members(other)[SIGNATURE]},
        "the signature stripped": {SIGNATURE: None},
    }


def test_every_forgery_fails_in_one_line(record, keys, tmp_path):
    torch.manual_seed(1)  # another run, signed by the same key
    store = tmp_path / "other-store"
    run = write_run_folder(RunRecord(make_report(), nn.Linear(4, 3), nn.Linear(4, 3)), store / "r")
    AuditStore(store).save(_privacy("unsir", "inconclusive", "another audit"))
    other = tmp_path / "other.zip"
    cli("--sign", str(run), "--key", str(keys[0]), "--out", str(other))
    for name, changes in _forgeries(record, other).items():
        forged = rewrite(record, changes, tmp_path / "forged.zip")
        error = verify(forged, keys[1])
        assert error, name
        assert SIGNATURE in error, (name, error)


def test_a_record_signed_by_another_key_fails(record, tmp_path):
    cli("keygen", "--out", str(tmp_path / "theirs"))
    error = verify(record, tmp_path / "theirs" / "unlearn-signing-key.pub.pem")
    assert SIGNATURE in error and "does not verify with the trusted key" in error


def test_unsigned_records_say_so_and_fail_a_trusted_key(record, keys, tmp_path, capsys):
    plain = rewrite(record, {SIGNATURE: None, ATTESTATION: None}, tmp_path / "plain.zip")
    assert verify(plain, None) == ""  # verifies as before, but says so first
    assert capsys.readouterr().out.startswith("unsigned:")
    assert "is unsigned" in verify(plain, keys[1])
    assert check_signature(record, None).line.startswith("signed, not checked")


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(keys, tmp_path):
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()
    with pytest.raises(UserError, match="exists"):
        cli("keygen", "--out", str(private.parent))


def _pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    ("contents", "says"),
    [
        (b"not a key", "is not a PEM private key"),
        (_pem(ed25519.Ed25519PrivateKey.generate()), "not an ECDSA key on P-256"),
        (_pem(ec.generate_private_key(ec.SECP256K1())), "not an ECDSA key on P-256"),
    ],
)
def test_bad_keys_are_one_line(record, tmp_path, contents, says):
    bad = tmp_path / "bad.pem"
    bad.write_bytes(contents)
    with pytest.raises(UserError, match=says):
        cli("--sign", str(record), "--key", str(bad))
    with pytest.raises(UserError, match="no such file"):
        cli("--sign", str(record), "--key", str(tmp_path / "missing.pem"))


def test_a_password_protected_key_needs_its_password(record, tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_SIGNING_KEY_PASSWORD", "correct horse")
    cli("keygen", "--out", str(tmp_path / "locked"))
    locked = tmp_path / "locked" / "unlearn-signing-key.pem"
    assert b"ENCRYPTED" in locked.read_bytes()
    cli("--sign", str(record), "--key", str(locked))  # the right password signs
    monkeypatch.setenv("UNLEARN_SIGNING_KEY_PASSWORD", "wrong")
    with pytest.raises(UserError, match="not its password"):
        cli("--sign", str(record), "--key", str(locked))
    monkeypatch.delenv("UNLEARN_SIGNING_KEY_PASSWORD")
    with pytest.raises(UserError, match="is encrypted"):
        cli("--sign", str(record), "--key", str(locked))


def test_the_private_key_never_lands_in_the_record_or_the_output(
    record, keys, tmp_path, monkeypatch, capsys
):
    pem = keys[0].read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    secret = key.private_numbers().private_value.to_bytes(32, "big")
    body = b"".join(pem.splitlines()[1:-1])  # the base64 body
    monkeypatch.setenv("UNLEARN_SIGNING_KEY", pem.decode())  # and from the environment
    again = tmp_path / "again.zip"
    cli("--sign", str(record), "--out", str(again))
    cli("--verify", str(again), "--trusted-key", str(keys[1]))
    output = capsys.readouterr()
    for path in (record, again):
        blob = path.read_bytes() + b"".join(members(path).values())
        for needle in (secret, body, base64.b64encode(secret)):
            assert needle not in blob
    assert body.decode() not in output.out + output.err
    assert not any(Path(os.environ.get("TMPDIR", "/tmp")).glob("*.pem"))
    with zipfile.ZipFile(io.BytesIO(again.read_bytes())) as zf:
        assert set(zf.namelist()) >= {SIGNATURE, ATTESTATION}


def _page(record: Path, key: Path | None):
    from streamlit.testing.v1 import AppTest

    from tests.test_reproduce import PAGE

    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.file_uploader(key="verify_record_file").upload(
        "r.zip", record.read_bytes(), "application/zip"
    )
    if key is not None:
        at.file_uploader(key="verify_record_key").upload("k.pem", key.read_bytes(), "text/plain")
    next(b for b in at.button if b.label == "Verify this record").click().run()
    assert not at.exception
    return at


def test_the_runs_page_names_the_signer_says_unsigned_or_fails_in_red(record, keys, tmp_path):
    at = _page(record, keys[1])
    assert at.success[0].value.startswith("signed by Alice (key SHA256:")
    plain = rewrite(record, {SIGNATURE: None, ATTESTATION: None}, tmp_path / "plain.zip")
    at = _page(plain, None)
    assert at.warning[0].value.startswith("unsigned:")
    forged = rewrite(record, {"privacy.json": b"{}"}, tmp_path / "forged.zip")
    at = _page(forged, keys[1])
    assert len(at.error) == 1 and at.error[0].value.startswith(f"{SIGNATURE}: the record")
    assert not at.success
    huge = tmp_path / "huge.pem"
    huge.write_bytes(b"x" * 70_000)
    at = _page(record, huge)
    assert [e.value for e in at.error] == ["the public key is larger than a key (65536 bytes)."]


def test_keyless_signing_is_refused_in_one_line_offline(record, tmp_path, monkeypatch):
    # no traffic leaves the machine in a test: the connection is made to fail as offline
    def offline(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr("unlearn_core.run.signing.socket.create_connection", offline)
    before = record.read_bytes()
    with pytest.raises(UserError, match="--keyless needs the network to reach Sigstore") as err:
        cli("--sign", str(record), "--keyless", "--out", str(tmp_path / "k.zip"))
    assert "\n" not in str(err.value) and "--key PRIVATE_PEM" in str(err.value)
    assert not (tmp_path / "k.zip").exists() and record.read_bytes() == before
    with pytest.raises(UserError, match="--trusted-identity needs the network"):
        cli("--verify", str(record), "--trusted-identity", "dpo@example.org")
