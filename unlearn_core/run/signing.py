"""Signed audit records: a deletion's evidence that a forger cannot remake without the key.

An audit zip (run/audit.py) is signed with OpenSSF's `model-signing`: every file of the record
(report.json, request.json, the weights, audit.html, privacy.json, SHA256SUMS and the verdict
attestation) is hashed into an in-toto statement, signed into a Sigstore bundle that travels
in the zip as SIGNATURE, so `model_signing verify key` checks it too. Beside it, ATTESTATION is
a DSSE envelope of an in-toto statement whose subject is the unlearned weights' digest and whose
predicate carries the request, the method and settings, the verdict with its margin and
intervals, the official challenge score, the original and retrained checkpoints' digests and
the code version, signed with the same key.

Keys are ECDSA (P-256, P-384, P-521: what model-signing's key signer takes), PEM files the user
owns. The private key is read from a path or from UNLEARN_SIGNING_KEY (its PEM text), with an
optional password in UNLEARN_SIGNING_KEY_PASSWORD; it is never written anywhere by this module
(a key from the environment is handed to the signer in memory).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import socket
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unlearn_core.errors import UserError
from unlearn_core.files import write_bytes_atomic
from unlearn_core.run.integrity import (
    AUDIT_PAGE,
    MODEL,
    PRIVACY,
    REPORT,
    SIGNATURE_MEMBERS,
    SUMS,
    verify_run,
)

SIGNATURE, ATTESTATION = SIGNATURE_MEMBERS  # signature.sigstore.json, verdict.intoto.json
PRIVATE_KEY, PUBLIC_KEY = "unlearn-signing-key.pem", "unlearn-signing-key.pub.pem"
KEY_ENV, PASSWORD_ENV = "UNLEARN_SIGNING_KEY", "UNLEARN_SIGNING_KEY_PASSWORD"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://github.com/unlearning-workbench/deletion-verdict/v1"
MAX_KEY_BYTES = 64 * 1024
CURVES = ("secp256r1", "secp384r1", "secp521r1")


@dataclass(frozen=True)
class SignatureCheck:
    """What a record's signature says: `signed` false for an unsigned record; `signer` the key's
    fingerprint (SHA256 of its public key) and the name the signer gave."""

    signed: bool
    line: str


def fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + hashlib.sha256(der).hexdigest()[:32]


def keygen(folder: str | Path) -> tuple[Path, Path]:
    """A new P-256 key pair in `folder`: the private key (mode 0600, encrypted with
    UNLEARN_SIGNING_KEY_PASSWORD when set) and the public key. Refuses to overwrite."""
    folder = Path(folder)
    private, public = folder / PRIVATE_KEY, folder / PUBLIC_KEY
    for path in (private, public):
        if path.exists():
            raise UserError(f"{path} exists; choose another --out folder (keys are not replaced).")
    key = ec.generate_private_key(ec.SECP256R1())
    password = os.environ.get(PASSWORD_ENV)
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
                )
            )
        write_bytes_atomic(
            public,
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
    except OSError as err:
        raise UserError(f"cannot write the keys to {folder}: {err.strerror}.") from None
    return private, public


def load_private_key(path: str | None) -> ec.EllipticCurvePrivateKey:
    """The signing key from `path`, or from UNLEARN_SIGNING_KEY when path is None; one line for
    a missing file, a wrong password or a key of an unsupported kind."""
    if path:
        pem = _read_key_file(path, "--key")
        where = f"--key {Path(path).name}"
    elif os.environ.get(KEY_ENV):
        pem, where = os.environ[KEY_ENV].encode(), KEY_ENV
    else:
        raise UserError(f"signing needs --key PRIVATE_PEM (or the key's PEM text in {KEY_ENV}).")
    password = os.environ.get(PASSWORD_ENV)
    try:
        key = serialization.load_pem_private_key(pem, password.encode() if password else None)
    except TypeError:
        raise UserError(
            f"{where} is encrypted (or not): set {PASSWORD_ENV} to its password, or unset it."
        ) from None
    except ValueError:
        raise UserError(
            f"{where} is not a PEM private key, or {PASSWORD_ENV} is not its password."
        ) from None
    return _checked_curve(key, where)


def load_public_key(path: str) -> ec.EllipticCurvePublicKey:
    where = f"--trusted-key {Path(path).name}"
    try:
        key = serialization.load_pem_public_key(_read_key_file(path, "--trusted-key"))
    except ValueError:
        raise UserError(f"{where} is not a PEM public key.") from None
    return _checked_curve(key, where)


def _read_key_file(path: str, flag: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{flag} {path.name}: no such file.")
    if path.stat().st_size > MAX_KEY_BYTES:
        raise UserError(f"{flag} {path.name} is larger than a key ({MAX_KEY_BYTES} bytes).")
    return path.read_bytes()


def _checked_curve(key, where: str):
    public = key.public_key() if hasattr(key, "public_key") else key
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name not in CURVES:
        raise UserError(
            f"{where} is not an ECDSA key on P-256, P-384 or P-521 (what model-signing "
            "signs with); make one with `audit keygen --out DIR`."
        )
    return key


def _pae(payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of an in-toto payload."""
    kind = PAYLOAD_TYPE.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _digest_algorithm(key) -> hashes.HashAlgorithm:
    size = (key.public_key() if hasattr(key, "public_key") else key).curve.key_size
    return {256: hashes.SHA256(), 384: hashes.SHA384()}.get(size, hashes.SHA512())


