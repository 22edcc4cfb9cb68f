"""The step-prefix convention for working folders: step05_processing_20250115_143022_IMG.jpg"""

from __future__ import annotations

from datetime import UTC, datetime

from mediasync.files import safe_filename

STEP_FOLDERS = {
    1: "incoming",
    2: "pixel_sync",
    4: "nas_archive",
    5: "processing",
    6: "compressed",
    7: "icloud_delete",
}


def prefixed_name(step: int, name: str, when: datetime | None = None) -> str:
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return f"step{step:02d}_{STEP_FOLDERS[step]}_{when:%Y%m%d_%H%M%S}_{safe_filename(name)}"
