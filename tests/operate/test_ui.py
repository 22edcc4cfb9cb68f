"""The Prefect UI, in headless Chromium, shows a served demo run and its artifacts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.operate.conftest import DemoRuns
from tests.operate.service import PrefectService

pytestmark = pytest.mark.slow

# PREFECT_NOTES: these flags render the bundled UI offline; virtual time lets the
# single-page app fetch and draw before the DOM is read.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--virtual-time-budget=30000",
                  "--window-size=1400,1000"]


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is missing: scripts/test.sh installs it (Debian `chromium`)")
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)


def visible_text(dom: str) -> str:
    dom = re.sub(r"(?s)<(style|script)\b[^>]*>.*?</\1>", " ", dom)
    return " ".join(re.sub(r"<[^>]+>", " ", dom).split())


def test_the_flow_run_page_shows_name_state_and_artifacts(two_demo_runs: DemoRuns,
                                                          served: PrefectService,
                                                          tmp_path: Path):
    run = two_demo_runs.runs[0]
    url = f"{served.ui}/v2/runs/flow-run/{run['id']}?tab=Artifacts"
    dumped = chromium(tmp_path / "profile", "--dump-dom", url)
    text = visible_text(dumped.stdout)
    assert f"Flow Run: {run['name']}" in text, text[:2000]
    assert "Completed" in text
    for artifact in ("media-sync-steps", "media-sync-summary"):
        assert artifact in text, f"{artifact} not on the page: {text[:2000]}"
    assert "per-step counts, duration and throughput" in text

    screenshot = tmp_path / "flow-run.png"
    chromium(tmp_path / "profile", f"--screenshot={screenshot}", url)
    assert screenshot.read_bytes().startswith(b"\x89PNG")