def _signer(key: ec.EllipticCurvePrivateKey):
    """model-signing's elliptic-key signer holding `key` in memory (its constructor reads a
    file; a key from the environment is never written to one)."""
    from model_signing._signing import sign_ec_key

    signer = sign_ec_key.Signer.__new__(sign_ec_key.Signer)
    signer._private_key = key  # what its __init__ sets after reading the file
    return signer


def _hashing_config():
    from model_signing import hashing

    return hashing.Config().set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=False)


def _statement(folder: Path, signer_name: str) -> dict:
    """The verdict attestation's in-toto statement for the record unpacked in `folder`."""
    from unlearn_core.run.store import read_report
    from unlearn_core.run.verdict import verdict

    report = read_report(folder)
    privacy = json.loads((folder / PRIVACY).read_bytes()) if (folder / PRIVACY).is_file() else None
    forget = report.forget
    indices = json.dumps(sorted(forget.indices or [])).encode()
    audit = None
    if privacy is not None:
        ulira = privacy["attacks"]["ulira"]
        audit = {
            "verdict": privacy["verdict"],
            "margin": privacy.get("margin"),
            "models": privacy["models"],
            "ulira_auc": ulira["auc"],
            "ulira_auc_ci": ulira["auc_ci"],
            "control_auc_ci": ((privacy.get("control") or {}).get("ulira") or {}).get("auc_ci"),
            "challenge_forget_score": privacy["challenge"]["forgetting_quality"],
        }
    checkpoints = report.checkpoints
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": MODEL, "digest": {"sha256": checkpoints.unlearned_sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "request": {
                "classes": list(forget.classes or []),
                "count": forget.count,
                "forget_indices_sha256": hashlib.sha256(indices).hexdigest(),
                "requester": forget.requester,
                "request_date": forget.request_date,
            },
            "method": report.method,
            "config": report.config,
            "verdict": verdict(report, privacy).outcome,
            "privacy_audit": audit,
            "checkpoints": {
                "original_sha256": checkpoints.original_sha256,
                "retrained_sha256": checkpoints.retrained_sha256,
            },
            "code": report.versions.to_dict(),
            "signer": signer_name,
            "signed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }


