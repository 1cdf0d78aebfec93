"""Signed audit records: a deletion's evidence that a forger cannot remake without the key.

An audit zip (views/audit_record.py) is signed with `model-signing`: every file of the record
(report.json, request.json, the weights, audit.html, privacy.json, SHA256SUMS and the verdict
attestation, run/attestation.py) is hashed into an in-toto statement and signed into a Sigstore
bundle that travels in the zip as SIGNATURE, so `model_signing verify key` checks it too. Keys:
run/signing_keys.py; the private key stays in memory (model-signing's key signer reads a file,
so an instance of it is handed the loaded key). Keyless signing goes through Sigstore when the
network reaches it.
"""

from __future__ import annotations

import datetime as dt
import socket
import tempfile
import zipfile
from dataclasses import dataclass
from html import escape
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from unlearn_core.errors import UserError
from unlearn_core.files import write_bytes_atomic
from unlearn_core.run.attestation import ATTESTATION, envelope, statement, verify_envelope
from unlearn_core.run.audit import sums_text, zip_bytes
from unlearn_core.run.integrity import (
    AUDIT_PAGE,
    PRIVACY,
    RUN_FILES,
    SIGNATURE_MEMBERS,
    SUMS,
    read_member,
    verify_run,
)
from unlearn_core.run.signing_keys import fingerprint, load_private_key, load_public_key

SIGNATURE = SIGNATURE_MEMBERS[0]  # signature.sigstore.json
RECORD_FILES = (*RUN_FILES, AUDIT_PAGE, PRIVACY, SUMS)
SIGSTORE_HOST = "oauth2.sigstore.dev"  # keyless signing's identity provider


@dataclass(frozen=True)
class SignatureCheck:
    """What a record's signature says: `trusted` when it was verified with a trusted key or
    identity; `line` says so, or "unsigned", or that it was not checked."""

    trusted: bool
    line: str


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


def _record_files(record: Path) -> dict[str, bytes]:
    """The files of an audit zip that verify_run passes, signature files left out, in order."""
    verify_run(record)
    with zipfile.ZipFile(record) as zf:
        names = [n for n in zf.namelist() if n not in SIGNATURE_MEMBERS]
    return {name: read_member(record, name) for name in names}


def _with_signer_line(files: dict[str, bytes], line: str) -> dict[str, bytes]:
    """audit.html names the signer (after its title); SHA256SUMS follows the new page."""
    head, sep, rest = files[AUDIT_PAGE].decode().partition("</h1>")
    page = f'{head}{sep}<p class="signer">{line}</p>{rest}'.encode()
    files = {**files, AUDIT_PAGE: page}
    listed = {name: data for name, data in files.items() if name != SUMS}
    return {**files, SUMS: sums_text(listed).encode()}


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


def _sign(files: dict[str, bytes], config, out: Path) -> Path:
    """Write `files` to a private folder, sign them all with model-signing's `config`, and
    write the zip with the signature to `out`."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        config.set_hashing_config(_hashing_config()).sign(folder, folder / SIGNATURE)
        signature = (folder / SIGNATURE).read_bytes()
    return write_bytes_atomic(out, zip_bytes({**files, SIGNATURE: signature}))


def sign_record(record: str | Path, key_path: str | None, signer_name: str, out=None) -> Path:
    """Sign the audit zip `record` (written to `out`, default in place): the signer's line in
    audit.html, the attestation signed with the key, then the bundle over every file."""
    from model_signing import signing

    record = Path(record)
    key = load_private_key(key_path)
    name = signer_name or fingerprint(key.public_key())
    files = _with_signer_line(
        _record_files(record),
        f"Signed by {escape(name)} with key {fingerprint(key.public_key())} on "
        f"{dt.date.today().isoformat()}: check it with <code>audit --verify RECORD "
        "--trusted-key PUBLIC_PEM</code>.",
    )
    files[ATTESTATION] = envelope(statement(files, name), key)
    config = signing.Config()
    config._signer = _signer(key)  # use_elliptic_key_signer would read a key file
    return _sign(files, config, Path(out) if out else record)


def sign_record_keyless(record: str | Path, out=None) -> Path:
    """Sign with Sigstore's keyless flow (an OpenID identity, a short-lived certificate in the
    bundle); the attestation travels with no signature of its own, covered by the bundle."""
    from model_signing import signing

    require_sigstore("--keyless")
    record = Path(record)
    files = _record_files(record)
    files[ATTESTATION] = envelope(statement(files, "the Sigstore identity in the bundle"), None)
    return _sign(files, signing.Config().use_sigstore_signer(), Path(out) if out else record)


def _members(record: Path) -> set[str]:
    """The zip's member names; one line for a file that is not a zip or holds a name no record
    has (nothing is read before this check)."""
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


def _verified(record: Path, members: set[str], config, who: str) -> dict[str, bytes]:
    """Every member, read within integrity.py's size bounds, after model-signing's `config`
    verified the bundle over all of them; UserError naming SIGNATURE otherwise."""
    files = {name: read_member(record, name) for name in members}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        try:
            config.set_hashing_config(_hashing_config()).verify(folder, folder / SIGNATURE)
        except Exception as err:  # the library raises ValueError and its own errors alike
            problem = " ".join(str(err).split())[:300]
            raise UserError(
                f"{SIGNATURE}: the record {record.name} does not verify with {who} ({problem})."
            ) from None
    return files


def check_keyless(record: str | Path, identity: str, issuer: str) -> SignatureCheck:
    """A keyless signature, verified by Sigstore for `identity` from `issuer`."""
    from model_signing import verifying

    require_sigstore("--trusted-identity")
    record = Path(record)
    members = _members(record)
    if SIGNATURE not in members:
        raise UserError(f"{record.name} is unsigned: there is no signature to check.")
    config = verifying.Config().use_sigstore_verifier(identity=identity, oidc_issuer=issuer)
    _verified(record, members, config, identity)
    return SignatureCheck(True, f"signed by {identity} (Sigstore, issuer {issuer})")


def check_signature(record: str | Path, trusted_key: str | None) -> SignatureCheck:
    """The signature of an audit zip, checked before anything else: with `trusted_key`, it must
    verify with that key (model-signing's verifier over every file) and so must the
    attestation, whose subject must be the record's weights. Without a key, says "unsigned" or
    that the signature was not checked. UserError, one line, on any failure."""
    from model_signing import verifying

    record = Path(record)
    members = _members(record)
    if ATTESTATION in members and SIGNATURE not in members:
        raise UserError(
            f"{SIGNATURE} is missing from {record.name}, which carries a signed verdict "
            f"attestation: the signature was stripped."
        )
    if SIGNATURE not in members:
        if trusted_key:
            raise UserError(f"{record.name} is unsigned: there is no signature to check.")
        return SignatureCheck(False, f"unsigned: {record.name} carries no signature")
    if not trusted_key:
        return SignatureCheck(
            False, f"signed, not checked: {record.name} has a signature; give --trusted-key"
        )
    public = load_public_key(trusted_key)
    config = verifying.Config().use_elliptic_key_verifier(public_key=trusted_key)
    files = _verified(record, members, config, "the trusted key")
    signer = verify_envelope(files, public, record.name)["predicate"].get("signer")
    return SignatureCheck(
        True,
        f"signed by {signer} (key {fingerprint(public)}): the signature covers every file of "
        f"{record.name}",
    )
