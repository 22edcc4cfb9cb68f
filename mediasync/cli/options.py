"""Options every command shares, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="mediasync.toml to use (default: $MEDIASYNC_CONFIG, ./mediasync.toml)",
    envvar="MEDIASYNC_CONFIG")]
JsonOption = Annotated[bool, typer.Option("--json", help="print the result as JSON")]
