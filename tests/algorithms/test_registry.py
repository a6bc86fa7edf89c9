"""The registry: every algorithm runs from its default sizing, verifies, and meets its bound."""

from __future__ import annotations

import numpy as np
import pytest

import mpcsim
from mpcsim.algorithms import ALGORITHMS, AlgorithmSpec


def test_the_cli_names_are_registered() -> None:
    assert {"broadcast", "all-reduce", "prefix-sum"} <= set(ALGORITHMS)
    assert all(name == spec.name for name, spec in ALGORITHMS.items())


@pytest.mark.parametrize("n", [0, 1, 10, 1000, 50_000])
@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_default_sizing_runs_verified_within_the_bound(name: str, n: int) -> None:
    spec = ALGORITHMS[name]
    q, s = spec.sizing(n, None, None)
    inputs = spec.make_input(n, np.random.default_rng(n))
    result = mpcsim.run(spec.program(), inputs, num_machines=q, memory_words=s)
    assert spec.verify(result.output, inputs)
    assert result.rounds <= spec.round_bound(n, q, s)
    assert not result.trace.violations


@pytest.mark.parametrize("q, s", [(7, None), (None, 2500), (300, 2500)])
@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_sizing_keeps_what_the_user_fixed_and_fits_the_rest(name: str, q: int | None,
                                                            s: int | None) -> None:
    spec = ALGORITHMS[name]
    n = 2000
    got_q, got_s = spec.sizing(n, q, s)
    assert got_q == (q if q is not None else got_q) and got_s == (s if s is not None else got_s)
    inputs = spec.make_input(n, np.random.default_rng(0))
    result = mpcsim.run(spec.program(), inputs, num_machines=got_q, memory_words=got_s)
    assert spec.verify(result.output, inputs)


def test_make_input_is_determined_by_the_generator() -> None:
    for spec in ALGORITHMS.values():
        a = spec.make_input(100, np.random.default_rng(1))
        b = spec.make_input(100, np.random.default_rng(1))
        np.testing.assert_array_equal(a, b)
        assert mpcsim.words(a) == 100


def test_a_malformed_spec_names_every_bad_field() -> None:
    spec = ALGORITHMS["broadcast"]
    with pytest.raises(mpcsim.ConfigError) as info:
        AlgorithmSpec(name="Bad Name", summary="", program=spec.program,
                      make_input=spec.make_input, reference=spec.reference,
                      verify=None,  # type: ignore[arg-type]
                      round_bound=spec.round_bound, sizing=spec.sizing)
    assert [p[0] for p in info.value.problems] == ["name", "summary", "verify"]
