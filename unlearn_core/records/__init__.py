"""Audit records checked against what they claim: `audit --verify --reproduce` (reproduce.py,
record_checks.py) and the privacy audit a record carries (privacy_record.py). Above privacy/,
whose audits and verdict rule they read, and run/, whose runs they verify."""
