"""The verdict attestation of a signed audit record (run/signing.py): an in-toto v1 statement
whose subject is the unlearned weights' digest and whose predicate carries the request, the
method and settings, the verdict with its margin and intervals, the official challenge score,
the original and retrained checkpoints' digests and the code version; wrapped in a DSSE
envelope signed with the record's key (docs/DESIGN-NOTES.md lists the keys)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from unlearn_core.errors import UserError
from unlearn_core.run.integrity import (
    MODEL,
    PRIVACY,
    REPORT,
    SIGNATURE_MEMBERS,
    report_from_values,
)
from unlearn_core.run.signing_keys import digest_algorithm, fingerprint

ATTESTATION = SIGNATURE_MEMBERS[1]  # verdict.intoto.json
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://github.com/unlearning-workbench/deletion-verdict/v1"


def _pae(payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of an in-toto payload."""
    kind = PAYLOAD_TYPE.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(files: dict[str, bytes], signer_name: str) -> dict:
    """The verdict attestation's in-toto statement for a record's files (name -> bytes, after
    integrity.verify_run passed them)."""
    from unlearn_core.run.verdict import verdict

    report = report_from_values(json.loads(files[REPORT]), REPORT)
    privacy = json.loads(files[PRIVACY]) if PRIVACY in files else None
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


def envelope(values: dict, key: ec.EllipticCurvePrivateKey | None) -> bytes:
    """A DSSE envelope of the statement `values`, signed with `key` (none: keyless signing,
    where the record's bundle covers it)."""
    payload = json.dumps(values, sort_keys=True).encode()
    signatures = []
    if key is not None:
        sig = key.sign(_pae(payload), ec.ECDSA(digest_algorithm(key)))
        signatures.append(
            {"keyid": fingerprint(key.public_key()), "sig": base64.b64encode(sig).decode()}
        )
    out = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": signatures,
    }
    return json.dumps(out, indent=1).encode()


def verify_envelope(files: dict[str, bytes], public: ec.EllipticCurvePublicKey, where: str) -> dict:
    """The attestation's statement in a record's files, after checking its DSSE signature with
    `public` and that its subject is the record's weights."""
    try:
        envelope = json.loads(files[ATTESTATION])
        payload = base64.b64decode(envelope["payload"], validate=True)
        signature = base64.b64decode(envelope["signatures"][0]["sig"], validate=True)
        public.verify(signature, _pae(payload), ec.ECDSA(digest_algorithm(public)))
        statement = json.loads(payload)
    except InvalidSignature:
        raise UserError(
            f"{ATTESTATION}: its signature is not the trusted key's ({where})."
        ) from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise UserError(f"{ATTESTATION}: not a DSSE envelope of a statement ({where}).") from None
    weights = hashlib.sha256(files[MODEL]).hexdigest()
    subjects = [s.get("digest", {}).get("sha256") for s in statement.get("subject", [])]
    if envelope.get("payloadType") != PAYLOAD_TYPE or subjects != [weights]:
        raise UserError(f"{ATTESTATION}: its subject is not this record's weights ({where}).")
    return statement
