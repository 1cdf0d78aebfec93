"""CODEC / L-CODEC / FOCI (Azadkia & Chatterjee 2021; Mehta et al., CVPR 2022)."""

from fractions import Fraction

import pytest
import torch

from unlearn_core.methods.lfoci import codec as codec_module
from unlearn_core.methods.lfoci.codec import codec, foci, foci_with_scores

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=F64)


def _as_fraction(value: float) -> Fraction:
    return Fraction(value).limit_denominator(1000)


def test_unconditional_matches_hand_computation():
    # y = 1..5 so R = [1, 2, 3, 4, 5], L = [5, 4, 3, 2, 1].
    # z = [0, 1, 10, 11, 30]: M = [1, 0, 3, 2, 3] (z=30 is 19 from 11, 20 from 10).
    # min(R_i, R_M(i)) = [1, 1, 3, 3, 4], sum 12; sum L^2 = 55; sum L (n - L) = 0+4+6+6+4 = 20.
    # T = (5 * 12 - 55) / 20 = 1/4.
    y = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    z = torch.tensor([0.0, 1.0, 10.0, 11.0, 30.0])
    assert _as_fraction(codec(y, z)) == Fraction(1, 4)
    assert codec(y, z) == 0.25


def test_unconditional_with_tied_response_matches_hand_computation():
    # y = [2, 1, 2, 3]: R = #{y_j <= y_i} = [3, 1, 3, 4], L = #{y_j >= y_i} = [3, 4, 3, 1].
    # z = [0, 1, 3, 3.5]: M = [1, 0, 3, 2]; min(R_i, R_M(i)) = [1, 1, 3, 3], sum 8.
    # sum L^2 = 35, sum L (n - L) = 3 + 0 + 3 + 3 = 9; T = (4 * 8 - 35) / 9 = -1/3.
    y = torch.tensor([2.0, 1.0, 2.0, 3.0])
    z = torch.tensor([0.0, 1.0, 3.0, 3.5])
    assert _as_fraction(codec(y, z)) == Fraction(-1, 3)


def test_conditional_matches_hand_computation():
    # y = 1..5 so R = [1, 2, 3, 4, 5].
    # x = [0, 0, 5, 5, 9]: N = [1, 0, 3, 2, 2] (x=9 is 4 from both 5s: the lower index, 2, wins).
    # (x, z) with z = [0, 3, 0, 1, 2]: squared distances from (9, 2) are 20 to (5, 0) and 17 to
    # (5, 1), so M = [1, 0, 3, 2, 3].
    # min(R, R_N) = [1, 1, 3, 3, 3] (sum 11), min(R, R_M) = [1, 1, 3, 3, 4] (sum 12).
    # T = (12 - 11) / (15 - 11) = 1/4.
    y = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    x = torch.tensor([0.0, 0.0, 5.0, 5.0, 9.0])
    z = torch.tensor([0.0, 3.0, 0.0, 1.0, 2.0])
    assert _as_fraction(codec(y, z, x)) == Fraction(1, 4)
    assert codec(y, z[:, None], x[:, None]) == 0.25


def test_generator_breaks_neighbour_ties_at_random():
    # Same data as above: only sample 4 has tied neighbours in x (samples 2 and 3). With
    # N(4) = 3 the conditional sums become 12 and 12, so T = 0 / 3 = 0; with N(4) = 2, T = 1/4.
    y = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    x = torch.tensor([0.0, 0.0, 5.0, 5.0, 9.0])
    z = torch.tensor([0.0, 3.0, 0.0, 1.0, 2.0])
    values = [codec(y, z, x, generator=_gen(seed)) for seed in range(200)]
    assert set(values) == {0.0, 0.25}
    assert 0.35 < values.count(0.25) / len(values) < 0.65


def test_near_one_for_a_function_and_near_zero_for_independence():
    g = _gen(0)
    u = torch.rand(1000, generator=g, dtype=F64) * 2 - 1
    assert codec(torch.sin(6 * u), u) > 0.9
    assert codec(u**2, u) > 0.9
    assert codec(u**2, torch.stack([u, 0.01 * _randn(g, 1000)], dim=1)) > 0.9
    assert abs(codec(_randn(g, 1000), u)) < 0.1
    assert abs(codec(_randn(g, 1000), _randn(g, 1000, 3))) < 0.1


