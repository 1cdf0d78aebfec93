"""Audits in the run store: `<store>/audits/<id>/privacy.json`, each written atomically."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

from unlearn_core.errors import UserError
from unlearn_core.files import parse_json_bounded, read_regular, write_bytes_atomic
from unlearn_core.run.store import default_store_root

MAX_PRIVACY_BYTES = 64 * 2**20  # per-sample arrays of a large forget set, with room


def privacy_json(privacy: dict) -> bytes:
    return json.dumps(privacy, indent=1, allow_nan=False).encode()


class AuditStore:
    def __init__(self, root: str | Path | None = None):
        self.folder = Path(root or default_store_root()) / "audits"

    def save(self, privacy: dict) -> str:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        audit_id = f"audit-{stamp}-{privacy['method']}-{secrets.token_hex(3)}"
        write_bytes_atomic(self.folder / audit_id / "privacy.json", privacy_json(privacy))
        return audit_id

    def get(self, audit_id: str) -> dict:
        path = self.folder / audit_id / "privacy.json"
        if "/" in audit_id or audit_id.startswith(".") or not path.is_file():
            raise UserError(f"no audit {audit_id!r} in {self.folder}.")
        return json.loads(path.read_text())

    def matching(
        self, checkpoint_sha256: str, method: str, forget: dict, config: dict | None = None
    ) -> list[tuple[str, dict]]:
        """(id, privacy) of the audits of this checkpoint, method (with this whole `config`,
        when given) and forget set, newest first."""
        found = []
        for path in sorted(self.folder.glob("audit-*/privacy.json"), reverse=True):
            try:
                privacy = parse_json_bounded(read_regular(path, MAX_PRIVACY_BYTES), path.name)
            except UserError:
                continue  # one damaged file must not hide the others
            if not isinstance(privacy, dict):
                continue
            same = (
                privacy.get("checkpoint_sha256") == checkpoint_sha256
                and privacy.get("method") == method
                and same_forget(privacy.get("forget") or {}, forget)
                and (config is None or privacy.get("config") == config)
            )
            if same:
                found.append((path.parent.name, privacy))
        return found


def same_forget(a: dict, b: dict) -> bool:
    """One request: the same classes, or (for sample requests) the same indices; a class
    request's block may list its indices too."""
    if a.get("classes") or b.get("classes"):
        return sorted(a.get("classes") or []) == sorted(b.get("classes") or [])
    return sorted(a.get("indices") or []) == sorted(b.get("indices") or [])
