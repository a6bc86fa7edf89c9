"""The suites `mpcsim bench --suite` runs: how many repeats and which sizes, per kind of result.

Ratio rows are always measured at the sizes their targets name (a suite may only lower the
repeats); the library's rows (hop-k, sort) on machines of `library_words` = 2^18 words (2 MiB
of float64: a few large machines, the local backend's natural regime; the targets name no s);
connectivity's rows at the sizes issue 12 names (its cycles sweep to n = 2^14 in quick, 2^20
in full); the sweeps (scaling, depths, strategies) are where quick and full differ. "smoke" is
a hidden suite for the tests: one small row of each kind, in seconds, named by its own sizes
so it is never mistaken for a target's row. The orchestration is mpcsim.bench.runner.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["Suite", "SUITES", "PUBLIC_SUITES"]


@dataclass(frozen=True)
class Suite:
    name: str  # "quick", "full" or "smoke"
    repeats: int  # ratio rows: pairs (ours, baseline) measured alternately
    sweep_repeats: int  # scaling / depth / strategy points: runs per point (median)
    overhead_machines: int  # the local overhead row's machines (target named at 100,000)
    sort_n: int  # sort ratio rows' keys (target named at 10^6)
    hopk_n: int  # hop-k ratio row's positions (target named at 10^6)
    hopk_k: int  # hop-k ratio row's hops (target named at 64)
    library_words: int  # s of the library's local ratio rows (Ray sort: 2x as many words)
    sublinear_n: int  # list ranking and hop-k at s = ceil(n^(1/2)) (targets named at 10^5)
    sublinear_sort_n: int  # the sort at s = sublinear_sort_words (target named at 10^6)
    sublinear_sort_words: int  # (target named at 1,000)
    ranking_big_n: int  # list ranking's seconds row at s = sublinear_sort_words (10^6); 0: off
    bridge_n: int  # bridge ratio rows' tokens (target named at 1024)
    checkpoint: bool  # measure the depth-3 checkpoint row (if the folder exists)
    scaling_sizes: tuple[int, ...]  # n for rounds / wall vs n
    scaling_algorithms: tuple[str, ...] | None  # None: every registered algorithm
    depth_n: int  # tokens for the transformer-depth points
    depths: tuple[int, ...]  # random GPT-2 depths for wall vs rounds
    hopk_ks: tuple[int, ...]  # constructed hop_k transformers for wall vs rounds
    strategy_ns: tuple[int, ...]  # N for tree vs ring
    strategy_tile: int  # the tree tile fixing the cap of the strategy table
    # connectivity (issue 12): cycles of n = 2^k words for these k, at s = n^(1/2) and n^(2/3)
    connectivity_log_ns: tuple[int, ...] = (10, 12, 14)
    connectivity_random_n: int = 100_000  # the random graph's words (target named at 10^5)

    def __post_init__(self) -> None:
        problems = [(field, getattr(self, field), "must be >= 1")
                    for field in ("repeats", "sweep_repeats", "overhead_machines", "sort_n",
                                  "hopk_n", "library_words", "sublinear_n",
                                  "sublinear_sort_n", "sublinear_sort_words", "bridge_n",
                                  "depth_n", "strategy_tile", "connectivity_random_n")
                    if getattr(self, field) < 1]
        if problems:
            raise ConfigError(problems=problems)


SUITES: dict[str, Suite] = {
    "quick": Suite("quick", repeats=3, sweep_repeats=1, overhead_machines=100_000,
                   sort_n=1_000_000, hopk_n=1_000_000, hopk_k=64, library_words=2**18,
                   sublinear_n=100_000, sublinear_sort_n=1_000_000, sublinear_sort_words=1_000,
                   ranking_big_n=1_000_000,
                   bridge_n=1024, checkpoint=True, scaling_sizes=(1_000, 4_000, 16_000),
                   scaling_algorithms=None, depth_n=512, depths=(1, 2, 3, 4),
                   hopk_ks=(1, 4, 16, 64), strategy_ns=(128, 512, 2048), strategy_tile=64),
    "full": Suite("full", repeats=7, sweep_repeats=3, overhead_machines=100_000,
                  sort_n=1_000_000, hopk_n=1_000_000, hopk_k=64, library_words=2**18,
                  sublinear_n=100_000, sublinear_sort_n=1_000_000, sublinear_sort_words=1_000,
                  ranking_big_n=1_000_000,
                  bridge_n=1024, checkpoint=True, scaling_sizes=(1_000, 10_000, 100_000),
                  scaling_algorithms=None, depth_n=1024, depths=(1, 2, 3, 4, 6, 8),
                  hopk_ks=(1, 2, 4, 8, 16, 32, 64), strategy_ns=(128, 512, 2048),
                  strategy_tile=64, connectivity_log_ns=(10, 12, 14, 16, 18, 20)),
    "smoke": Suite("smoke", repeats=1, sweep_repeats=1, overhead_machines=1_000,
                   sort_n=10_000, hopk_n=10_000, hopk_k=4, library_words=2**12, sublinear_n=1_000,
                   sublinear_sort_n=10_000, sublinear_sort_words=100, ranking_big_n=0, bridge_n=64,
                   checkpoint=False,
                   scaling_sizes=(1_000,), scaling_algorithms=("prefix-sum",), depth_n=32,
                   depths=(1, 2), hopk_ks=(1,), strategy_ns=(32,), strategy_tile=16,
                   connectivity_log_ns=(10,), connectivity_random_n=2_000),
}
PUBLIC_SUITES = ("quick", "full")  # smoke is for the tests, hidden from --help
