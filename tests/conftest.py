"""Shared fixtures: one Ray instance per session, and `backend`, which runs a test on every
executor ("local" always; "ray" when Ray and mpcsim.backends.ray_actors are both present).

Ray parametrizations carry the `ray` mark: deselect them with `-m "not ray"`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

TESTS_DIR = Path(__file__).resolve().parent
RAY_BACKEND_WRITTEN = importlib.util.find_spec("mpcsim.backends.ray_actors") is not None


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """A local Ray with 2 CPUs for the whole session, shut down (actors first) at the end.

    Test programs are module-level code in tests/ (cases.py, test_*.py); Ray pickles them by
    reference, so its workers get tests/ on their PYTHONPATH to import them.
    """
    ray = pytest.importorskip("ray")
    saved_path = os.environ.get("PYTHONPATH")
    if not ray.is_initialized():
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), saved_path) if p)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    try:
        from mpcsim.backends import ray_actors
    except ImportError:
        pass
    else:
        shutdown = getattr(ray_actors, "shutdown", None)
        if shutdown is not None:
            shutdown()
    ray.shutdown()
    if saved_path is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = saved_path


@pytest.fixture(params=[
    "local",
    pytest.param("ray", marks=[
        pytest.mark.ray,
        pytest.mark.skipif(not RAY_BACKEND_WRITTEN,
                           reason="mpcsim.backends.ray_actors does not exist yet"),
    ]),
])
def backend(request: pytest.FixtureRequest) -> str:
    """The name of an executor to pass as mpcsim.run(backend=...)."""
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return request.param
