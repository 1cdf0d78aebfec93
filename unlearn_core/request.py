"""A forget request, by class or by training index, validated and split into forget/retain sets."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError


@dataclass(frozen=True)
class ForgetRequest:
    """What to forget, resolved against one data set.

    classes: the forgotten classes (empty for a sample request). forget_indices (k,) and
    retain_indices (n - k,) are sorted positions in data.train_x and partition it. requester
    and request_date: who asked and when (YYYY-MM-DD), optional, for the audit record.
    """

    classes: tuple[int, ...]
    forget_indices: torch.Tensor  # (k,) int64, sorted
    retain_indices: torch.Tensor  # (n - k,) int64, sorted
    requester: str | None = None
    request_date: str | None = None

    @property
    def kind(self) -> str:
        return "classes" if self.classes else "samples"

    @property
    def count(self) -> int:
        return self.forget_indices.numel()

    def outside_retain(self, n: int) -> torch.Tensor:
        """(n - len(retain_indices),) sorted training indices outside the retain set: what a
        retrain must leave out. The forget set, plus, in a step of a sequence of requests
        (unlearn_core.run.sequential), what earlier steps forgot: there the two sets cover less."""
        keep = torch.zeros(n, dtype=torch.bool)
        keep[self.retain_indices] = True
        return (~keep).nonzero().flatten()

    def to_dict(self) -> dict:
        """The contract's `forget` block of report.json; `requester` and `request_date` only
        when given."""
        origin = {"requester": self.requester, "request_date": self.request_date}
        return {
            "classes": list(self.classes),
            "indices": self.forget_indices.tolist() if not self.classes else [],
            "count": self.count,
            **{k: v for k, v in origin.items() if v is not None},
        }

    def with_origin(self, requester: str | None, request_date: str | None) -> ForgetRequest:
        """This request with who asked and when, checked (check_origin)."""
        requester, request_date = check_origin(requester, request_date)
        return dataclasses.replace(self, requester=requester, request_date=request_date)

    @classmethod
    def for_classes(cls, data: ImageDataset, classes: Iterable[int]) -> ForgetRequest:
        wanted = [int(c) for c in classes]
        if not wanted:
            raise UserError("the forget request is empty; name at least one class to forget.")
        if len(set(wanted)) != len(wanted):
            raise UserError(f"class listed twice in {wanted}; name each class once.")
        bad = [c for c in wanted if not 0 <= c < data.num_classes]
        if bad:
            raise UserError(
                f"unknown class {bad[0]}: {data.name} has classes 0 to {data.num_classes - 1}."
            )
        if len(wanted) == data.num_classes:
            raise UserError("cannot forget every class: keep at least one class to retain.")
        mask = torch.isin(data.train_y, torch.tensor(wanted))
        return cls._from_mask(tuple(sorted(wanted)), mask)

    @classmethod
    def for_indices(cls, data: ImageDataset, indices: Iterable[int]) -> ForgetRequest:
        wanted = [int(i) for i in indices]
        n = data.train_y.numel()
        if not wanted:
            raise UserError("the forget request is empty; name at least one training index.")
        bad = [i for i in wanted if not 0 <= i < n]
        if bad:
            raise UserError(
                f"index {bad[0]} is out of range: {data.name} has indices 0 to {n - 1}."
            )
        if len(set(wanted)) != len(wanted):
            dup = next(i for i in wanted if wanted.count(i) > 1)
            raise UserError(f"index {dup} is listed twice; name each training index once.")
        if len(wanted) == n:
            raise UserError("cannot forget the whole training set: keep some samples to retain.")
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.tensor(wanted)] = True
        return cls._from_mask((), mask)

    @classmethod
    def from_dict(cls, data: ImageDataset, values: Mapping) -> ForgetRequest:
        """Inverse of to_dict, for a stored run or a session's request; `count` is not needed."""
        if values.get("classes"):
            request = cls.for_classes(data, values["classes"])
        else:
            request = cls.for_indices(data, values.get("indices") or [])
        return request.with_origin(values.get("requester"), values.get("request_date"))

    @classmethod
    def _from_mask(cls, classes: tuple[int, ...], mask: torch.Tensor) -> ForgetRequest:
        return cls(classes, mask.nonzero().flatten(), (~mask).nonzero().flatten())


MAX_REQUESTER = 200  # characters: a name, an e-mail address or a ticket number
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def check_origin(requester, request_date) -> tuple[str | None, str | None]:
    """(requester, request_date) of a deletion request, stripped, None where empty. UserError
    unless the requester is one line of at most MAX_REQUESTER characters and the date a real
    calendar date written YYYY-MM-DD."""
    requester = str(requester).strip() if requester is not None else ""
    if len(requester) > MAX_REQUESTER or not requester.isprintable():
        raise UserError(
            f"the requester must be one line of at most {MAX_REQUESTER} printable characters "
            "(a name, an e-mail address or a ticket number)."
        )
    date = str(request_date).strip() if request_date is not None else ""
    if date:
        try:
            valid = _DATE.fullmatch(date) and dt.date.fromisoformat(date)
        except ValueError:
            valid = None
        if not valid:
            raise UserError(
                f"request date {date[:20]!r} is not a date written YYYY-MM-DD (e.g. 2025-03-31)."
            )
        latest = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)  # any time zone
        if valid > latest:
            raise UserError(f"request date {date} lies in the future; give the day it was made.")
    return requester or None, date or None


def class_label(index: int, class_names: Sequence[str] | None = None) -> str:
    """ "3 (Dress)", or "3" without class names: how every page and record names a class."""
    if class_names and 0 <= index < len(class_names):
        return f"{index} ({class_names[index]})"
    return str(index)


def forget_label(
    classes: Sequence[int], count: int | None, class_names: Sequence[str] | None = None
) -> str:
    """What a request forgets, in a few words: "classes 1, 2" (with names when given) or
    "4 samples"."""
    if classes:
        return "classes " + ", ".join(class_label(c, class_names) for c in classes)
    count = count or 0
    return f"{count} sample{'s' if count != 1 else ''}"


def parse_indices(text: str) -> list[int]:
    """Parse "2, 17,305" into [2, 17, 305]; UserError naming the first part that is no number.
    Range checks are ForgetRequest.for_indices' job."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    bad = next((part for part in parts if not _INDEX.fullmatch(part)), None)
    if bad is not None:
        raise UserError(
            f"{bad[:20]!r} is not a training index; type whole numbers (digits 0-9, at most 12) "
            "separated by commas."
        )
    return [int(part) for part in parts]


_INDEX = re.compile(r"-?[0-9]{1,12}")  # ASCII digits only: "²" and "٣" are digits to str.isdigit


def random_indices(labels: torch.Tensor, class_index: int | None, count: int, seed: int) -> list:
    """`count` sorted training indices drawn without replacement by `seed` from the positions of
    labels (n,) equal to class_index (None: all)."""
    pool = torch.arange(labels.numel())
    if class_index is not None:
        pool = pool[labels == class_index]
    if not 0 < count <= pool.numel():
        raise UserError(f"cannot draw {count} samples from {pool.numel()}; ask for fewer.")
    pick = torch.randperm(pool.numel(), generator=torch.Generator().manual_seed(seed))[:count]
    return sorted(pool[pick].tolist())
