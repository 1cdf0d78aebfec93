import pytest
import torch

from unlearn_core.errors import UserError
from unlearn_core.request import ForgetRequest, check_origin, parse_indices, random_indices


def test_classes_partition_the_training_set(demo):
    req = ForgetRequest.for_classes(demo, [5, 3])
    assert req.classes == (3, 5) and req.kind == "classes" and req.count == 1200
    assert set(demo.train_y[req.forget_indices].tolist()) == {3, 5}
    assert not torch.isin(demo.train_y[req.retain_indices], torch.tensor([3, 5])).any()
    assert req.count + req.retain_indices.numel() == 6000
    assert req.to_dict() == {"classes": [3, 5], "indices": [], "count": 1200}


def test_indices_partition_the_training_set(demo):
    req = ForgetRequest.for_indices(demo, [9, 1, 7])
    assert req.forget_indices.tolist() == [1, 7, 9] and req.kind == "samples"
    assert req.retain_indices.numel() == 5997 and 7 not in req.retain_indices.tolist()
    assert ForgetRequest.from_dict(demo, req.to_dict()).forget_indices.tolist() == [1, 7, 9]


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ([99], "unknown class 99: demo has classes 0 to 9"),
        ([-1], "unknown class -1"),
        ([], "empty"),
        ([2, 2], "listed twice"),
        (list(range(10)), "cannot forget every class"),
    ],
)
def test_bad_class_requests(demo, classes, message):
    with pytest.raises(UserError, match=message):
        ForgetRequest.for_classes(demo, classes)


@pytest.mark.parametrize(
    ("indices", "message"),
    [
        ([6000], "index 6000 is out of range: demo has indices 0 to 5999"),
        ([-3], "index -3 is out of range"),
        ([], "empty"),
        ([4, 4], "index 4 is listed twice"),
        (list(range(6000)), "whole training set"),
    ],
)
def test_bad_index_requests(demo, indices, message):
    with pytest.raises(UserError, match=message):
        ForgetRequest.for_indices(demo, indices)


def test_messages_are_one_line(demo):
    with pytest.raises(UserError) as err:
        ForgetRequest.for_classes(demo, [42])
    assert "\n" not in str(err.value)


def test_typed_indices_are_parsed_and_words_refused():
    assert parse_indices(" 2, 17,305,") == [2, 17, 305]
    with pytest.raises(UserError, match="'x' is not a training index"):
        parse_indices("4, x")


def test_random_indices_are_seeded_distinct_and_from_the_class(demo):
    first = random_indices(demo.train_y, 3, 25, seed=1)
    assert first == random_indices(demo.train_y, 3, 25, seed=1) and len(set(first)) == 25
    assert first != random_indices(demo.train_y, 3, 25, seed=2)
    assert all(int(demo.train_y[i]) == 3 for i in first)
    assert len(random_indices(demo.train_y, None, 6000, seed=0)) == 6000
    with pytest.raises(UserError, match="cannot draw 601 samples from 600"):
        random_indices(demo.train_y, 3, 601, seed=0)


def test_who_asked_and_when_are_optional_and_checked(demo):
    request = ForgetRequest.for_classes(demo, [3]).with_origin(" A. Person ", "2024-02-29")
    assert request.to_dict() == {
        "classes": [3], "indices": [], "count": 600,
        "requester": "A. Person", "request_date": "2024-02-29",
    }  # fmt: skip
    assert ForgetRequest.from_dict(demo, request.to_dict()).requester == "A. Person"
    assert check_origin("", "  ") == (None, None)
    for date in ("2025-02-30", "31/03/2025", "2025-3-1", "２０２５-01-01", "2025-01-01x"):
        with pytest.raises(UserError, match="not a date written YYYY-MM-DD"):
            check_origin(None, date)
    for requester in ("two\nlines", "x" * 201, "bell\a"):
        with pytest.raises(UserError, match="one line of at most 200"):
            check_origin(requester, None)
