"""`mediasync serve` and `mediasync server`: run mediasync as a service."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from mediasync.errors import ConfigError
from mediasync.settings import CONFIG_ENV, load_settings

app = typer.Typer(help="Run mediasync as a service: a Prefect server, served deployments.",
                  no_args_is_help=True)
console = Console()
errors = Console(stderr=True)

# Telemetry off: with these the Prefect server and clients talk to the local API only.
QUIET_PREFECT = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def server_environment(base: Mapping[str, str], host: str, port: int,
                       home: Path | None) -> dict[str, str]:
    # As settings rather than flags: the UI reads them to find its API.
    env = {**base, **QUIET_PREFECT, "PREFECT_SERVER_API_HOST": host,
           "PREFECT_SERVER_API_PORT": str(port)}
    if home is not None:
        env["PREFECT_HOME"] = str(home.resolve())
    return env


@app.command()
def server(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port of the API and UI")] = 4200,
    home: Annotated[Path | None, typer.Option(
        help="PREFECT_HOME: where the server keeps its database (default ~/.prefect)")] = None,
    scheduler: Annotated[bool, typer.Option(
        help="create the scheduled runs of deployments")] = True,
) -> None:
    """Start a local Prefect server (API and UI) with telemetry off, in the foreground.

    Example: mediasync server --port 4200, then in the shell that runs mediasync:
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    """
    command = [sys.executable, "-m", "prefect", "server", "start", "--analytics-off"]
    if not scheduler:
        command.append("--no-scheduler")
    console.print(f"Prefect UI: http://{host}:{port}   API: http://{host}:{port}/api",
                  highlight=False)
    sys.stdout.flush()
    os.execve(sys.executable, command, server_environment(os.environ, host, port, home))


@app.command()
def serve(
    file: Annotated[Path | None, typer.Option(
        "--file", help="deployments to serve (default: deployments/prefect.yaml)")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="mediasync.toml for runs that do not pass `config`",
        envvar=CONFIG_ENV)] = None,
    limit: Annotated[int | None, typer.Option(
        min=1, help="at most this many runs at once in this process")] = None,
) -> None:
    """Serve every deployment of prefect.yaml from this process, no work pool needed: their
    schedules run, and `prefect deployment run` or the UI's Run button start them.
    Stop with Ctrl-C (the deployments pause until served again).

    Example: mediasync serve --config /etc/mediasync/mediasync.toml
    """
    from flows.serving import DEFAULT_FILE, read_specs, runner_deployments
    from flows.serving import serve as serve_deployments

    if config is not None:
        _check_config(config)
        os.environ[CONFIG_ENV] = str(config.resolve())  # inherited by every run
    deployments = runner_deployments(read_specs(file or DEFAULT_FILE), skipped=lambda spec, why:
                                     errors.print(f"skipped {spec.name}: {escape(why)}"))
    if not deployments:
        errors.print("[red]error:[/red] nothing to serve")
        raise typer.Exit(1)
    serve_deployments(deployments, limit=limit)


def _check_config(config: Path) -> None:
    try:
        load_settings(config)
    except ConfigError as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
