"""Streamlit glue for re-verifying an audit record someone sent (unlearn_core.records.reproduce): an
upload form and one green or red line per check, the signature's first (run/signing.py: signed
by whom with the trusted key, unsigned, or a failed signature in red). The uploads are bounded
before they are opened (size, members, declared sizes, names) and written only to a private
temporary folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from ui.state import get_dataset
from unlearn_core.errors import UserError
from unlearn_core.files import safe_stem
from unlearn_core.records.reproduce import MAX_RECORD_MB, check_record_zip, verify_record
from unlearn_core.run.signing import SignatureCheck, check_signature
from unlearn_core.run.signing_keys import MAX_KEY_BYTES


def _checks(name: str, payload: bytes, key: bytes | None) -> tuple[SignatureCheck, list]:
    """The signature's check, then the checks of an uploaded record's bytes; UserError (one
    line) for a hostile zip or a signature that fails."""
    if len(payload) > MAX_RECORD_MB * 2**20:
        raise UserError(f"{name} is larger than {MAX_RECORD_MB} MB; no record is that big.")
    if key is not None and len(key) > MAX_KEY_BYTES:
        raise UserError(f"the public key is larger than a key ({MAX_KEY_BYTES} bytes).")
    with tempfile.TemporaryDirectory(prefix="upload-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(payload)
        check_record_zip(path)
        key_path = None
        if key is not None:
            key_path = Path(tmp) / "trusted-key.pem"
            key_path.write_bytes(key)
        signature = check_signature(path, str(key_path) if key_path else None)
        return signature, verify_record(path, get_dataset, checkpoint=original_here(path))


def original_here(record: Path) -> Path | None:
    """The record's original checkpoint when it is among the models stored here (same sha256),
    so that its numbers are recomputed too; None otherwise."""
    from ui.model_sources import stored_models
    from unlearn_core.checkpoint import sha256_file
    from unlearn_core.files import parse_json_bounded
    from unlearn_core.run.integrity import REPORT, read_member

    try:
        report = parse_json_bounded(read_member(record, REPORT) or b"{}", REPORT)
        wanted = report["checkpoints"]["original_sha256"]
    except (UserError, KeyError, TypeError):
        return None
    return next((Path(p) for p in stored_models() if wanted and sha256_file(p) == wanted), None)


def record_check_form() -> None:
    """Upload record.zip, press Verify: hashes, data set, forget set and each model's accuracies,
    one pass or fail line each."""
    with st.form("verify_record_form"):
        upload = st.file_uploader(
            f"An audit record (record.zip, at most {MAX_RECORD_MB} MB)",
            type=["zip"],
            max_upload_size=MAX_RECORD_MB,
            key="verify_record_file",
        )
        key = st.file_uploader(
            "The signer's public key, if you have one you trust (.pem)",
            type=["pem", "pub"],
            key="verify_record_key",
            help="With it the record's signature is checked first: it shows that nobody has "
            "changed any file since the holder of the private key signed it.",
        )
        submitted = st.form_submit_button("Verify this record")
    if not submitted:
        return
    if upload is None:
        st.error("Choose an audit record (a .zip) first.")
        return
    # the messages name the user's file; a path the browser sent is never used as one
    name = f"{safe_stem(upload.name, 76, 'record')}.zip"
    try:
        with st.spinner("Checking the signature and hashes, recomputing the accuracies…"):
            signature, checks = _checks(name, upload.getvalue(), key and key.getvalue())
    except UserError as err:
        st.error(str(err))
        return
    (st.success if signature.trusted else st.warning)(signature.line)
    for check in checks:
        (st.info if check.kind else st.success if check.passed else st.error)(check.line)
    if all(c.passed for c in checks):
        st.caption(_what_it_proves(signature))


def _what_it_proves(signature: SignatureCheck) -> str:
    """What a passing check shows, and what it cannot without a trusted signature."""
    proven = (
        "Every check passed: the files are those listed and the weights give the accuracies "
        "the record reports."
    )
    if signature.trusted:
        return f"{proven} The signature shows no file changed since the key's holder signed it."
    return (
        f"{proven} Without a signature checked against a key you trust, this cannot rule out "
        "a forger who changed the weights slightly and rewrote SHA256SUMS and report.json to "
        "match: ask for a record signed with `audit --sign` and the signer's public key."
    )
