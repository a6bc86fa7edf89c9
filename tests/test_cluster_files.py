"""The cluster files, checked without running them (no Docker engine, no cloud here):
docker-compose.yml and the Dockerfile parsed and held to their security and sizing rules, the
cluster-launcher configs validated by Ray's own schema, and the README's "Run on a cluster"
commands checked against the files and the CLI they name."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from mpcsim.cli import build_parser

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
GCS = "head:6379"


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # resolves <<: merges


def command(service: dict[str, Any]) -> list[str]:
    value = service["command"]
    return shlex.split(value) if isinstance(value, str) else list(value)


def gigabytes(size: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmg]?)b?", str(size).lower())
    assert match, f"not a Docker size: {size!r}"
    return float(match[1]) * {"": 1e-9, "k": 1e-6, "m": 1e-3, "g": 1.0}[match[2]]


# -- docker-compose.yml -------------------------------------------------------------------------

def test_compose_runs_one_ray_head_and_two_workers_that_join_it_by_address() -> None:
    services = compose()["services"]
    heads = [name for name, s in services.items() if "--head" in command(s)]
    workers = [name for name in services if name not in heads]
    assert heads == ["head"] and len(workers) == 2
    head = command(services["head"])
    assert head[:3] == ["ray", "start", "--head"] and "--port=6379" in head
    assert "--block" in head  # the container lives as long as Ray does
    for name in workers:
        argv = command(services[name])
        assert argv[:2] == ["ray", "start"] and f"--address={GCS}" in argv
        assert "--block" in argv
        assert services[name]["depends_on"]["head"]["condition"] == "service_healthy"


def test_compose_builds_every_node_from_the_repository_with_room_for_the_object_store() -> None:
    for name, service in compose()["services"].items():
        assert service["build"] == ".", name
        assert gigabytes(service["shm_size"]) >= 1.0, name  # Docker's default is 64 MB
        store = [a for a in command(service) if a.startswith("--object-store-memory=")]
        assert store and int(store[0].split("=")[1]) / 1e9 <= gigabytes(service["shm_size"])


def test_compose_publishes_ports_on_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            spec = (port if isinstance(port, str)
                    else f"{port.get('host_ip')}:{port['published']}")  # the long syntax
            assert spec.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"
    head_ports = [p.split(":")[-1] for p in compose()["services"]["head"]["ports"]]
    assert "6379" not in head_ports, "the GCS stays inside the compose network"


def test_compose_turns_token_auth_on_everywhere_with_the_token_from_the_environment() -> None:
    config = compose()
    for name, service in config["services"].items():
        env = service["environment"]
        assert env["RAY_AUTH_MODE"] == "token", name
        assert "RAY_AUTH_TOKEN" not in env, f"{name}: the token must not be a literal"
        assert env["RAY_AUTH_TOKEN_PATH"] == "/run/secrets/ray_auth_token"
        assert service["secrets"] == ["ray_auth_token"]
    assert config["secrets"] == {"ray_auth_token": {"environment": "RAY_AUTH_TOKEN"}}


def test_compose_checks_every_nodes_health() -> None:
    for name, service in compose()["services"].items():
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL" and f"ray health-check --address {GCS}" in test[1], name


# -- Dockerfile and .dockerignore ---------------------------------------------------------------

def dockerfile() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_image_is_python_3_11_slim_with_the_repository_installed() -> None:
    lines = dockerfile()
    assert lines[0] == "FROM python:3.11-slim"
    assert any(line.startswith("COPY . ") for line in lines)
    installs = [line for line in lines if line.startswith("RUN pip install")]
    assert installs and '"ray[default]==${RAY_VERSION}" .' in installs[0]
    assert any(line.startswith("USER ") and "root" not in line for line in lines)


def test_no_token_or_local_state_gets_into_the_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "RAY_AUTH_TOKEN" not in text and "auth_token" not in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", "**/auth_token", ".env"} <= set(ignored)


# -- cluster launcher configs -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["local.yaml", "aws.yaml"])
def test_cluster_launcher_configs_pass_rays_own_validation(name: str) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((ROOT / "clusters" / name).read_text())
    validate_config(prepare_config(config))  # raises on any schema error


@pytest.mark.parametrize("name", ["local.yaml", "aws.yaml"])
def test_cluster_launcher_configs_install_mpcsim_and_start_ray_with_token_auth(
        name: str) -> None:
    config = yaml.safe_load((ROOT / "clusters" / name).read_text())
    assert config["file_mounts"]["~/mpcsim"] == "."
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert any("pip install" in c and "~/mpcsim" in c for c in config["setup_commands"])
    assert any("RAY_AUTH_MODE=token" in c for c in config["setup_commands"])
    head = config["head_start_ray_commands"][-1]
    worker = config["worker_start_ray_commands"][-1]
    assert "RAY_AUTH_MODE=token" in head and "ray start --head" in head
    assert "RAY_AUTH_MODE=token" in worker and "--address=$RAY_HEAD_IP:6379" in worker


# -- the README's "Run on a cluster" ------------------------------------------------------------

def cluster_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Run on a cluster", 1)[1].split("\n## ", 1)[0]


def shell_lines(section: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()
            if line.strip()]


def test_the_readme_shows_the_three_ways_with_commands_that_match_the_files() -> None:
    lines = shell_lines(cluster_section())
    for path in {p for line in lines for p in re.findall(r"clusters/[\w.]+", line)}:
        assert (ROOT / path).exists(), path
    assert any(line.startswith("ray up clusters/") for line in lines)
    services = compose()["services"]
    execs = [line for line in lines if line.startswith("docker compose exec")]
    assert execs and all(shlex.split(line)[3] in services for line in execs)
    assert any(f"--address {GCS}" in line for line in execs)
    mpcsim = [shlex.split(line)[1:] for line in lines if line.startswith("mpcsim ")]
    assert ["cluster", "local"] in [argv[:2] for argv in mpcsim]
    for argv in mpcsim:
        build_parser().parse_args(argv)  # every documented mpcsim command line parses
