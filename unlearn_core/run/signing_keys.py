"""Signing keys for audit records (run/signing.py): ECDSA on P-256, P-384 or P-521 (what
model-signing's key signer takes), PEM files the user owns. The private key is read from a path
or from UNLEARN_SIGNING_KEY (its PEM text), with an optional password in
UNLEARN_SIGNING_KEY_PASSWORD, and is never written anywhere but by `keygen` to the folder the
user names."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unlearn_core.errors import UserError
from unlearn_core.files import write_bytes_atomic

PRIVATE_KEY, PUBLIC_KEY = "unlearn-signing-key.pem", "unlearn-signing-key.pub.pem"
KEY_ENV, PASSWORD_ENV = "UNLEARN_SIGNING_KEY", "UNLEARN_SIGNING_KEY_PASSWORD"
MAX_KEY_BYTES = 64 * 1024
CURVES = ("secp256r1", "secp384r1", "secp521r1")


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


def digest_algorithm(key) -> hashes.HashAlgorithm:
    """The hash ECDSA signs with for the key's curve size (as model-signing chooses it)."""
    size = (key.public_key() if hasattr(key, "public_key") else key).curve.key_size
    return {256: hashes.SHA256(), 384: hashes.SHA384()}.get(size, hashes.SHA512())
