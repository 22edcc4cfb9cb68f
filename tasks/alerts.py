"""The flow hook that sends an alert when a run fails or crashes.

Use it on any flow whose first parameters include `config`:
`@flow(on_failure=[alert_on_failure], on_crashed=[alert_on_failure])`. A flow that
returns a summary dict with `failed_step` and `error` gets the step and its fix named.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import Flow
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_UI_URL
from prefect.states import State
from pydantic import ValidationError

from mediasync import notify
from mediasync.errors import ConfigError
from mediasync.pipeline.remedies import fix_for_step, step_name
from mediasync.settings import Settings, load_settings
from mediasync.sources.icloud_session import EXPIRED

log = logging.getLogger("mediasync.alerts")


def alert_on_failure(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    settings = _settings_of(flow_run)
    if settings is None:
        return
    summary = _summary(state)
    step = summary.get("failed_step")
    reason = summary.get("error") or state.message or "no reason recorded"
    where = f" at step {step} ({step_name(step)})" if step else ""
    message = f"{flow.name} run {flow_run.name} {state.type.value.lower()}{where}: {reason}"
    details = {"flow": flow.name, "flow_run_name": flow_run.name,
               "flow_run_id": str(flow_run.id), "state": state.type.value,
               "step": step, "step_name": step_name(step), "reason": reason}
    if ui := PREFECT_UI_URL.value():
        details["url"] = f"{ui}/runs/flow-run/{flow_run.id}"
    # its own kind, so that a chat rule can page someone: only a person can sign in again
    kind = notify.ICLOUD_SESSION_EXPIRED if reason == EXPIRED else notify.RUN_FAILED
    notify.send(kind, message, fix_for_step(step), settings=settings, details=details)


def _settings_of(flow_run: FlowRun) -> Settings | None:
    """The run's own config; failing that (a broken config is a reason to alert) the
    environment alone, where deployments usually keep the webhook."""
    config = flow_run.parameters.get("config")
    try:
        return load_settings(Path(config) if config else None)
    except ConfigError:
        pass
    try:
        return Settings()
    except ValidationError:
        log.error("no alert sent: neither the run's config nor the environment gives "
                  "valid settings")
        return None


def _summary(state: State[Any]) -> dict[str, Any]:
    try:
        data = state.result(raise_on_failure=False)
    except Exception:  # the result could not be read back: the state's message remains
        return {}
    return data if isinstance(data, dict) else {}
