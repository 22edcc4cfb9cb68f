"""The reconcile flow on a real Prefect API (the session's shared test server)."""

from pathlib import Path
from typing import Any

import pytest

from flows.reconcile import reconcile
from mediasync.ledger.sqlite import SqliteLedger
from tests.watch.conftest import write

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_reconcile_flow_returns_the_counts_of_every_folder(tmp_path: Path) -> None:
    config = write(tmp_path / "mediasync.toml",
                   '[ledger]\nurl = "sqlite:///ledger.db"\n[watch]\nroots = ["one", "two"]\n')
    write(tmp_path / "one/a.jpg", b"a")
    write(tmp_path / "one/sub/b.jpg", b"b")
    write(tmp_path / "two/c.jpg", b"c")

    state = reconcile(config=str(config), return_state=True)
    assert state.is_completed(), state.message
    summary: dict[str, Any] = state.result()  # type: ignore[assignment]
    assert (summary["scanned"], summary["added"], summary["removed"]) == (3, 3, 0)
    assert [r["root"] for r in summary["roots"]] == [str(tmp_path / "one"),
                                                     str(tmp_path / "two")]

    (tmp_path / "one/a.jpg").unlink()
    state = reconcile(roots=[str(tmp_path / "one")], config=str(config), return_state=True)
    assert state.result()["removed"] == 1  # type: ignore[index]
    ledger = SqliteLedger(tmp_path / "ledger.db")
    [op] = ledger.recent_operations(1, operation_type="reconciliation")
    assert op.files_removed == 1 and op.run_id not in (None, "local")
    ledger.close()


def test_reconcile_flow_without_folders_fails_with_a_clear_message(tmp_path: Path) -> None:
    config = write(tmp_path / "mediasync.toml", '[ledger]\nurl = "sqlite:///ledger.db"\n')
    state = reconcile(config=str(config), return_state=True)
    assert state.is_failed()
    assert state.message == "nothing to reconcile: pass roots or set watch.roots"
