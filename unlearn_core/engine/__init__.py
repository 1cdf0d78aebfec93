"""Jobs and sweeps: a job is a serialisable spec of a registered kind (engine/kinds: an
unlearning run, exactly what `unlearn` takes; a privacy audit; an embedding), run by an executor
(inline, in this process; or Ray, local or a cluster), its state kept in the run store so any
process or browser session sees it."""
