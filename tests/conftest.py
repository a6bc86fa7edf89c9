"""Shared fixtures: one Ray instance per session, and `backend`, which runs a test on every
executor ("local" and "ray").

Ray parametrizations carry the `ray` mark: deselect them with `-m "not ray"`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from threadpoolctl import threadpool_limits

TESTS_DIR = Path(__file__).resolve().parent

# One BLAS thread in the test process: the suite shares 2 cores with Ray workers, and
# multithreaded BLAS on busy cores is many times slower, not faster.
_BLAS_LIMITS = threadpool_limits(limits=1, user_api="blas")


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """A local Ray with 2 CPUs for the whole session, shut down (actors first) at the end.

    Test programs are module-level code in tests/; Ray's workers cannot import test modules,
    so they are pickled by value.
    """
    import ray
    from ray import cloudpickle

    from mpcsim.backends import ray_actors

    for module in list(sys.modules.values()):
        if str(getattr(module, "__file__", "")).startswith(str(TESTS_DIR)):
            cloudpickle.register_pickle_by_value(module)
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray_actors.shutdown()
    ray.shutdown()


@pytest.fixture(params=[
    "local",
    pytest.param("ray", marks=pytest.mark.ray),
])
def backend(request: pytest.FixtureRequest) -> str:
    """The name of an executor to pass as mpcsim.run(backend=...)."""
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return request.param
