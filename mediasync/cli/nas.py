"""`mediasync nas init`: mark the archive root as this ledger's archive."""

from __future__ import annotations

from typing import Annotated

import typer

from mediasync.cli.options import ConfigOption
from mediasync.errors import MediasyncError
from mediasync.ledger import open_ledger
from mediasync.nas import identity as archive_identity
from mediasync.pipeline.archive import archive_for
from mediasync.settings import load_settings

app = typer.Typer(help="The NAS archive's identity.", no_args_is_help=True)


@app.callback()
def nas() -> None:
    """The NAS archive's identity (see docs/operations.md)."""


@app.command()
def init(
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option(
        "--force", help="the ledger knows another archive id: make this folder its archive"
    )] = False,
) -> None:
    """Mark the archive root (workflow.nas_archive, or [sftp.archive] root) as this
    ledger's archive: write its identity marker, or adopt the one there, and record the
    id in the ledger. Runs archive and delete only where the marker matches.

    Example: mediasync nas init --config mediasync.toml
    """
    try:
        settings = load_settings(config)
        archive = archive_for(settings)
        ledger = open_ledger(settings.ledger.url, settings.base_dir,
                             timeout=settings.ledger.timeout_seconds)
        try:
            said = archive_identity.init(ledger, archive, None, force)
        finally:
            ledger.close()
            archive.close()
    except MediasyncError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(said)
