"""`mediasync watch`, `reconcile` and `doctor`: keep the ledger and the disks in agreement."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from mediasync.cli.options import ConfigOption, JsonOption
from mediasync.errors import MediasyncError, SourceError
from mediasync.ledger import open_ledger
from mediasync.ledger.base import Ledger
from mediasync.records.doctor import DoctorReport, diagnose
from mediasync.records.doctor_fixes import FIXES, FixResult, apply_fix
from mediasync.records.scan import ScanOptions, ScanStats
from mediasync.records.scan import reconcile as reconcile_root
from mediasync.records.watcher import Watcher, WatchOptions
from mediasync.settings import Settings, load_settings
from mediasync.sources import build_source
from mediasync.sources.base import Source

app = typer.Typer(help="Watch folders, reconcile them with the ledger, find drift.",
                  no_args_is_help=True, add_completion=False)
console = Console()
errors = Console(stderr=True)
T = TypeVar("T")
SHOWN = 10  # example paths per finding in the table; --json has the first ones too



@app.command()
def watch(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="folders to watch (default: watch.roots)")] = None,
    config: ConfigOption = None,
) -> None:
    """Keep file_records current while files change: a startup pass reconciles each
    folder, then changes are hashed after a quiet time (watch.debounce_ms). Stops
    cleanly on Ctrl-C or SIGTERM.

    Example: mediasync watch ~/Pictures/inbox /mnt/nas/archive
    """
    settings = _guarded(lambda: load_settings(config))
    with _ledger(settings) as ledger:
        options = WatchOptions(settings.watch.debounce_ms / 1000,
                               ScanOptions.from_settings(settings))
        roots = paths or [settings.resolve(r) for r in settings.watch.roots]
        watcher = _guarded(lambda: Watcher(ledger, roots, options))
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        watcher.start()
        console.print(f"watching {', '.join(map(str, watcher.roots))} (Ctrl-C stops)")
        while not stop.wait(0.5):
            pass
        console.print("stopping: handling what is pending")
        watcher.stop()
    console.print("stopped")


@app.command()
def reconcile(
    path: Annotated[Path, typer.Argument(help="folder to reconcile")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bring file_records of PATH in line with the disk: new and changed files are hashed,
    records of removed files dropped, and the pass is recorded in sync_operations.

    Example: mediasync reconcile /mnt/nas/archive --json
    """
    settings = _guarded(lambda: load_settings(config))
    with _ledger(settings) as ledger:
        options = ScanOptions.from_settings(settings)
        stats = _guarded(lambda: reconcile_root(ledger, path, options=options))
    if as_json:
        console.print_json(json.dumps(stats.as_dict()))
    else:
        _print_scan(stats)
    if stats.failed:
        raise typer.Exit(1)


@app.command()
def doctor(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    fix: Annotated[str | None, typer.Option(
        help=f"apply the doctor's own fix for one finding: {', '.join(FIXES)}")] = None,
    with_source: Annotated[bool | None, typer.Option(
        "--source/--no-source", show_default="a folder source only",
        help="list the source and compare it too")] = None,
) -> None:
    """Where things stand between the source, the working folders, the NAS archive and the
    ledger: counts per place and per stage, and each difference with its date range,
    whether it matters, and the command that fixes it. Exits 1 when something needs action.

    Example: mediasync doctor --json
    """
    settings = _guarded(lambda: load_settings(config))
    with _ledger(settings, read_only=fix is None) as ledger:
        if fix is not None:
            fixed = _guarded(lambda: apply_fix(settings, ledger, fix))
            _print_fix(fixed)
        if with_source is None:  # listing a remote library takes a while: only when asked
            with_source = settings.source.kind == "folder"
        source = _source(settings) if with_source else None
        report = _guarded(lambda: _diagnose(settings, ledger, source))
    if as_json:
        console.print_json(json.dumps(report.as_dict(), default=str))
    else:
        _print_report(report)
    if report.needs_action:
        raise typer.Exit(1)


def _source(settings: Settings) -> Source | None:
    try:
        return build_source(settings)
    except MediasyncError as exc:
        errors.print(f"source not checked: {exc}", highlight=False, soft_wrap=True)
        return None


def _diagnose(settings: Settings, ledger: Ledger, source: Source | None) -> DoctorReport:
    """With the source when it answers; without it (and saying so) when it does not."""
    if source is not None:
        try:
            return diagnose(settings, ledger, source)
        except SourceError as exc:
            errors.print(f"source not checked: {exc}", highlight=False, soft_wrap=True)
    return diagnose(settings, ledger)


def _guarded(call: Callable[[], T]) -> T:
    try:
        return call()
    except MediasyncError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@contextmanager
def _ledger(settings: Settings, read_only: bool = False) -> Iterator[Ledger]:
    ledger = _guarded(lambda: open_ledger(settings.ledger.url, settings.base_dir, read_only))
    try:
        yield ledger
    finally:
        ledger.close()


def _print_scan(stats: ScanStats) -> None:
    table = Table(title=f"{stats.operation_type}: {stats.root}")
    for column in ("scanned", "added", "updated", "removed", "failed", "seconds", "files/s"):
        table.add_column(column, justify="right")
    table.add_row(*map(str, (stats.scanned, stats.added, stats.updated, stats.removed,
                             stats.failed)), f"{stats.seconds:.2f}",
                  f"{stats.files_per_second:,.0f}")
    console.print(table)
    for problem in stats.problems:
        errors.print(f"  {problem}", highlight=False)


def _print_report(report: DoctorReport) -> None:
    console.print(_counts("files on disk", "place", report.places))
    console.print(_counts("ledger", "stage", report.stages))
    if report.archive_identity:
        console.print(f"archive: {report.archive_identity}", highlight=False, markup=False,
                      soft_wrap=True)
    if not report.findings:
        console.print("[green]everything agrees[/green]")
        return
    table = Table(title="findings", show_lines=True)
    for column in ("finding", "where", "files", "dates", "matters", "fix"):
        table.add_column(column, overflow="fold")
    for f in report.findings:
        dates = f"{f.first} .. {f.last}" if f.first else ""
        examples = "\n".join(f.examples[:SHOWN])
        table.add_row(f"{f.code}\n{f.summary}\n[dim]{examples}[/dim]", f.place, str(f.count),
                      dates, "[red]yes[/red]" if f.needs_action else "no", f.fix)
    console.print(table)


def _counts(title: str, what: str, counts: dict[str, Any]) -> Table:
    table = Table(title=title)
    table.add_column(what)
    table.add_column("files", justify="right")
    for name, count in counts.items():
        table.add_row(name, "missing" if count is None else str(count))
    return table


def _print_fix(result: FixResult) -> None:
    console.print(f"{result.code}: fixed {result.fixed}, skipped {len(result.skipped)}")
    for line in result.skipped:
        errors.print(f"  {line}", highlight=False)
