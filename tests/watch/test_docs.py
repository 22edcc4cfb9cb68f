"""docs/watch.md keeps up with the code: every setting, command, finding and fix."""

import re
from pathlib import Path

import pytest

from mediasync.cli.watch import app
from mediasync.errors import ConfigError
from mediasync.records.doctor import _COPIES
from mediasync.records.doctor_fixes import FIXES
from mediasync.settings import WatchSettings, load_settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "watch.md").read_text()
FINDINGS = {"archive_not_checked", "archive_unreachable", "archive_identity", "archive_missing",
            "archive_lost",
            "stuck", "failed", "unrecorded", "not_imported", "passed_over", "gone_from_source",
            "removed_at_source", "changed_at_source", "superseded_at_source",
            *(verdict[1] for copy in _COPIES for verdict in (copy.matters, copy.expected)
              if verdict)}


@pytest.mark.parametrize("name", sorted(WatchSettings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert re.search(rf"^{name} = ", DOC, re.MULTILINE)


@pytest.mark.parametrize("name", [c.name or getattr(c.callback, "__name__", "")
                                  for c in app.registered_commands])
def test_every_command_is_documented(name: str) -> None:
    assert f"`mediasync {name}" in DOC


@pytest.mark.parametrize("code", sorted(FINDINGS))
def test_every_finding_is_documented(code: str) -> None:
    assert f"| `{code}` |" in DOC


@pytest.mark.parametrize("code", sorted(FIXES))
def test_every_fix_is_documented(code: str) -> None:
    assert f"`mediasync doctor --fix {code}`" in DOC and f"- `{code}`:" in DOC


def test_stuck_thresholds_take_stage_names_only(tmp_path: Path) -> None:
    config = tmp_path / "mediasync.toml"
    config.write_text("[watch.stuck_after_hours_by_stage]\npixel_synced = 3\n")
    with pytest.raises(ConfigError, match="watch.stuck_after_hours_by_stage.pixel_synced"):
        load_settings(config)
