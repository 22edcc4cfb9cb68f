"""The `mediasync` command. Each command loads the settings and calls one thing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mediasync.cli import bucket as bucket_commands
from mediasync.cli import icloud as icloud_commands
from mediasync.cli import ledger as ledger_commands
from mediasync.cli import nas as nas_commands
from mediasync.cli import operate
from mediasync.cli import sftp as sftp_commands
from mediasync.cli import syncthing as syncthing_commands
from mediasync.cli import watch as watch_commands
from mediasync.cli.config_check import archive_identity_status, check_settings
from mediasync.cli.options import ConfigOption
from mediasync.errors import ConfigError, MediasyncError
from mediasync.ledger import open_ledger
from mediasync.model import PIPELINE_ORDER, Stage
from mediasync.pipeline.steps import STEPS
from mediasync.settings import InvalidSettings, Settings, load_settings

app = typer.Typer(help="Move your photos and videos into storage you own, prove every copy, "
                  "then free the source.", no_args_is_help=True, add_completion=False)
config_app = typer.Typer(help="Write or check a configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(syncthing_commands.app, name="syncthing")
app.add_typer(bucket_commands.app, name="bucket")
app.add_typer(icloud_commands.app, name="icloud")
app.add_typer(ledger_commands.app, name="ledger")
app.add_typer(sftp_commands.app, name="sftp")
app.add_typer(nas_commands.app, name="nas")
for command in (watch_commands.watch, watch_commands.reconcile, watch_commands.doctor):
    app.command()(command)

console = Console()
errors = Console(stderr=True)



def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        _fail(str(exc), code=2)
        raise  # unreachable: _fail exits


def _fail(message: str, code: int = 1) -> None:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def run(
    config: ConfigOption = None,
    start: Annotated[int, typer.Option(min=1, max=8, help="first step")] = 1,
    end: Annotated[int, typer.Option(min=1, max=8, help="last step")] = 8,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report, change nothing")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many files a step")]
    = None,
    wait_for_lock: Annotated[float, typer.Option(
        min=0, help="seconds to wait while another run holds the ledger")] = 0,
    accept_shrink: Annotated[bool, typer.Option(
        "--accept-shrink", help="the source really shrank: let step 7 delete and take its "
        "count as the new baseline")] = False,
) -> None:
    """Run the pipeline, steps START to END. Exits non-zero, with the reason, when it halts.

    Example: mediasync run --start 4 --end 4 --dry-run
    """
    settings = _settings(config)
    if start > end:
        _fail(f"--start ({start}) is after --end ({end})", code=2)
    state = _run_flow(settings, start=start, end=end, dry_run=dry_run, limit=limit,
                      wait_for_lock=wait_for_lock, accept_shrink=accept_shrink)
    summary = _state_data(state)
    _print_steps(summary.get("steps", []))
    if not state.is_completed():
        _fail(state.message or "the run failed")
    console.print(state.message)


def _run_flow(settings: Settings, **parameters: Any) -> Any:
    from flows.media_sync import media_sync  # Prefect is imported only to run a flow
    from mediasync.cli.progress import ProgressBars
    from tasks.progress import set_progress_sink

    config = str(settings.config_path) if settings.config_path else None
    with ProgressBars(console) as bars:
        set_progress_sink(bars.update)
        try:
            return media_sync(config=config, return_state=True, **parameters)
        finally:
            set_progress_sink(None)


def _state_data(state: Any) -> dict[str, Any]:
    try:
        data = state.result(raise_on_failure=False)
    except Exception:  # the result could not be read back: show the message alone
        return {}
    return data if isinstance(data, dict) else {}


def _print_steps(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table("step", "name", "done", "skipped", "failed", "seconds", "files/s", "MB/s",
                  "what happened")
    for row in rows:
        table.add_row(str(row["step"]), row["name"], str(row["done"]), str(row["skipped"]),
                      str(row["failed"]), f"{row['seconds']:.1f}", str(row["files_per_s"]),
                      str(row["mb_per_s"]), row["message"])
    console.print(table)


@app.command()
def steps() -> None:
    """List the eight steps."""
    table = Table("step", "name", "what it does")
    for step in STEPS:
        table.add_row(str(step.number), step.name, step.description)
    console.print(table)


@app.command()
def status(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Files per stage, the last runs, and failed files with their reasons."""
    settings = _settings(config)
    try:
        ledger = open_ledger(settings.ledger.url, settings.base_dir, read_only=True)
        report = _status_report(ledger)
        ledger.close()
    except MediasyncError as exc:
        _fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
        return
    _print_status(report)


