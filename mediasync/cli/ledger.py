"""`mediasync ledger ...`: create or upgrade the ledger's schema, and see what it holds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from mediasync.cli.options import ConfigOption
from mediasync.errors import MediasyncError
from mediasync.ledger import SUPABASE, open_ledger
from mediasync.ledger.base import Ledger
from mediasync.ledger.migrate import latest_version, migrate_url
from mediasync.ledger.pg import POSTGRES_SCHEMES, redact
from mediasync.settings import Settings, load_settings

app = typer.Typer(help="The ledger: schema migrations and what it holds.",
                  no_args_is_help=True)

UrlOption = Annotated[str | None, typer.Option(
    "--url", help="Ledger URL instead of the configured ledger.url "
                  "(sqlite:///PATH, postgresql://..., supabase).")]


def _settings_and_url(config: Path | None, url: str | None) -> tuple[Settings, str]:
    settings = load_settings(config)
    return settings, url or settings.ledger.url


@contextmanager
def _opened(target: str, settings: Settings, read_only: bool = False) -> Iterator[Ledger]:
    ledger = open_ledger(target, settings.base_dir, read_only=read_only,
                         timeout=settings.ledger.timeout_seconds)
    try:
        yield ledger
    finally:
        ledger.close()


def _fail(error: MediasyncError) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(1)


@app.command()
def migrate(config: ConfigOption = None, url: UrlOption = None) -> None:
    """Apply the schema migrations the ledger lacks; safe to run again.

    Example: mediasync ledger migrate --url postgresql://postgres@db.example:5432/postgres
    """
    try:
        settings, target = _settings_and_url(config, url)
        if target == SUPABASE:
            raise MediasyncError(
                "the REST API cannot change a schema: pass the project's Postgres "
                "connection string with --url postgresql://...")
        if target.startswith(POSTGRES_SCHEMES):
            applied = migrate_url(target, settings.ledger.timeout_seconds)
        else:
            with _opened(target, settings) as ledger:
                ledger.migrate()
            applied = []
    except MediasyncError as error:
        raise _fail(error) from None
    if applied:
        typer.echo(f"applied {', '.join(applied)} to {_shown(target)}")
    else:
        typer.echo(f"{_shown(target)} is up to date (schema {latest_version()})")


@app.command()
def info(config: ConfigOption = None, url: UrlOption = None) -> None:
    """Show the ledger's backend, schema version and rows per table (changes nothing).

    Example: mediasync ledger info --config mediasync.toml
    """
    try:
        settings, target = _settings_and_url(config, url)
        with _opened(target, settings, read_only=True) as ledger:
            backend, version = ledger.backend, ledger.schema_version()
            counts = ledger.table_counts() if version else {}
    except MediasyncError as error:
        raise _fail(error) from None
    latest = latest_version()
    typer.echo(f"backend: {backend}")
    typer.echo(f"ledger: {_shown(target)}")
    state = "up to date" if version == latest else f"latest is {latest}: run ledger migrate"
    typer.echo(f"schema: {version or 'none'} ({state})")
    for table, count in counts.items():
        typer.echo(f"{table}: {count}")


@app.command()
def release(owner: Annotated[str, typer.Argument(help="The run id that holds the files.")],
            config: ConfigOption = None, url: UrlOption = None) -> None:
    """Give back the files a run that died still holds, without waiting for the lease.

    Example: mediasync ledger release 0b7c1f3e-5d0a-4c52-9a53-2f1e8f2b6f10
    """
    try:
        settings, target = _settings_and_url(config, url)
        with _opened(target, settings) as ledger:
            count = ledger.release(owner)
    except MediasyncError as error:
        raise _fail(error) from None
    typer.echo(f"released {count} files held by {owner}")


def _shown(url: str) -> str:
    return redact(url) if url.startswith(POSTGRES_SCHEMES) else url
