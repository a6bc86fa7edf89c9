"""Backends carry host steps and frames; the semantics live in mpcsim.host and mpcsim.driver.

- "local" (mpcsim.backends.local): hosts in this process, the reference and embedded default.
- "ray" (mpcsim.backends.ray_actors): one Host per Ray actor; frames move actor to actor
  through Ray's object store. Imported only when used, so mpcsim imports without Ray.
"""

from __future__ import annotations

from ..config import RunConfig
from ..driver import Backend

__all__ = ["make_backend"]


def make_backend(config: RunConfig) -> Backend:
    if config.backend == "ray":
        from .ray_actors import RayBackend

        return RayBackend(address=config.address)
    from .local import LocalBackend

    return LocalBackend()
