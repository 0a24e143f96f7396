"""The pipeline image and the cluster recipes, checked by parsing: no container engine exists on the
development machines, so docker/Dockerfile is read with dockerfile-parse and the two cluster files with
PyYAML, and each assertion names the piece a Ray node or the pipeline needs (docker/README.md)."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
LAUNCHER = DOCKER / "ray-cluster.yaml"
KUBERAY = DOCKER / "kuberay-raycluster.yaml"


def _instructions(name: str) -> list[str]:
    parser = DockerfileParser(path=str(DOCKER / "Dockerfile"))
    return [item["value"] for item in parser.structure if item["instruction"] == name]


def _copies() -> list[tuple[list[str], str]]:
    """(sources, absolute destination) of every COPY/ADD from the build context, in order."""
    parser = DockerfileParser(path=str(DOCKER / "Dockerfile"))
    workdir = "/"
    copies: list[tuple[list[str], str]] = []
    for item in parser.structure:
        if item["instruction"] == "WORKDIR":
            workdir = posixpath.join(workdir, item["value"])
        elif item["instruction"] in ("COPY", "ADD"):
            words = shlex.split(item["value"])
            assert not any(word.startswith("--from") for word in words), "the image is a single stage"
            words = [word for word in words if not word.startswith("--")]
            copies.append((words[:-1], posixpath.normpath(posixpath.join(workdir, words[-1]))))
    return copies


def _copied_paths() -> dict[str, str]:
    """Build-context path -> where it lands in the image."""
    landed: dict[str, str] = {}
    for sources, dest in _copies():
        for source in sources:
            inside = posixpath.join(dest, posixpath.basename(source)) if len(sources) > 1 else dest
            landed[posixpath.normpath(source)] = inside
    return landed


def _pip_install_extras() -> set[str]:
    for command in _instructions("RUN"):
        if "pip install" in command:
            for word in shlex.split(command):
                match = re.fullmatch(r"\.\[([\w,\-]+)\]", word)
                if match:
                    return set(match.group(1).split(","))
    raise AssertionError("no RUN installs the project itself (pip install '.[extras]')")


def _apt_packages() -> set[str]:
    packages: set[str] = set()
    for command in _instructions("RUN"):
        for part in command.split("&&"):
            words = shlex.split(part)
            if words[:2] == ["apt-get", "install"]:
                packages.update(word for word in words[2:] if not word.startswith("-"))
    return packages


def test_base_image_is_python_311_or_newer() -> None:
    parser = DockerfileParser(path=str(DOCKER / "Dockerfile"))
    match = re.fullmatch(r"python:(\d+)\.(\d+)[\w.\-]*", parser.baseimage or "")
    assert match, parser.baseimage
    assert (int(match.group(1)), int(match.group(2))) >= (3, 11)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"


def test_system_packages_for_the_pipeline_and_for_ray_nodes() -> None:
    # git: clone stage; licensecheck: license engine; the rest: what the Ray launcher and KubeRay run
    assert {"git", "licensecheck", "iproute2", "ca-certificates", "rsync", "openssh-client", "wget"} <= (
        _apt_packages()
    )


def test_the_package_is_installed_with_its_ray_and_s3_extras() -> None:
    assert {"ray", "s3"} <= _pip_install_extras()


def test_ray_version_is_pinned_and_matches_the_kuberay_manifest() -> None:
    parser = DockerfileParser(path=str(DOCKER / "Dockerfile"))
    version = parser.args["RAY_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert any('"ray[default]==${RAY_VERSION}"' in command for command in _instructions("RUN"))
    assert yaml.safe_load(KUBERAY.read_text())["spec"]["rayVersion"] == version


def test_everything_the_install_needs_is_copied() -> None:
    landed = _copied_paths()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for needed in ("pyproject.toml", project["readme"], "stackcurate", "rules", "pipelines", "opt_out"):
        assert needed in landed, f"{needed} is not copied into the image"
    # stackcurate/rules_data is a link to ../rules: it resolves inside the image only if rules/ lands next to
    # the package, and only then does the wheel build package the rules
    link = ROOT / "stackcurate" / "rules_data"
    assert link.is_symlink()
    target = os.readlink(link)
    assert (link.parent / target).resolve() == (ROOT / "rules").resolve()
    # a relative link resolves from the folder that holds it: the package folder
    assert posixpath.normpath(posixpath.join(landed["stackcurate"], target)) == landed["rules"]
    assert list((ROOT / "rules").glob("*.yaml")), "package-data rules_data/*.yaml would be empty"


def test_every_copied_path_exists_and_is_not_dockerignored() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(pattern.startswith("!") for pattern in patterns), "this matcher knows no exceptions"

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for pattern in patterns:
            if pattern.startswith("**/"):  # "**/x": x at any depth
                ends = range(1, len(parts) + 1)
                spans = ("/".join(parts[i:j]) for j in ends for i in range(j))
                if any(fnmatch.fnmatchcase(span, pattern[3:]) for span in spans):
                    return True
            elif any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
                return True
        return False

    assert ignored("runs/x.parquet") and ignored(".git/HEAD") and ignored("stackcurate/__pycache__/x.so")
    assert not ignored("stackcurate/cli.py") and not ignored("README.md")
    for source in _copied_paths():
        path = ROOT / source
        assert path.exists(), f"COPY {source}: no such file in the repository"
        assert not ignored(source), f"COPY {source} is excluded by .dockerignore"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if "__pycache__" not in relative:
                assert not ignored(relative), f"{relative} is excluded by .dockerignore"


def test_no_entrypoint_so_ray_can_start_the_node() -> None:
    # Ray's cluster launcher runs `docker run IMAGE bash`; an ENTRYPOINT would swallow that command
    assert _instructions("ENTRYPOINT") == []
    (cmd,) = _instructions("CMD")
    assert yaml.safe_load(cmd) == ["stackcurate", "--help"]


def test_ray_auth_is_disabled_in_the_image() -> None:
    parser = DockerfileParser(path=str(DOCKER / "Dockerfile"))
    assert parser.envs["RAY_AUTH_MODE"] == "disabled"


def _launcher() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(LAUNCHER.read_text())
    return config


def _kuberay() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(KUBERAY.read_text())
    return manifest


def _kuberay_containers() -> list[dict[str, Any]]:
    spec = _kuberay()["spec"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [container for group in groups for container in group["template"]["spec"]["containers"]]


def test_both_recipes_run_the_same_image() -> None:
    image = _launcher()["docker"]["image"]
    assert image.rsplit("/", 1)[-1].split(":")[0] == "stackcurate"
    assert {container["image"] for container in _kuberay_containers()} == {image}


def test_launcher_head_starts_ray_and_workers_join_it() -> None:
    config = _launcher()
    assert config["provider"]["type"] == "aws"
    head = " ".join(config["head_start_ray_commands"])
    worker = " ".join(config["worker_start_ray_commands"])
    assert "ray start --head" in head and "--autoscaling-config=~/ray_bootstrap_config.yaml" in head
    assert "ray start --address=$RAY_HEAD_IP:6379" in worker
    # everything is in the image: nothing copied or installed at start-up
    assert config["file_mounts"] == {}
    assert not config["setup_commands"]
    types = config["available_node_types"]
    head_type = types[config["head_node_type"]]
    assert head_type["resources"] == {"CPU": 0}
    workers = [spec for name, spec in types.items() if name != config["head_node_type"]]
    assert workers and all(spec["node_config"]["InstanceType"] for spec in workers)
    assert all(0 < spec["min_workers"] <= spec["max_workers"] for spec in workers)


def test_kuberay_cluster_sets_resources_and_takes_credentials_from_a_secret() -> None:
    manifest = _kuberay()
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayCluster"
    spec = manifest["spec"]
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert spec["workerGroupSpecs"] and all(group["replicas"] > 0 for group in spec["workerGroupSpecs"])
    for container in _kuberay_containers():
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[kind]), (container["name"], kind)
        env = {item["name"]: item for item in container["env"]}
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert "value" not in env[name], f"{name} must come from a Secret"
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "stackcurate-s3"


CREDENTIAL_PATTERNS = [
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"(?i)(secret_access_key|session_token)\s*[:=]\s*['\"]?[A-Za-z0-9/+=]{16,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


@pytest.mark.parametrize(
    "path",
    sorted(
        p.relative_to(ROOT).as_posix()
        for p in [*DOCKER.iterdir(), ROOT / ".dockerignore", *(ROOT / "pipelines").glob("*.yaml")]
        if p.is_file()
    ),
)
def test_no_literal_credentials(path: str) -> None:
    text = (ROOT / path).read_text()
    for pattern in CREDENTIAL_PATTERNS:
        assert not pattern.search(text), f"{path}: {pattern.pattern}"
    if path.endswith(".yaml"):
        for document in yaml.safe_load_all(text):
            for name, value in _env_values(document):
                assert not re.search(r"(?i)key|secret|token|password", name) or not value, (path, name)


def _env_values(node: Any) -> list[tuple[str, Any]]:
    """(name, literal value) of every Kubernetes-style env entry anywhere in a YAML document."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        if "name" in node and "value" in node and isinstance(node["name"], str):
            found.append((node["name"], node["value"]))
        for child in node.values():
            found.extend(_env_values(child))
    elif isinstance(node, list):
        for child in node:
            found.extend(_env_values(child))
    return found