def _envelope(statement: dict, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A DSSE envelope of `statement`, signed with `key`."""
    payload = json.dumps(statement, sort_keys=True).encode()
    signature = key.sign(_pae(payload), ec.ECDSA(_digest_algorithm(key)))
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {"keyid": fingerprint(key.public_key()), "sig": base64.b64encode(signature).decode()}
        ],
    }
    return json.dumps(envelope, indent=1).encode()


def _unpack(record: Path, folder: Path) -> list[str]:
    """The record's files (after verify_run) written into `folder`; their names."""
    verify_run(record)
    with zipfile.ZipFile(record) as zf:
        names = [n for n in zf.namelist() if n not in SIGNATURE_MEMBERS]
        for name in names:  # verify_run allowed only the record's own plain names
            (folder / name).write_bytes(zf.read(name))
    return names


def _with_signer_line(folder: Path, line: str) -> None:
    """audit.html names the signer (after its title); SHA256SUMS follows the new page."""
    page = (folder / AUDIT_PAGE).read_text()
    head, sep, rest = page.partition("</h1>")
    (folder / AUDIT_PAGE).write_text(f'{head}{sep}<p class="signer">{line}</p>{rest}')
    digest = hashlib.sha256((folder / AUDIT_PAGE).read_bytes()).hexdigest()
    sums = [
        f"{digest}  {AUDIT_PAGE}" if entry.endswith(f"  {AUDIT_PAGE}") else entry
        for entry in (folder / SUMS).read_text().splitlines()
    ]
    (folder / SUMS).write_text("\n".join(sums) + "\n")


SIGSTORE_HOST = "oauth2.sigstore.dev"  # keyless signing's identity provider


def require_sigstore(flag: str) -> None:
    """Keyless signing and its verification need Sigstore's services: one line when this
    machine cannot reach them (nothing is signed or read then)."""
    try:
        socket.create_connection((SIGSTORE_HOST, 443), timeout=3).close()
    except OSError as err:
        raise UserError(
            f"{flag} needs the network to reach Sigstore ({SIGSTORE_HOST}: {err.strerror or err}); "
            "offline, sign with --key PRIVATE_PEM and verify with --trusted-key PUBLIC_PEM."
        ) from None


def sign_record_keyless(record: str | Path, out=None) -> Path:
    """Sign with Sigstore's keyless flow (an OpenID identity, a short-lived certificate in the
    bundle): the attestation's statement travels unsigned inside the bundle's coverage."""
    from model_signing import signing

    require_sigstore("--keyless")
    record = Path(record)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = _unpack(record, folder)
        statement = _statement(folder, "Sigstore identity (see the bundle's certificate)")
        envelope = {
            "payloadType": PAYLOAD_TYPE,
            "signatures": [],
            "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
        }
        (folder / ATTESTATION).write_text(json.dumps(envelope, indent=1))
        config = signing.Config().set_hashing_config(_hashing_config()).use_sigstore_signer()
        config.sign(folder, folder / SIGNATURE)
        data = _zip(folder, [*names, ATTESTATION, SIGNATURE])
    return write_bytes_atomic(Path(out) if out else record, data)


def sign_record(record: str | Path, key_path: str | None, signer_name: str, out=None) -> Path:
    """Sign the audit zip `record` (written to `out`, default in place): the attestation, the
    signer's line in audit.html, then model-signing's bundle over every file."""
    from html import escape

    from model_signing import signing

    record = Path(record)
    key = load_private_key(key_path)
    name = signer_name or fingerprint(key.public_key())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = _unpack(record, folder)
        when = dt.date.today().isoformat()
        _with_signer_line(
            folder,
            f"Signed by {escape(name)} with key {fingerprint(key.public_key())} on {when}: "
            "check it with <code>audit --verify RECORD --trusted-key PUBLIC_PEM</code>.",
        )
        (folder / ATTESTATION).write_bytes(_envelope(_statement(folder, name), key))
        config = signing.Config().set_hashing_config(_hashing_config())
        config._signer = _signer(key)  # use_elliptic_key_signer would read a key file
        config.sign(folder, folder / SIGNATURE)
        data = _zip(folder, [*names, ATTESTATION, SIGNATURE])
    return write_bytes_atomic(Path(out) if out else record, data)


def _zip(folder: Path, names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, (folder / name).read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def check_keyless(record: str | Path, identity: str, issuer: str) -> SignatureCheck:
    """A keyless signature, verified by Sigstore for `identity` from `issuer`."""
    from model_signing import verifying

    require_sigstore("--trusted-identity")
    record = Path(record)
    members = _members(record)
    if SIGNATURE not in members:
        raise UserError(f"{record.name} is unsigned: there is no signature to check.")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _unpack_all(record, folder, members)
        config = verifying.Config().use_sigstore_verifier(identity=identity, oidc_issuer=issuer)
        try:
            config.set_hashing_config(_hashing_config()).verify(folder, folder / SIGNATURE)
        except Exception as err:  # the library raises ValueError and its own errors alike
            problem = " ".join(str(err).split())[:300]
            raise UserError(f"{SIGNATURE}: not signed by {identity} ({problem}).") from None
    return SignatureCheck(True, f"signed by {identity} (Sigstore, issuer {issuer})")


def check_signature(record: str | Path, trusted_key: str | None) -> SignatureCheck:
    """The signature of an audit zip, checked before anything else: with `trusted_key`, it must
    verify with that key (model-signing's verifier over every file) and so must the
    attestation, whose subject must be the record's weights. Without a key, says "unsigned" or
    that the signature was not checked. UserError, one line, on any failure."""
    record = Path(record)
    members = _members(record)
    has_signature, has_attestation = SIGNATURE in members, ATTESTATION in members
    if has_attestation and not has_signature:
        raise UserError(
            f"{SIGNATURE} is missing from {record.name}, which carries a signed verdict "
            f"attestation: the signature was stripped."
        )
    if not has_signature:
        if trusted_key:
            raise UserError(f"{record.name} is unsigned: there is no signature to check.")
        return SignatureCheck(False, f"unsigned: {record.name} carries no signature")
    if not trusted_key:
        return SignatureCheck(
            True, f"signed, not checked: {record.name} has a signature; give --trusted-key"
        )
    public = load_public_key(trusted_key)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _unpack_all(record, folder, members)
        _verify_bundle(folder, trusted_key, record.name)
        statement = _verify_envelope(folder / ATTESTATION, public, record.name)
    signer = statement["predicate"].get("signer")
    return SignatureCheck(
        True,
        f"signed by {signer} (key {fingerprint(public)}): the signature covers every file of "
        f"{record.name}",
    )


RECORD_FILES = (REPORT, "request.json", MODEL, "retrained.safetensors", AUDIT_PAGE, PRIVACY, SUMS)
MAX_MEMBER_BYTES = {MODEL: 2 * 2**30, "retrained.safetensors": 2 * 2**30}
MAX_OTHER_BYTES = 256 * 2**20


def _members(record: Path) -> set[str]:
    """The zip's member names; one line for a file that is not a zip or holds a name no record
    has (nothing is extracted before this check)."""
    if not record.is_file():
        raise UserError(f"{record.name or record}: no such audit zip.")
    try:
        with zipfile.ZipFile(record) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise UserError(f"{record.name} is not a readable zip ({err}).") from None
    for name in names:
        if name not in RECORD_FILES + SIGNATURE_MEMBERS or names.count(name) > 1:
            raise UserError(f"{name}: not a file an audit record holds (record {record.name}).")
    return set(names)


def _unpack_all(record: Path, folder: Path, members: set[str]) -> None:
    """Every member into `folder`, each read no further than its size bound."""
    with zipfile.ZipFile(record) as zf:
        for name in members:
            limit = MAX_MEMBER_BYTES.get(name, MAX_OTHER_BYTES)
            with zf.open(name) as src, open(folder / name, "wb") as dst:
                total = 0
                for block in iter(lambda src=src: src.read(1 << 20), b""):
                    total += len(block)
                    if total > limit:
                        raise UserError(f"{name}: larger than {limit} bytes ({record.name}).")
                    dst.write(block)


def _verify_bundle(folder: Path, trusted_key: str, where: str) -> None:
    """model-signing's verification of every file in `folder` against SIGNATURE."""
    from model_signing import verifying

    config = verifying.Config().use_elliptic_key_verifier(public_key=trusted_key)
    try:
        config.set_hashing_config(_hashing_config()).verify(folder, folder / SIGNATURE)
    except Exception as err:  # the library raises ValueError and its own errors alike
        problem = " ".join(str(err).split())[:300]
        raise UserError(
            f"{SIGNATURE}: the record {where} does not verify with the trusted key ({problem})."
        ) from None


def _verify_envelope(path: Path, public: ec.EllipticCurvePublicKey, where: str) -> dict:
    """The attestation's statement, after checking its DSSE signature with `public` and that
    its subject is the record's weights."""
    try:
        envelope = json.loads(path.read_bytes())
        payload = base64.b64decode(envelope["payload"], validate=True)
        signature = base64.b64decode(envelope["signatures"][0]["sig"], validate=True)
        public.verify(signature, _pae(payload), ec.ECDSA(_digest_algorithm(public)))
        statement = json.loads(payload)
    except InvalidSignature:
        raise UserError(
            f"{ATTESTATION}: its signature is not the trusted key's ({where})."
        ) from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise UserError(f"{ATTESTATION}: not a DSSE envelope of a statement ({where}).") from None
    weights = hashlib.sha256((path.parent / MODEL).read_bytes()).hexdigest()
    subjects = [s.get("digest", {}).get("sha256") for s in statement.get("subject", [])]
    if envelope.get("payloadType") != PAYLOAD_TYPE or subjects != [weights]:
        raise UserError(f"{ATTESTATION}: its subject is not this record's weights ({where}).")
    return statement
