"""Serve the deployments of deployments/prefect.yaml from this process, without a work
pool: the same names, schedules, parameters and descriptions `prefect deploy` uses."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prefect
import yaml
from prefect import Flow
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron, Interval, Schedule

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "deployments" / "prefect.yaml"


@dataclass(frozen=True)
class DeploymentSpec:
    """One entry of prefect.yaml, as far as serving it needs."""

    name: str
    entrypoint: str  # flows/media_sync.py:media_sync
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def module(self) -> str:
        path = self.entrypoint.split(":", 1)[0]
        return path.removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.split(":", 1)[1]

    def load_flow(self) -> Flow[..., Any]:
        flow = getattr(importlib.import_module(self.module), self.function)
        if not isinstance(flow, Flow):
            raise TypeError(f"{self.entrypoint} is not a Prefect flow")
        return flow


def read_specs(path: Path = DEFAULT_FILE) -> list[DeploymentSpec]:
    document = yaml.safe_load(path.read_text())
    keys = DeploymentSpec.__dataclass_fields__
    return [DeploymentSpec(**{k: v for k, v in entry.items() if k in keys and v is not None})
            for entry in document.get("deployments", [])]


def to_schedule(entry: dict[str, Any]) -> Schedule:
    if "cron" in entry:
        return Cron(entry["cron"], timezone=entry.get("timezone"))
    if "interval" in entry:
        return Interval(entry["interval"], timezone=entry.get("timezone"))
    raise ValueError(f"unsupported schedule {entry}: use cron or interval")


def runner_deployments(specs: list[DeploymentSpec],
                       skipped: Callable[[DeploymentSpec, str], None] | None = None,
                       ) -> list[RunnerDeployment]:
    """One RunnerDeployment per spec whose flow module is installed; the others are
    reported to `skipped` (a flow not part of this installation)."""
    deployments = []
    for spec in specs:
        try:
            flow = spec.load_flow()
        except ModuleNotFoundError as exc:
            if exc.name != spec.module:
                raise
            if skipped:
                skipped(spec, f"{spec.entrypoint} is not installed")
            continue
        deployments.append(flow.to_deployment(
            name=spec.name, description=spec.description, tags=spec.tags,
            parameters=spec.parameters, entrypoint_type=EntrypointType.MODULE_PATH,
            schedules=[to_schedule(s) for s in spec.schedules],
        ))
    return deployments


def serve(deployments: list[RunnerDeployment], limit: int | None = None) -> None:
    prefect.serve(*deployments, limit=limit)
