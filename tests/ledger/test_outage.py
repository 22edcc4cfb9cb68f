"""The ledger's Postgres server stops in the middle of step 4, then comes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mediasync.errors import LedgerError
from mediasync.ledger.migrate import migrate_url
from mediasync.ledger.postgres import PostgresLedger
from mediasync.model import Stage
from mediasync.nas.archive import MARKER_NAME
from mediasync.pipeline import archive, download
from mediasync.pipeline.steps import open_context
from tests.helpers import Workspace
from tests.ledger.library import photos
from tests.ledger.pgcluster import Cluster

FILES = 250  # three claimed batches: the server stops during the second


@pytest.fixture
def own_server() -> Iterator[Cluster]:
    """A cluster this test may stop: never the shared server."""
    cluster = Cluster()
    cluster.start()
    yield cluster
    cluster.remove()


@pytest.mark.slow
def test_postgres_stopping_mid_step_fails_the_step_and_the_rerun_completes(
        own_server: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    migrate_url(own_server.url)
    monkeypatch.setenv("MEDIASYNC_LEDGER__URL", own_server.url)
    monkeypatch.setenv("MEDIASYNC_LEDGER__TIMEOUT_SECONDS", "2")
    workspace = Workspace.create(tmp_path)
    photos(workspace.library, FILES)
    ctx = open_context(workspace.settings(), "run-1")
    assert download.run(ctx).done == FILES

    def stop_server_at_file_150(done: int, total: int, what: str) -> None:
        if done == 150:
            own_server.stop("immediate")

    ctx.progress = stop_server_at_file_150
    with pytest.raises(LedgerError) as failure:
        archive.run(ctx)
    message = str(failure.value)
    assert message.startswith(f"ledger {own_server.url}:") and "\n" not in message
    assert failure.value.retryable  # Prefect's retry condition reads this
    ctx.ledger.close()

    own_server.start()
    # a new run: the restart ended the first run's sessions, so its claims are free
    retry = open_context(workspace.settings(), "run-2")
    report = archive.run(retry)
    assert report.done == FILES - 100  # the first batch was recorded before the stop
    retry.ledger.close()

    ledger = PostgresLedger(own_server.url)
    assert ledger.counts_by_stage() == {Stage.NAS_ARCHIVED.value: FILES}
    for media in ledger.files_at([Stage.NAS_ARCHIVED]):
        moves = [e.to_stage for e in ledger.events(media.id)]  # type: ignore[arg-type]
        assert moves == [Stage.DOWNLOADED, Stage.NAS_ARCHIVED], media.label
    ledger.close()
    stored = [p for p in workspace.nas.rglob("*") if p.is_file() and p.name != MARKER_NAME]
    assert len(stored) == FILES  # none lost, none stored twice
