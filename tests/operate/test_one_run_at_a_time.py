"""Two runs started together on one ledger never execute steps at the same time."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.helpers import archived_files, sha256
from tests.operate.conftest import DemoRuns
from tests.operate.service import PrefectService

pytestmark = pytest.mark.slow


def _span(task_runs: list[dict]) -> tuple[datetime, datetime]:
    return (min(datetime.fromisoformat(t["start_time"]) for t in task_runs),
            max(datetime.fromisoformat(t["end_time"]) for t in task_runs))


def test_both_runs_complete_one_after_the_other(two_demo_runs: DemoRuns,
                                                 served: PrefectService):
    for run in two_demo_runs.runs:
        assert run["state"]["type"] == "COMPLETED", run["state"]["message"]
        assert served.step_numbers(run["id"]) == list(range(1, 9))
    first, second = sorted(_span(served.task_runs(run["id"])) for run in two_demo_runs.runs)
    assert first[1] <= second[0], f"steps overlapped: {first} and {second}"


def test_the_ledger_records_two_runs_that_never_overlap(two_demo_runs: DemoRuns):
    ledger = two_demo_runs.workspace.ledger()
    operations = sorted(ledger.recent_operations(10, "media_sync"), key=lambda o: o.started_at)
    assert {o.run_id for o in operations} == {run["id"] for run in two_demo_runs.runs}
    assert all(o.status == "completed" for o in operations)
    assert operations[0].finished_at <= operations[1].started_at
    assert operations[1].files_added == 0, "the second run found work the first had done"


def test_every_good_file_is_archived_once(two_demo_runs: DemoRuns):
    archived = archived_files(two_demo_runs.workspace.nas)
    for original in two_demo_runs.good_files:
        assert len(archived[sha256(original)]) == 1, original
