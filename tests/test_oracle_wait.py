"""A job waiting for its sweep's shared oracle says so (issue 24, item 10: it showed its last
phase, "repair: retain subset", and a time left that never came): its phase begins with
"waiting", which the app shows without a time-left estimate, until the oracle arrives."""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import Future

from unlearn_core.engine.runner import execute, load_inputs


def test_a_job_waiting_for_the_shared_oracle_reports_waiting_until_it_arrives(spec):
    job = dataclasses.replace(spec, oracle=True)
    inputs = load_inputs(job)
    oracle: Future = Future()
    phases: list[tuple[float, str]] = []
    thread = threading.Thread(
        target=lambda: execute(job, inputs, lambda f, p: phases.append((f, p)), oracle=[oracle]),
        daemon=True,
    )
    thread.start()
    end = time.monotonic() + 120
    try:
        while not any(p.startswith("waiting") for _, p in phases):
            assert time.monotonic() < end, f"no waiting phase; phases: {phases[-3:]}"
            assert thread.is_alive(), "the job ended without waiting for its oracle"
            time.sleep(0.05)
        waiting = next(i for i, (_, p) in enumerate(phases) if p.startswith("waiting"))
        time.sleep(0.5)
        assert len(phases) == waiting + 1, "the job reported more while it waited"
        assert phases[waiting][0] == phases[waiting - 1][0], "waiting moved its fraction"
    finally:
        oracle.set_result((inputs.trained.copy_model(), 1.0))
        thread.join(120)
    assert not thread.is_alive() and phases[-1] == (1.0, "done")
    assert not any(p.startswith("waiting") for _, p in phases[waiting + 1 :])
