"""`mediasync bucket ...`: mirror a Supabase Storage bucket, reconcile it with a table."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from mediasync.bucket.reconcile import ReconcileResult, repair, take_stock
from mediasync.bucket.record_table import PostgrestRecordTable
from mediasync.bucket.sync import SyncJob, SyncReport, run_sync
from mediasync.cli.options import ConfigOption, JsonOption
from mediasync.cli.progress import ProgressBars
from mediasync.errors import ConfigError, MediasyncError
from mediasync.settings import Settings, load_settings
from mediasync.sources.bucket import BucketSource

app = typer.Typer(help="Supabase Storage buckets: mirror with retention, reconcile with a table.",
                  no_args_is_help=True, add_completion=False)
console = Console()
errors = Console(stderr=True)
T = TypeVar("T")
SHOWN = 20  # rows of a long list shown in the tables; --json has them all



@app.command()
def sync(
    config: ConfigOption = None,
    apply: Annotated[bool, typer.Option("--apply", help="delete expired objects for real")]
    = False,
    as_json: JsonOption = False,
) -> None:
    """Mirror the bucket into the local registry, check the registry, then apply retention.

    Deletes are a dry run unless --apply (or bucket.apply_retention = true). Exits 1 when a
    download failed or the registry has problems.

    Example: mediasync bucket sync --apply
    """
    settings = _settings(config)
    with _source(settings) as source, ProgressBars(console) as bars:
        job = SyncJob.from_settings(settings, source, apply=True if apply else None,
                                    progress=lambda d, t, w: bars.update(d, t, f"download: {w}"))
        report = _guarded(lambda: run_sync(job))
    if as_json:
        typer.echo(json.dumps(report.summary(), indent=2))
    else:
        _print_sync(report)
    if report.mirror.failed or report.problems:
        raise typer.Exit(1)


@app.command()
def reconcile(
    config: ConfigOption = None,
    apply: Annotated[bool, typer.Option("--apply", help="also remove orphaned records")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="remove orphans without asking")]
    = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="analyse only, change nothing")]
    = False,
    as_json: JsonOption = False,
) -> None:
    """Compare the bucket with the table: insert the missing records, sign URLs that are
    missing or expiring, and with --apply remove records whose object is gone (after a
    confirmation, or --yes).

    Example: mediasync bucket reconcile --apply --yes --json
    """
    settings = _settings(config)
    with _source(settings) as source:
        table = PostgrestRecordTable.from_settings(source.connection, settings.bucket)
        analysis = _guarded(lambda: take_stock(source, table, settings.bucket))
        remove = (apply and not dry_run and bool(analysis.orphans)
                  and (yes or _confirm(analysis.orphans)))
        result = _guarded(lambda: repair(source, table, analysis, settings.bucket,
                                         remove_orphans=remove, dry_run=dry_run))
    if as_json:
        typer.echo(json.dumps(result.summary(), indent=2))
    else:
        _print_reconcile(result, orphans_kept=bool(analysis.orphans) and not remove)


# plumbing ------------------------------------------------------------------------------

def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        _fail(str(exc), code=2)


@contextmanager
def _source(settings: Settings) -> Iterator[BucketSource]:
    source = _guarded(lambda: BucketSource.from_settings(settings.bucket))
    try:
        yield source
    finally:
        source.close()


def _guarded(action: Callable[[], T]) -> T:
    """Run one piece of the command; our errors end it with their one line."""
    try:
        return action()
    except MediasyncError as exc:
        _fail(str(exc), code=2 if isinstance(exc, ConfigError) else 1)


def _fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _confirm(orphans: list[str]) -> bool:
    """Asked on stderr, so that stdout stays the report (or the JSON)."""
    _print_list("orphaned records", orphans, errors)
    try:
        return typer.confirm(f"Remove these {len(orphans)} records from the table?", err=True)
    except typer.Abort:  # no answer (stdin closed): keep them
        return False


# output ----------------------------------------------------------------------------------

def _table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left", min_width=len(title) + 4)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in rows.items():
        table.add_row(name, str(value))
    return table


def _print_list(title: str, items: list[str], out: Console = console) -> None:
    if not items:
        return
    heading = f"{title} ({len(items)})"
    table = Table(title=heading, title_justify="left", min_width=len(heading) + 4)
    table.add_column("key")
    for item in items[:SHOWN]:
        table.add_row(item)
    if len(items) > SHOWN:
        table.add_row(f"... and {len(items) - SHOWN} more (see --json)")
    out.print(table)


def _print_sync(report: SyncReport) -> None:
    ret = report.retention
    mode = "refused" if ret.refused else "applied" if ret.applied else "dry run"
    console.print(_table("bucket sync", {
        "objects listed": report.listed, "missing locally": len(report.mirror.missing),
        "downloaded": report.mirror.downloaded, "failed": len(report.mirror.failed),
        "registry problems": len(report.problems), "retention": mode,
        "expired": len(ret.plan.expired), "deleted": len(ret.deleted),
        "local copies removed": ret.local_removed, "kept": ret.plan.kept,
        "unparseable (kept)": len(ret.plan.unparseable),
    }))
    _print_list("failed downloads", [f"{k}: {why}" for k, why in report.mirror.failed.items()])
    _print_list("registry problems", report.problems)
    _print_list("unparseable paths, kept", ret.plan.unparseable)
    if not ret.applied:
        _print_list("would delete (use --apply)", [obj.key for obj in ret.plan.expired])
    if ret.refused:
        console.print(f"[yellow]retention: {ret.refused}[/yellow]")


def _print_reconcile(result: ReconcileResult, orphans_kept: bool) -> None:
    analysis = result.analysis
    console.print(_table("objects by extension", analysis.by_extension))
    console.print(_table("bucket reconcile" + (" (dry run)" if result.dry_run else ""), {
        "objects": analysis.objects, "records": analysis.records,
        "missing records": len(analysis.missing), "orphaned records": len(analysis.orphans),
        "URLs to sign": len(analysis.to_sign), "inserted": result.inserted,
        "signed": result.signed, "orphans removed": result.orphans_removed,
    }))
    _print_list("could not sign", [f"{k}: {why}" for k, why in result.sign_errors.items()])
    if orphans_kept:
        _print_list("orphaned records, kept (remove with --apply)", analysis.orphans)
    if result.orphans_refused:
        console.print(f"[yellow]orphans: {result.orphans_refused}[/yellow]")
