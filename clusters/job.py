"""An mpcsim job for `ray submit`: prefix sums of N random numbers on the cluster it runs on,
checked against the sequential reference, with where the machines ran.

    ray submit clusters/aws.yaml clusters/job.py 100000000      # N = 10^8 words

`ray submit` copies this file to the head and runs it there, where address="auto" finds the
cluster (and RAY_AUTH_MODE=token, set by the cluster's setup commands, its token).
"""

from __future__ import annotations

import sys

import numpy as np

import mpcsim
from mpcsim.algorithms import ALGORITHMS


def main(n: int) -> int:
    spec = ALGORITHMS["prefix-sum"]
    q, s = spec.sizing(n, None, None)  # machines and words per machine for n
    inputs = spec.make_input(n, np.random.default_rng(0))
    result = mpcsim.run(spec.program(), inputs, num_machines=q, memory_words=s,
                        backend="ray", address="auto")
    verified = spec.verify(result.output, inputs)
    trace = result.trace
    print(f"prefix-sum of {n} words: q={q} machines of s={s} words, {result.rounds} rounds, "
          f"{result.wall_s:.2f} s, {len(trace.hosts)} hosts on {len(trace.nodes)} node(s), "
          f"verified={verified}")
    trace.summary()
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000))
