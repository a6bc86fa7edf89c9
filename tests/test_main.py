"""`python -m mpcsim` is the CLI, and the packaging offers what the README promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mpcsim

ROOT = Path(__file__).resolve().parents[1]


def test_python_dash_m_mpcsim_runs_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "mpcsim", "--version"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"mpcsim {mpcsim.__version__}"


def test_python_dash_m_mpcsim_passes_on_the_exit_code() -> None:
    done = subprocess.run([sys.executable, "-m", "mpcsim", "run", "sort", "--n", "-1"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "must be >= 0" in done.stderr


def test_client_extra_brings_grpcio_for_ray_client() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    client = project["optional-dependencies"]["client"]
    assert any(r.startswith("ray[client]") for r in client)
    assert any(r.split(">")[0].split("=")[0].strip() == "grpcio" for r in client)