def _status_report(ledger: Any) -> dict[str, Any]:
    counts = ledger.counts_by_stage()
    stages = {stage.value: counts.get(stage.value, 0)
              for stage in (*PIPELINE_ORDER, Stage.FAILED, Stage.SKIPPED)}
    runs = [{"run_id": op.run_id, "status": op.status, "started_at": op.started_at,
             "finished_at": op.finished_at, "added": op.files_added,
             "failed": op.files_failed, "error": op.error}
            for op in ledger.recent_operations(5, "media_sync")]
    problems = [{"file": m.filename, "source_id": m.source_id, "stage": m.workflow_stage.value,
                 "failed_at": m.failed_stage.value if m.failed_stage else None,
                 "reason": m.error}
                for m in ledger.files_at([Stage.FAILED, Stage.SKIPPED])]
    return {"stages": stages, "runs": runs,
            "failed": [p for p in problems if p["stage"] == "failed"],
            "skipped": [p for p in problems if p["stage"] == "skipped"]}


def _print_status(report: dict[str, Any]) -> None:
    table = Table("stage", "files")
    for stage, count in report["stages"].items():
        table.add_row(stage, str(count))
    console.print(table)
    if report["runs"]:
        runs = Table("run", "status", "started", "added", "failed", "error")
        for r in report["runs"]:
            runs.add_row(str(r["run_id"]), r["status"], str(r["started_at"])[:19],
                         str(r["added"]), str(r["failed"]), r["error"] or "")
        console.print(runs)
    for title in ("failed", "skipped"):
        if report[title]:
            files = Table("file", "source id", "reason", title=f"{title} files")
            for p in report[title]:
                files.add_row(p["file"], p["source_id"], p["reason"] or "")
            console.print(files)


@app.command()
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="where to build the demo")]
    = Path("demo"),
) -> None:
    """Generate a small library (photos, a HEIC, a video, and broken files), write a config
    for it, and run the whole pipeline on it."""
    from mediasync.cli.demo import make_library, write_demo_config

    folder = folder.resolve()
    library = folder / "library"
    if not library.exists():
        console.print(f"generating sample library in {library}")
        make_library(library)
    config = write_demo_config(folder)
    settings = _settings(config)
    state = _run_flow(settings, start=1, end=8, dry_run=False, limit=None)
    _print_steps(_state_data(state).get("steps", []))
    if not state.is_completed():
        _fail(state.message or "the demo run failed")
    ledger = open_ledger(settings.ledger.url, settings.base_dir, read_only=True)
    _print_status(_status_report(ledger))
    ledger.close()
    console.print(f"\nlibrary (the source): {library}\nNAS archive: {folder / 'nas_archive'}\n"
                  f"compressed copies: {folder / 'nas_compressed'}\n"
                  f"safe-to-delete manifests: {folder / 'workflow' / 'icloud_delete'}\n"
                  f"ledger: {folder / 'mediasync.db'}\n"
                  f"see it again: mediasync status --config {config}")


@config_app.command("init")
def config_init(
    path: Annotated[Path, typer.Argument(help="where to write it")] = Path("mediasync.toml"),
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
) -> None:
    """Write a commented example configuration."""
    from importlib import resources

    if path.exists() and not force:
        _fail(f"{path} exists; use --force to overwrite it", code=2)
    text = resources.files("mediasync").joinpath("config_example.toml").read_text()
    path.write_text(text)
    console.print(f"wrote {path}: edit it, then run `mediasync config check --config {path}`")


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Report every problem with the configuration at once, one line each."""
    try:
        settings = load_settings(config)
    except InvalidSettings as exc:  # every problem the file has, not only the first
        _print_problems(exc.problems)
    except ConfigError as exc:  # no file, or not TOML
        _fail(str(exc), code=2)
    _print_problems(check_settings(settings))
    identity = archive_identity_status(settings)
    console.print("configuration OK" + (f"; archive: {identity[1]}" if identity else ""),
                  highlight=False, markup=False, soft_wrap=True)


def _print_problems(problems: list[str]) -> None:
    """One line each; exits 1 when there is any."""
    for problem in problems:
        errors.print(problem, highlight=False, markup=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)


app.command()(operate.serve)
app.command()(operate.server)
