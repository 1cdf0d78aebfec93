"""A privacy audit on Ray (marked `ray`; CI runs it): its models fan out as Ray tasks and the
audit's numbers are bit for bit those of the inline executor."""

from __future__ import annotations

import pytest

from tests.test_privacy_audit import audit_spec
from unlearn_core.engine.executors import RayExecutor
from unlearn_core.engine.jobs import JobManager
from unlearn_core.privacy.run import run_audit
from unlearn_core.privacy.store import AuditStore

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray


def test_an_audit_on_ray_matches_inline(memorising, tmp_path):
    spec = audit_spec(memorising, "finetune", store_root=str(tmp_path / "pool"), models=4)
    try:
        manager = JobManager(tmp_path, RayExecutor(workers=2))
        job = manager.submit(spec)
        (ended,) = manager.wait([job.id])
    finally:
        ray.shutdown()
    assert ended.state == "done", ended.error
    on_ray = AuditStore(tmp_path).get(ended.audit_id)
    inline = run_audit(spec).privacy  # reads the pool the Ray tasks trained
    for key in ("attacks", "challenge", "tow", "avg_gap", "verdict"):
        assert on_ray[key] == inline[key], key
