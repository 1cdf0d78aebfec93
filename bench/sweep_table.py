"""A sweep's summary.csv as BENCHMARKS.md's table: each metric as mean [95% Student-t
interval] over seeds, and the unlearning time against the `retrain` method's in the same sweep.

    python bench/sweep_table.py SWEEP_OUT_DIR [--verdicts verdicts.json]

verdicts.json: {method: "remembers (0.99 [0.99, 1.00])", ...}, the `privacy-audit` verdicts
to show beside the sweep's figures (an audit is run separately; blank where none ran). Not a
test.
"""

import argparse
import csv
import json
from pathlib import Path

COLUMNS = (
    ("forget acc", "forget_acc", ""),
    ("gap forget", "gap_forget_acc", "+"),
    ("gap retain", "gap_retain_acc", "+"),
    ("gap test", "gap_test_acc", "+"),
    ("ToW", "tow", ""),
    ("avg gap (SalUn)", "avg_gap", ""),
)


def cell(row: dict, column: str, sign: str) -> str:
    """ "0.361 [0.337, 0.384]" ("+0.361 [...]" with sign "+"); the mean alone for one seed."""
    mean, low, high = (row[f"{column}_{s}"] for s in ("mean", "ci_low", "ci_high"))
    if mean == "":
        return ""
    fmt = f"{{:{sign}.3f}}"
    if low == "":
        return fmt.format(float(mean))
    return f"{fmt.format(float(mean))} [{fmt.format(float(low))}, {fmt.format(float(high))}]"


def table(rows: list[dict], verdicts: dict[str, str]) -> str:
    retrain = next((float(r["seconds_mean"]) for r in rows if r["method"] == "retrain"), None)
    head = ["method", "n", *(c[0] for c in COLUMNS), "audit verdict", "unlearn (s)"]
    head += ["cost / retrain"] if retrain else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in sorted(rows, key=lambda r: r["method"]):
        seconds = float(row["seconds_mean"])
        cells = [row["method"], row["n"], *(cell(row, c, s) for _, c, s in COLUMNS)]
        cells += [verdicts.get(row["method"], ""), f"{seconds:.1f}"]
        cells += [f"{seconds / retrain:.2f}"] if retrain else []
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--verdicts", type=Path)
    args = parser.parse_args()
    with open(args.sweep / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    verdicts = json.loads(args.verdicts.read_text()) if args.verdicts else {}
    sweep = json.loads((args.sweep / "sweep.json").read_text())
    done = sum(job["state"] == "done" for job in sweep["jobs"])
    print(f"{done} of {len(sweep['jobs'])} jobs finished\n")
    print(table(rows, verdicts))


if __name__ == "__main__":
    main()