def test_conditional_near_zero_given_the_cause_and_positive_with_a_second_cause():
    g = _gen(1)
    x, z = _randn(g, 1000), _randn(g, 1000)
    only_x = x + 0.5 * _randn(g, 1000)
    assert abs(codec(only_x, z, x)) < 0.1
    both = torch.sin(3 * x) + z**2 + 0.1 * _randn(g, 1000)
    assert codec(both, z, x) > 0.6
    assert codec(x + z, z, x) > 0.8


def test_invariant_to_strictly_increasing_transform_of_y():
    g = _gen(2)
    z, x = _randn(g, 300, 2), _randn(g, 300)
    y = z[:, 0] + x + 0.3 * _randn(g, 300)
    for t in (torch.exp(y), y**3, 5 * y - 2):
        assert codec(t, z) == codec(y, z)
        assert codec(t, z, x) == codec(y, z, x)


def test_ties_and_duplicate_rows_give_finite_values():
    g = _gen(3)
    y = torch.randint(0, 3, (400,), generator=g).double()
    z = torch.randint(0, 4, (400, 2), generator=g).double()  # 16 distinct rows among 400
    x = torch.randint(0, 2, (400,), generator=g).double()
    for value in (
        codec(y, z),
        codec(y, z, x),
        codec(y, z, generator=_gen(0)),
        codec(y, z, x, randomized=True, generator=_gen(0)),
        codec(y, z[:, 0], randomized=True),
    ):
        assert -1.0 <= value <= 1.0


def test_one_dimensional_search_agrees_with_the_general_one():
    # A 1-D feature is searched by sorting, a 2-D one by full distances; an all-zero second
    # column leaves every distance, tie and lowest-index choice unchanged.
    g = _gen(4)
    y = torch.randint(0, 5, (300,), generator=g).double()
    z = torch.randint(0, 7, (300,), generator=g).double()
    padded = torch.stack([z, torch.zeros(300, dtype=F64)], dim=1)
    assert codec(y, z) == codec(y, padded)
    z = _randn(g, 300)
    assert codec(y, z) == codec(y, torch.stack([z, torch.zeros(300, dtype=F64)], dim=1))
    # distinct, evenly spaced values: each inner sample has two neighbours at the same distance
    z = torch.randperm(300, generator=g).double()
    assert codec(y, z) == codec(y, torch.stack([z, torch.zeros(300, dtype=F64)], dim=1))


def test_lcodec_equals_codec_without_ties():
    g = _gen(5)
    z, x = _randn(g, 300, 2), _randn(g, 300)
    y = torch.sin(z[:, 0]) + x + 0.2 * _randn(g, 300)
    for seed in range(4):
        assert codec(y, z, randomized=True, generator=_gen(seed)) == codec(y, z)
        assert codec(y, z, x, randomized=True, generator=_gen(seed)) == codec(y, z, x)


def test_lcodec_splits_ties_at_random():
    y = torch.tensor([0.0, 0.0, 1.0, 1.0, 2.0, 2.0])
    z = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    values = {codec(y, z, randomized=True, generator=_gen(seed)) for seed in range(30)}
    assert len(values) > 1
    assert codec(y, z) not in values  # plain CODEC gives tied y the shared (largest) rank


def test_constant_response_gives_zero_and_bad_input_raises():
    y = torch.ones(50)
    z = torch.arange(50.0)
    assert codec(y, z) == 0.0
    assert codec(y, z, z.flip(0)) == 0.0
    assert codec(y, z, randomized=True, generator=_gen(0)) == 0.0
    with pytest.raises(ValueError, match="NaN"):
        codec(torch.tensor([1.0, float("nan"), 2.0]), torch.arange(3.0))
    with pytest.raises(ValueError):
        codec(torch.arange(5.0), torch.arange(4.0))


