"""`mediasync sftp check`: try the configured SFTP source and archive now."""

from __future__ import annotations

import typer

from mediasync.cli.options import ConfigOption
from mediasync.errors import ConfigError, MediasyncError
from mediasync.nas.archive import ArchiveTarget
from mediasync.settings import Settings, load_settings

app = typer.Typer(help="Check the SFTP source and the SFTP archive.", no_args_is_help=True)



@app.callback()
def sftp() -> None:
    """Check the SFTP source and the SFTP archive (see docs/sftp.md)."""


@app.command()
def check(config: ConfigOption = None) -> None:
    """Connect to each configured SFTP server (host key, user key), count what the source
    lists and prove the archive writable; change nothing.

    Example: mediasync sftp check --config mediasync.toml
    """
    try:
        settings = load_settings(config)
        lines = _check_source(settings) + _check_archive(settings)
        if not lines:
            raise ConfigError("nothing to check: no sftp source (source.kind = \"sftp\")"
                              " and no [sftp.archive] in the configuration")
    except MediasyncError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in lines:
        typer.echo(line)


def _check_source(settings: Settings) -> list[str]:
    if settings.source.kind != "sftp":
        return []
    from mediasync.sources import build_source
    from mediasync.sources.sftp import SftpSource

    source = build_source(settings)
    assert isinstance(source, SftpSource)
    return [f"source {source.name}: {source.count_assets()} files match include/exclude"]


def _check_archive(settings: Settings) -> list[str]:
    if settings.sftp.archive is None:
        return []
    from mediasync.nas.sftp import SftpArchive

    archive = SftpArchive(settings.sftp.archive, settings)
    try:
        archive.check()
        identity = _identity(settings, archive)
    finally:
        archive.close()
    return [f"{archive.where}: writable; files are sent {archive.uploads} and verified"
            f" {archive.verification}", f"{archive.where}: {identity}"]


def _identity(settings: Settings, archive: ArchiveTarget) -> str:
    from mediasync.ledger import open_ledger
    from mediasync.nas.identity import status

    try:
        ledger = open_ledger(settings.ledger.url, settings.base_dir, read_only=True,
                             timeout=settings.ledger.timeout_seconds)
    except MediasyncError as exc:
        return f"identity not checked: {exc}"
    try:
        return status(ledger, archive)[1]
    finally:
        ledger.close()
