"""compose.yaml, the Dockerfile and .dockerignore, checked without a Docker engine.

The file is parsed with PyYAML (anchors and merge keys resolved) and ``${VAR:-default}``
interpolated with its defaults, as Compose does when the variables are unset. Where the docker
CLI has its compose plugin, ``docker compose config`` validates the file against the Compose
specification as well.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "compose.yaml"
LOOPBACK = "127.0.0.1"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
DEFAULT_CHAIN = ("localstack", "deployer", "locust-master", "locust-worker")
MINISTACK_CHAIN = ("ministack", "deployer-ministack", "locust-master-ministack", "locust-worker-ministack")
CHAINS = [DEFAULT_CHAIN, MINISTACK_CHAIN]


def interpolate(value: Any) -> Any:
    """Compose interpolation with every variable unset: defaults apply, ``$$`` is a ``$``."""
    if isinstance(value, str):
        protected = value.replace("$$", "\0")
        return VARIABLE.sub(lambda m: m.group(2) or "", protected).replace("\0", "$")
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()))


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_services_and_profiles(services):
    assert set(DEFAULT_CHAIN) | set(MINISTACK_CHAIN) <= set(services)
    for name in DEFAULT_CHAIN:
        assert "profiles" not in services[name], f"{name} must start with a plain `docker compose up`"
    for name in MINISTACK_CHAIN:
        assert services[name].get("profiles") == ["ministack"], name


def test_images_are_pinned(services):
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name}: no image"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag and tag != "latest", f"{name}: {image} is not pinned"
        if "build" in service:
            # Our own image: built from the Dockerfile and tagged with the project version.
            assert image == f"hookstack:{project_version()}", name
            assert service["build"]["dockerfile"] == "Dockerfile"


def test_localstack_is_the_token_free_tag_with_docker_for_lambdas(compose, services):
    localstack = services["localstack"]
    assert localstack["image"] == "localstack/localstack:4.14.0"
    raw = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["localstack"]
    assert raw["environment"]["LOCALSTACK_AUTH_TOKEN"] == "${LOCALSTACK_AUTH_TOKEN:-}"  # passed through
    assert any(v.endswith(":/var/run/docker.sock") for v in localstack["volumes"])
    # Lambda containers join a network LocalStack is on, by its fixed name.
    network = localstack["environment"]["LAMBDA_DOCKER_NETWORK"]
    attached = {compose["networks"][n]["name"] for n in localstack["networks"]}
    assert network in attached


def test_ministack_runs_the_pinned_release_with_hookstack_patches(services):
    ministack = services["ministack"]
    assert ministack["command"] == ["python", "-m", "stack.embedded.ministack.server"]
    assert ministack["environment"]["HOOKSTACK_REQUIRE_MINISTACK_PATCHES"] == "1"
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "ministack==1.5.33" in dependencies


def _published(port: Any) -> tuple[str, str]:
    """(host ip, host port) of a published port in short or long syntax."""
    if isinstance(port, dict):
        return str(port.get("host_ip", "")), str(port.get("published", ""))
    parts = str(port).split(":")
    if len(parts) == 3:
        return parts[0], parts[1]
    return "", parts[0] if len(parts) == 2 else ""


def test_published_ports_bind_loopback_only(services):
    seen: dict[str, str] = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            host_ip, host_port = _published(port)
            assert host_ip == LOOPBACK, f"{name}: {port} is not bound to {LOOPBACK}"
            assert host_port not in seen, f"{name} and {seen.get(host_port)} both publish {host_port}"
            seen[host_port] = name
    assert {"4566", "8089"} <= set(seen)


def test_startup_order(services):
    for emulator, deployer, master, worker in CHAINS:
        assert services[deployer]["depends_on"] == {emulator: {"condition": "service_healthy"}}
        assert services[master]["depends_on"] == {deployer: {"condition": "service_completed_successfully"}}
        assert services[worker]["depends_on"] == {master: {"condition": "service_healthy"}}


def test_every_awaited_service_has_a_healthcheck(services):
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert isinstance(spec, dict) and "condition" in spec, f"{name}: depends_on without condition"
            if spec["condition"] == "service_healthy":
                check = services[dependency].get("healthcheck", {})
                assert check.get("test"), f"{dependency} is awaited healthy but has no healthcheck"
                assert check["test"][0] in ("CMD", "CMD-SHELL")


def test_deployer_commands(services):
    assert services["deployer"]["command"] == [
        "hookstack",
        "deploy",
        "--target",
        "localstack",
        "--endpoint-url",
        "http://localstack:4566",
    ]
    assert services["deployer-ministack"]["command"] == [
        "hookstack",
        "deploy",
        "--target",
        "localstack",
        "--endpoint-url",
        "http://ministack:4566",
    ]
    for _, deployer, _, _ in CHAINS:
        assert services[deployer]["restart"] == "no"  # one-shot


def test_locust_master_and_scalable_workers(compose, services):
    for _, _, master, worker in CHAINS:
        assert services[master]["command"][-1].endswith("exec locust -f loadtests/locust/locustfile.py --master")
        assert services[worker]["command"] == [
            "locust",
            "-f",
            "loadtests/locust/locustfile.py",
            "--worker",
            "--master-host",
            master,
        ]
        # Scalable: no fixed name, no published port. Isolated: only on the internal network.
        assert "container_name" not in services[worker] and "ports" not in services[worker]
        for network in services[worker]["networks"]:
            assert compose["networks"][network].get("internal") is True, f"{worker} on {network}"
        # Bounded: the run stops on its own.
        env = services[master]["environment"]
        assert re.fullmatch(r"\d+[smh]", env["LOCUST_RUN_TIME"])
        assert env["LOCUST_AUTOSTART"] == "true" and int(env["LOCUST_AUTOQUIT"]) > 0


def test_master_reads_the_deployed_stack_with_existing_functions(services):
    script = services["locust-master"]["command"][2]
    code = re.search(r"python -c '(.*?)'\)\"", script, re.S)
    assert code, script
    compile(code.group(1), "locust-master", "exec")
    import stack.deploy.outputs

    for name in ("load_outputs", "tenant_token", "provider_secret"):
        assert callable(getattr(stack.deploy.outputs, name)), name


def test_state_volume_is_where_hookstack_looks(services):
    for _, deployer, master, worker in CHAINS:
        for name in (deployer, master, worker):
            home = services[name]["environment"]["HOOKSTACK_HOME"]
            mounts = [v.split(":")[1] for v in services[name]["volumes"]]
            assert home in mounts, name
        # The three share one volume per chain.
        volumes = {services[n]["volumes"][0].split(":")[0] for n in (deployer, master, worker)}
        assert len(volumes) == 1


def test_files_compose_needs_exist(services):
    assert (ROOT / "Dockerfile").is_file()
    assert (ROOT / "loadtests" / "locust" / "locustfile.py").is_file(), "compose runs loadtests/locust/locustfile.py"


def test_dockerfile_base_is_pinned_python_312():
    text = (ROOT / "Dockerfile").read_text()
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert default and re.search(r"^FROM \$\{PYTHON_IMAGE\}$", text, re.M)
    assert re.fullmatch(r"python:3\.12\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", default.group(1))
    assert re.search(r"^RUN pip install .*\.(\s|$)", text, re.M)
    assert re.search(r"^USER (?!root)\w+", text, re.M), "the image must not run as root"


def test_dockerignore_keeps_local_state_out():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".hookstack"} <= ignored
    for needed in ("pyproject.toml", "README.md", "stack", "handlers", "loadtests"):
        assert needed not in ignored


def _compose_plugin() -> str | None:
    """Why `docker compose` cannot be used here, or None when it can."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker compose version` timed out"
    if probe.returncode != 0:
        detail = ((probe.stderr or probe.stdout).strip().splitlines() or ["failed"])[0]
        return f"the docker CLI has no compose plugin (`docker compose version`: {detail})"
    return None


@pytest.mark.parametrize("profile", [None, "ministack"])
def test_docker_compose_config_accepts_the_file(profile):
    reason = _compose_plugin()
    if reason:
        pytest.skip(reason)
    cmd = ["docker", "compose", "-f", str(COMPOSE_FILE)]
    if profile:
        cmd += ["--profile", profile]
    result = subprocess.run([*cmd, "config", "--quiet"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