def _markov_blanket_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """y = sin(2 X0) + X1^2 + small noise; columns X0, X1, noisy X0, 10 noise, 1 constant."""
    g = _gen(seed)
    n = 1000
    x0, x1 = _randn(g, n), _randn(g, n)
    y = torch.sin(2 * x0) + x1**2 + 0.05 * _randn(g, n)
    columns = [x0, x1, x0 + 0.5 * _randn(g, n), *_randn(g, 10, n), torch.full((n,), 3.0, dtype=F64)]
    return y, torch.stack(columns, dim=1)


def test_foci_recovers_the_markov_blanket():
    y, features = _markov_blanket_data(0)
    first = max((0, 1), key=lambda j: codec(y, features[:, j]))
    for randomized in (True, False):
        result = foci_with_scores(y, features, randomized=randomized, generator=_gen(0))
        assert set(result.selected) == {0, 1}
        assert result.selected[0] == first
        assert all(score > 0 for score in result.scores)
    assert foci(y, features, randomized=False, generator=_gen(0)) == result.selected
    assert foci(y, features, max_features=1, generator=_gen(1)) == [first]
    assert foci(y, features, max_features=0) == []


def test_foci_scores_are_the_codec_values_of_each_step():
    # Discrete columns give many equal distances, exercising the neighbour shortlists'
    # fall-backs and the lowest-index rule; the scores must still be exact CODEC values.
    g = _gen(0)
    n = 400
    features = torch.randint(0, 10, (n, 8), generator=g).double()
    features[:, 5] = _randn(g, n)
    y = features[:, 0] + 2 * features[:, 3] + features[:, 5] + 0.5 * _randn(g, n)
    result = foci_with_scores(y, features, randomized=False, standardize=False)
    assert result.selected == [3, 0, 5]
    for step, column in enumerate(result.selected):
        given = features[:, result.selected[:step]] if step else None
        assert result.scores[step] == codec(y, features[:, column], given)
        if step:
            others = [j for j in range(8) if j not in result.selected[:step]]
            assert result.scores[step] == max(codec(y, features[:, j], given) for j in others)


@pytest.mark.parametrize("shortlists", [(1,), (1, 2, 4), (3, 8), codec_module.SHORTLISTS])
def test_foci_shortlist_search_equals_full_search(monkeypatch, shortlists):
    # FOCI's conditional steps search neighbours in stretches of a ranking and stop early; with
    # short stretches and many equal distances every stopping rule and tie is exercised.
    monkeypatch.setattr(codec_module, "SHORTLISTS", shortlists)
    g = _gen(7)
    n = 40
    y = torch.randperm(n, generator=g).double()
    rank = y.long() + 1  # distinct y: R_i is y_i + 1
    for levels in (2, 3, 5, None):
        if levels is None:
            features = _randn(g, n, 5)
        else:
            features = torch.randint(0, levels, (n, 5), generator=g).double()
        given = features[:, :2]
        dist = sum((c[:, None] - c[None, :]) ** 2 for c in given.T).fill_diagonal_(torch.inf)
        num, den = codec_module._conditional_numerators(features, torch.arange(2, 5), dist, rank)
        for j in range(2, 5):
            expected = codec(y, features[:, j], given)
            assert (num[j - 2].item() / den.item() if den > 0 else 0.0) == expected


def test_foci_ignores_constant_and_duplicate_columns():
    y, features = _markov_blanket_data(2)
    features = torch.cat([torch.zeros(1000, 1, dtype=F64), features, features[:, :1]], dim=1)
    selected = foci(y, features, generator=_gen(2))  # X0 is now column 1 and, again, column 15
    assert 0 not in selected and 14 not in selected
    assert 2 in selected and len({1, 15} & set(selected)) == 1 and len(selected) == 2
    assert foci(y, torch.ones(1000, 3)) == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu():
    y, features = _markov_blanket_data(0)
    cuda = torch.device("cuda")
    assert codec(y.to(cuda), features[:, 0].to(cuda)) == codec(y, features[:, 0])
    assert codec(y.to(cuda), features[:, 2].to(cuda), features[:, :2].to(cuda)) == codec(
        y, features[:, 2], features[:, :2]
    )
    assert foci(y.to(cuda), features.to(cuda), randomized=False) == foci(
        y, features, randomized=False
    )
