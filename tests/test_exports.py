"""The public API (trio style): mpcsim.__all__ is exactly what we promise, every name in it
imports, and `import mpcsim` stays light (no Ray until backend="ray" is used)."""

from __future__ import annotations

import subprocess
import sys

import mpcsim

PUBLIC_API = {
    # running
    "run", "Program", "FunctionProgram", "Machine", "Messages", "Fleet", "FleetMessages",
    "Partition", "partition_inputs", "words",
    # results and configuration
    "Result", "Trace", "RoundRecord", "Violation", "RunConfig", "BACKENDS", "__version__",
    # recovery
    "Fault", "RecoveryRecord", "HostLost",
    # errors
    "MPCError", "ConfigError", "MemoryLimitExceeded", "UnknownDestination", "UnsupportedValue",
    "ProgramError", "ProgramStateError", "MaxRoundsExceeded", "BackendUnavailable",
}


def test_all_is_exactly_the_public_api() -> None:
    assert len(mpcsim.__all__) == len(set(mpcsim.__all__)), "duplicates in __all__"
    assert set(mpcsim.__all__) == PUBLIC_API


def test_every_public_name_is_importable() -> None:
    namespace: dict[str, object] = {}
    exec("from mpcsim import *", namespace)
    for name in mpcsim.__all__:
        assert getattr(mpcsim, name) is not None
        if not name.startswith("_"):
            assert namespace[name] is getattr(mpcsim, name)


def test_the_contract_names_exist_with_their_kinds() -> None:
    assert callable(mpcsim.run)
    assert isinstance(mpcsim.Program, type) and isinstance(mpcsim.Machine, type)
    assert issubclass(mpcsim.MPCError, Exception)
    assert issubclass(mpcsim.MemoryLimitExceeded, mpcsim.MPCError)
    assert mpcsim.BACKENDS == ("local", "ray")


def test_every_public_error_derives_from_mpc_error() -> None:
    public = [getattr(mpcsim, name) for name in mpcsim.__all__]
    errors = {c.__name__ for c in public if isinstance(c, type) and issubclass(c, BaseException)}
    assert errors == {"MPCError", "ConfigError", "MemoryLimitExceeded", "UnknownDestination",
                      "UnsupportedValue", "ProgramError", "ProgramStateError",
                      "MaxRoundsExceeded", "BackendUnavailable", "HostLost"}
    assert all(issubclass(getattr(mpcsim, name), mpcsim.MPCError) for name in errors)


def test_public_types_are_re_exported_from_private_modules() -> None:
    for name in ("Program", "Machine", "Result", "Trace", "RunConfig", "MPCError"):
        module = getattr(mpcsim, name).__module__
        assert module.startswith("mpcsim.") and module != "mpcsim", (name, module)


def test_importing_mpcsim_does_not_import_ray() -> None:
    code = ("import sys, mpcsim; "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_running_locally_does_not_import_ray() -> None:
    code = ("import sys, mpcsim; mpcsim.run(lambda m: m.halt(), num_machines=2, "
            "memory_words=1); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_the_package_ships_py_typed() -> None:
    from importlib.resources import files

    assert files("mpcsim").joinpath("py.typed").is_file()
