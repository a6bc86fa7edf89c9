"""Clean layers: mpcsim names no other package. transformer_bridge's CLI commands and bench steps
come through mpcsim.extensions (an entry point); backends through mpcsim.backends' registry;
with transformer_bridge blocked, mpcsim imports and its own commands run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mpcsim
from mpcsim import cli, extensions
from mpcsim.backends import backend_names, make_backend, register_backend
from mpcsim.bench.suite import SUITES

ROOT = Path(__file__).resolve().parent.parent
BRIDGE_COMMANDS = ("transformer", "hopk", "demo", "compile", "checkpoint")

# A child Python in which `import transformer_bridge` fails, as if it were not installed.
BLOCKED = '''
import sys
from importlib.abc import MetaPathFinder

class RefuseBridge(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "transformer_bridge" or name.startswith("transformer_bridge."):
            raise ModuleNotFoundError(f"blocked: {name}", name=name)
        return None

sys.meta_path.insert(0, RefuseBridge())
'''


def _blocked(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCKED + code], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_mpcsim_imports_and_runs_broadcast_with_transformer_bridge_blocked() -> None:
    done = _blocked('''
import mpcsim
from mpcsim import cli
code = cli.main(["run", "broadcast", "--n", "64"])
assert code == 0, code
assert not [m for m in sys.modules if m.startswith("transformer_bridge")]
from mpcsim import extensions
print("FAILURES", extensions.failures())
''')
    assert done.returncode == 0, done.stderr
    assert "broadcast" in done.stdout
    assert "FAILURES ('transformer_bridge: ModuleNotFoundError" in done.stdout


def test_mpcsim_help_lists_only_its_own_commands_with_transformer_bridge_blocked() -> None:
    done = _blocked('''
from mpcsim import cli
cli.main(["--help"])
''')
    assert done.returncode == 0, done.stderr
    for name in ("run", "info", "cluster", "bench"):
        assert f"    {name}" in done.stdout
    for name in BRIDGE_COMMANDS:
        assert f"    {name} " not in done.stdout and f"    {name}\n" not in done.stdout


def test_bridge_commands_appear_when_transformer_bridge_is_installed(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert [c.name for c in extensions.commands()] == list(BRIDGE_COMMANDS)
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(f"    {name}" in out for name in BRIDGE_COMMANDS)
    assert extensions.failures() == ()


def test_bridge_bench_rows_and_sweeps_appear_when_transformer_bridge_is_installed() -> None:
    results: dict[str, Any] = {"ratios": []}
    labels = {phase: [label for make in extensions.bench_steps(phase)
                      for label, _ in make(SUITES["smoke"], ("local",), results)]
              for phase in extensions.PHASES}
    assert labels == {
        "ratios": ["local+ray: bridge, random GPT-2 vs dense", "local: bridge checkpoint vs dense"],
        "sweeps": ["local: wall vs rounds, transformer depths", "local: tree vs ring"]}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import in a file; names [] for `import x`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_no_mpcsim_module_imports_transformer_bridge() -> None:
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "mpcsim").rglob("*.py")
                 if any(module.split(".")[0] == "transformer_bridge"
                        for module, _ in _imports(path))]
    assert offenders == []


def test_transformer_bridge_imports_no_private_name_of_mpcsim() -> None:
    offenders = [(str(path.relative_to(ROOT)), module, name)
                 for path in (ROOT / "transformer_bridge").rglob("*.py")
                 for module, names in _imports(path) if module.split(".")[0] == "mpcsim"
                 for name in names if name.startswith("_")]
    assert offenders == []


def test_an_unknown_backend_is_refused_listing_the_registered_names() -> None:
    with pytest.raises(mpcsim.ConfigError) as info:
        mpcsim.run(lambda m: m.halt(), num_machines=1, memory_words=1, backend="spark")
    assert "backend='spark': must be one of local, ray" in str(info.value)


def test_a_registered_backend_is_valid_and_built_by_its_factory() -> None:
    built = []

    def local_again(config: mpcsim.RunConfig) -> Any:
        built.append(config.backend)
        return make_backend(mpcsim.RunConfig(num_machines=1, memory_words=1))

    register_backend("local-again", local_again)
    try:
        result = mpcsim.run(lambda m: m.halt(), num_machines=2, memory_words=1,
                            backend="local-again")
        assert (result.rounds, built) == (1, ["local-again"])
        assert backend_names() == ("local", "ray", "local-again")
    finally:
        from mpcsim import backends

        del backends._FACTORIES["local-again"]  # noqa: SLF001 (test cleanup)
