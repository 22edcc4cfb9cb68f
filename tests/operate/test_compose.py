"""docker-compose.yml, the Dockerfile and the env template agree with the repository.
No Docker engine runs here: these read the files and check what they point at."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from mediasync.cli.main import app
from mediasync.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_FILE = "config/mediasync.env"
VARIABLE = re.compile(r"\$\{(\w+)[^}]*\}")
MOUNT = re.compile(r"(\$\{[^}]*\}|[^:]+):([^:]+)(?::(?:ro|rw))?")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY|WEBHOOK")


def env_example() -> dict[str, str]:
    """Every variable the template sets or shows (commented out: optional)."""
    found = {}
    for line in (ROOT / f"{ENV_FILE}.example").read_text().splitlines():
        if match := re.match(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line):
            found[match.group(1)] = match.group(2)
    return found


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each short-syntax volume; a source may be ${VAR:?message}."""
    found = []
    for volume in service.get("volumes", []):
        match = MOUNT.fullmatch(volume)
        assert match, f"unreadable volume {volume}"
        found.append((match.group(1), match.group(2)))
    return found


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_health_check_and_restarts(name: str):
    service = SERVICES[name]
    assert service["healthcheck"]["test"], name
    assert service["restart"] == "unless-stopped"


@pytest.mark.parametrize("name", SERVICES)
def test_every_mount_refers_to_something_that_exists(name: str):
    declared = set(COMPOSE["volumes"])
    variables = env_example()
    for source, target in mounts(SERVICES[name]):
        assert PurePosixPath(target).is_absolute(), target
        if source.startswith("./"):
            assert (ROOT / source).exists(), f"{name}: {source} is not in the repository"
        elif variable := VARIABLE.fullmatch(source):
            assert variable.group(1) in variables, f"{name}: {source} not in the env template"
        else:
            assert source in declared, f"{name}: volume {source} is not declared"


def test_the_worker_image_builds_from_the_repository():
    build = SERVICES["worker"]["build"]
    context = ROOT / build["context"]
    dockerfile = (context / build["dockerfile"]).read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (context / source).exists(), f"Dockerfile copies missing {source}"
    assert "uv sync --frozen --no-dev" in dockerfile
    assert "uv.lock" in dockerfile and "ffmpeg" in dockerfile


def test_the_worker_command_is_a_real_mediasync_command_on_a_mounted_config():
    command = SERVICES["worker"]["command"]
    assert command[0] == "mediasync"
    help_text = CliRunner().invoke(app, [*command[1:2], "--help"], terminal_width=200)
    assert help_text.exit_code == 0, help_text.output
    for option in (word for word in command[2:] if word.startswith("--")):
        assert option in help_text.output, f"mediasync {command[1]} has no {option}"
    config = SERVICES["worker"]["environment"]["MEDIASYNC_CONFIG"]
    assert config in {target for _, target in mounts(SERVICES["worker"])}


def test_the_worker_config_keeps_every_folder_on_a_mount():
    sources = dict((target, source) for source, target in mounts(SERVICES["worker"]))
    settings = load_settings(ROOT / sources["/config/mediasync.toml"].removeprefix("./"))
    paths = [getattr(settings.workflow, name) for name in
             ("incoming", "pixel_sync", "processing", "icloud_delete", "nas_archive",
              "compressed")]
    paths += [settings.source.path, settings.icloud.cookie_directory,
              Path(settings.ledger.url.removeprefix("sqlite:///"))]
    targets = [PurePosixPath(t) for t in sources if t != "/config/mediasync.toml"]
    for path in paths:
        assert any(PurePosixPath(path).is_relative_to(t) for t in targets), path
    pixel = [t for t, s in sources.items() if s == "pixel-sync"]
    assert pixel == [str(settings.workflow.pixel_sync)], "Syncthing must see the Pixel folder"


def test_the_prefect_server_command_takes_these_options():
    command = SERVICES["prefect-server"]["command"]
    assert command[:3] == ["prefect", "server", "start"]
    shown = subprocess.run([sys.executable, "-m", "prefect", *command[1:3], "--help"],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    for option in (word for word in command[3:] if word.startswith("--")):
        assert option in shown.stdout, f"prefect server start has no {option}"


def test_no_secret_is_written_in_the_compose_file():
    for name, service in SERVICES.items():
        for key, value in service.get("environment", {}).items():
            if SECRET_NAME.search(key):
                assert VARIABLE.fullmatch(str(value)), f"{name}: {key} is written in the file"
        if "env_file" in service:
            assert service["env_file"] == ENV_FILE


def test_the_env_template_has_every_variable_and_the_env_file_stays_out_of_git():
    variables = env_example()
    for name in VARIABLE.findall((ROOT / "docker-compose.yml").read_text()):
        assert name in variables, f"{name} is missing from {ENV_FILE}.example"
    assert f"/{ENV_FILE}" in (ROOT / ".gitignore").read_text().splitlines()
