"""`mediasync syncthing ...`: Syncthing and the folder it shares with the Pixel."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from mediasync.cli.options import ConfigOption
from mediasync.errors import ConfigError
from mediasync.pixel.setup import Finding, Status, diagnose
from mediasync.settings import load_settings

app = typer.Typer(help="Syncthing and the folder it shares with the Pixel.",
                  no_args_is_help=True, add_completion=False)


STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red"}


@app.callback()
def syncthing() -> None:
    """Syncthing and the folder it shares with the Pixel."""


@app.command()
def check(config: ConfigOption = None) -> None:
    """Check, on one screen, that Syncthing can carry files to the phone: reachable, API
    key accepted, folder exists and is shared with the device, folder type, device
    connected. Exits 1 when any check fails. Reads only; changes nothing.

    Example: mediasync syncthing check --config mediasync.toml
    """
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        Console(stderr=True).print(f"error: {exc}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    findings = diagnose(settings)
    _show(findings, settings.syncthing.api_url)
    if any(f.status == Status.FAIL for f in findings):
        raise typer.Exit(1)


def _show(findings: list[Finding], url: str) -> None:
    table = Table(title=f"Syncthing check ({url})", title_justify="left", show_header=False,
                  box=None, padding=(0, 1))
    for finding in findings:
        table.add_row(f"[{STYLE[finding.status]}]{finding.status}[/]", finding.check,
                      finding.detail)
    Console(width=160).print(table, highlight=False)
