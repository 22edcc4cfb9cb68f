"""What only a real Postgres server shows: two worker processes claiming at once, the
server going away in the middle of a step, and messages that keep the password out."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mediasync.errors import LedgerError
from mediasync.ledger import open_ledger
from mediasync.ledger.base import TABLES
from mediasync.ledger.migrate import migrate_url
from mediasync.ledger.postgres import PostgresLedger
from mediasync.model import MediaFile
from tests.ledger.archive_worker import OUTPUT
from tests.ledger.conftest import empty_tables

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
    assert ledger.schema_version() == "20261206041500"
    ledger.close()


def test_every_table_has_row_level_security(pg_url: str) -> None:
    ledger = PostgresLedger(pg_url)
    rows = ledger._query("SELECT relname, relrowsecurity FROM pg_class WHERE relname = ANY(%s)",
                         (["schema_migrations", *TABLES],))
    assert {r["relname"]: r["relrowsecurity"] for r in rows} == {
        t: True for t in ["schema_migrations", *TABLES]}
    ledger.close()
