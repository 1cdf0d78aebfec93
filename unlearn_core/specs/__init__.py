"""What a job is, as plain data: the spec of an unlearning run (run.py), the base every job
spec shares (base.py) and the command line a spec spells (commands.py).

Specs sit below privacy/, run/'s jobs and engine/: each of those builds or reads specs, none of
them is imported here, so the command line, the app and the engine share one spelling."""
