"""What only a real Postgres server shows: two worker processes claiming at once, the
server going away in the middle of a step, and messages that keep the password out."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediasync.errors import LedgerError
from mediasync.ledger import open_ledger
from mediasync.ledger.base import TABLES
from mediasync.ledger.migrate import migrate_url
from mediasync.ledger.postgres import PostgresLedger
from mediasync.model import MediaFile, Stage
from tests.ledger.archive_worker import OUTPUT, run_step
from tests.ledger.conftest import empty_tables
from tests.ledger.pgcluster import Cluster

REPO = Path(__file__).resolve().parents[2]


def seed(ledger: PostgresLedger, count: int) -> list[int]:
    files = ledger.add_files([MediaFile(source="icloud", source_id=f"a{n}",
                                        filename=f"IMG_{n}.JPG") for n in range(count)],
                             run_id="download")
    return [f.id for f in files]  # type: ignore[misc]


def test_two_worker_processes_never_archive_the_same_file(pg_url: str, tmp_path: Path) -> None:
    empty_tables(pg_url)
    ledger = PostgresLedger(pg_url)
    ids = seed(ledger, 300)
    start = tmp_path / "go"
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    workers = [subprocess.Popen([sys.executable, "-m", "tests.ledger.archive_worker", pg_url,
                                 f"worker-{n}", str(log), str(start)], cwd=REPO)
               for n, log in enumerate(logs, 1)]
    start.touch()
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    done = [[int(line) for line in log.read_text().split()] for log in logs]
    assert all(done), "both workers should have archived files"
    assert Counter(done[0] + done[1]) == Counter(ids)  # every file once, none twice
    assert ledger.counts_by_stage() == {OUTPUT.value: 300}
    ledger.close()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster this test may stop: never the shared server."""
    cluster = Cluster()
    cluster.start()
    yield cluster
    cluster.remove()


def test_server_stopping_mid_step_fails_the_step_and_the_rerun_finishes(
        own_server: Cluster) -> None:
    url = own_server.url
    migrate_url(url)
    ledger = PostgresLedger(url, timeout=2)
    ids = seed(ledger, 30)
    archived: list[int] = []
    batches = 0

    def stop_during_second_batch() -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            own_server.stop("immediate")

    with pytest.raises(LedgerError) as failure:
        run_step(ledger, "run-1", lambda m: archived.append(m.id),  # type: ignore[arg-type]
                 batch=10, before_apply=stop_during_second_batch)
    message = str(failure.value)
    assert "\n" not in message and message.startswith(f"ledger {url}:")
    assert failure.value.retryable
    ledger.close()
    first_batch = archived[:10]

    own_server.start()
    rerun = PostgresLedger(url, timeout=2)
    again: list[int] = []
    assert run_step(rerun, "run-1", lambda m: again.append(m.id), batch=10) == 20  # type: ignore[arg-type]
    assert sorted(again) == sorted(set(ids) - set(first_batch))
    assert rerun.counts_by_stage() == {OUTPUT.value: 30}
    for file_id in ids:  # one move per file: nothing recorded twice, nothing lost
        assert [e.to_stage for e in rerun.events(file_id)] == [Stage.DOWNLOADED, OUTPUT]
    rerun.close()


def test_unreachable_server_is_one_line_without_the_password() -> None:
    url = "postgresql://mediasync:s3cret-pw@127.0.0.1:9/ledger"  # port 9: nothing listens
    with pytest.raises(LedgerError) as failure:
        open_ledger(url, Path("."), timeout=1)
    message = str(failure.value)
    assert "s3cret-pw" not in message and "\n" not in message
    assert "postgresql://mediasync:***@127.0.0.1:9/ledger" in message


def test_migrations_apply_once(pg_url: str) -> None:
    assert migrate_url(pg_url) == []  # the session's database is migrated already
    ledger = PostgresLedger(pg_url)
    assert ledger.schema_version() == "20261121170000"
    ledger.close()


def test_every_table_has_row_level_security(pg_url: str) -> None:
    ledger = PostgresLedger(pg_url)
    rows = ledger._query("SELECT relname, relrowsecurity FROM pg_class WHERE relname = ANY(%s)",
                         (["schema_migrations", *TABLES],))
    assert {r["relname"]: r["relrowsecurity"] for r in rows} == {
        t: True for t in ["schema_migrations", *TABLES]}
    ledger.close()
