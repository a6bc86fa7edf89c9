"""Backends carry host steps and frames; the semantics live in mpcsim.host and mpcsim.driver.

- "local" (mpcsim.backends.local): hosts in this process, the reference and embedded default.
- "ray" (mpcsim.backends.ray_actors): one Host per Ray actor; frames move actor to actor
  through Ray's object store. Imported only when used, so mpcsim imports without Ray.

Backends are looked up by name in one registry: `register_backend(name, factory)` adds one (the
factory takes the RunConfig and returns a Backend, importing what it needs when called),
`backend_names()` lists them, and `make_backend` (like RunConfig) refuses an unknown name with
a ConfigError that lists the valid ones.
"""

from __future__ import annotations

from typing import Callable

from ..config import RunConfig
from ..driver import Backend
from ..errors import ConfigError

__all__ = ["make_backend", "register_backend", "backend_names"]

BackendFactory = Callable[[RunConfig], Backend]

_FACTORIES: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make `name` a valid RunConfig.backend, built by `factory(config)` for each run."""
    if not name or not isinstance(name, str):
        raise ValueError(f"a backend name must be a non-empty str, got {name!r}")
    _FACTORIES[name] = factory


def backend_names() -> tuple[str, ...]:
    """The registered backend names, in registration order ("local" and "ray" first)."""
    return tuple(_FACTORIES)


def make_backend(config: RunConfig) -> Backend:
    """A new Backend for `config.backend`; ConfigError (listing the valid names) if unknown."""
    factory = _FACTORIES.get(config.backend)
    if factory is None:
        raise ConfigError(problems=[("backend", config.backend,
                                     f"must be one of {', '.join(backend_names())}")])
    return factory(config)


def _local(config: RunConfig) -> Backend:
    from .local import LocalBackend

    return LocalBackend()


def _ray(config: RunConfig) -> Backend:
    from .ray_actors import RayBackend

    return RayBackend(address=config.address)


register_backend("local", _local)
register_backend("ray", _ray)
