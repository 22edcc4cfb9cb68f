"""Issue 22, item 7, on a folder source: a photo edited in place at the source is a new
version. It is archived beside the old one (which stays untouched), the change is in
stage_events, and the source file is deleted only once the new version is proven; the
old version is never deleted at the source. Nothing changed means nothing imported."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import MediaFile, Stage
from mediasync.pipeline.steps import STEPS, open_context
from mediasync.pipeline.versions import Versions
from tests.helpers import Workspace, archived_files, sha256

OLD = datetime(2021, 5, 1, 12, 0).timestamp()  # mtimes before keep_recent_days


def workspace(tmp_path: Path, delete: bool) -> Workspace:
    ws = Workspace.create(tmp_path, "\n[guards]\nkeep_recent_days = 0\n"
                                    "delete_interval_seconds = 0\n")
    set_delete(ws, delete)
    return ws


def set_delete(ws: Workspace, on: bool) -> None:
    text = ws.config.read_text().replace("\ndelete = true", "")
    if on:
        text = text.replace('path = "library"', 'path = "library"\ndelete = true')
    ws.config.write_text(text)


def run_steps(ws: Workspace, run_id: str, first: int = 1, last: int = 8) -> list[str]:
    ctx = open_context(ws.settings(), run_id)
    try:
        return [step.run(ctx).message for step in STEPS[first - 1:last]]
    finally:
        ctx.ledger.close()


def edit(path: Path, seed: int, mtime: float) -> None:
    """An edit in place: other bytes under the same name, a later mtime."""
    photo(path, PhotoSpec(seed=seed, size=(320, 240)))
    os.utime(path, (mtime, mtime))


def rows(ws: Workspace) -> list[MediaFile]:
    ledger = ws.ledger()
    try:
        return ledger.files_where()
    finally:
        ledger.close()


def test_a_photo_edited_after_archiving_is_archived_again_beside_the_old(
        tmp_path: Path) -> None:
    ws = workspace(tmp_path, delete=False)
    source = ws.library / "trip" / "IMG_1.jpg"
    source.parent.mkdir()
    edit(source, seed=1, mtime=OLD)
    first_hash = sha256(source)
    run_steps(ws, "run-1")
    [archived] = archived_files(ws.nas)[first_hash]
    archived_before = archived.stat()

    edit(source, seed=2, mtime=OLD + 60)
    second_hash = sha256(source)
    set_delete(ws, True)
    messages = run_steps(ws, "run-2", last=6)
    assert "1 changed at the source, taken as new versions" in messages[0]
    assert source.exists(), "deleted before the new version was proven"
    assert sha256(source) == second_hash

    messages += run_steps(ws, "run-2", first=7)
    assert "deleted 1 at the source" in messages[6]
    assert "kept 1 (superseded by a newer version at the source)" in messages[6]
    assert not source.exists()

    archive = archived_files(ws.nas)
    [old_copy], [new_copy] = archive[first_hash], archive[second_hash]
    assert old_copy == archived and old_copy.stat().st_mtime_ns == archived_before.st_mtime_ns
    assert new_copy.parent == old_copy.parent and new_copy.name != old_copy.name
    old, new = sorted(rows(ws), key=lambda m: m.id or 0)
    assert (old.content_hash, new.content_hash) == (first_hash, second_hash)
    assert new.source_id == "trip/IMG_1.jpg" and new.source_deleted_at is not None
    assert old.source_id.startswith("trip/IMG_1.jpg@") and old.source_deleted_at is None
    assert old.superseded_at_source and old.nas_path == str(old_copy)
    ledger = ws.ledger()
    try:
        change = ledger.events(old.id)[-1]  # type: ignore[arg-type]
        assert ledger.deletions(old.id) == []  # type: ignore[arg-type]
    finally:
        ledger.close()
    assert (change.from_stage, change.to_stage, change.run_id) == (
        old.workflow_stage, old.workflow_stage, "run-2")
    assert "superseded at the source by a newer version, run run-2" in (change.detail or "")


def test_a_file_changed_before_it_was_archived_is_archived_but_never_deleted(
        tmp_path: Path) -> None:
    """Its downloaded bytes are a real version too: they finish their way to the archive;
    the source is deleted on the strength of the new version only."""
    ws = workspace(tmp_path, delete=True)
    source = ws.library / "IMG_2.jpg"
    edit(source, seed=3, mtime=OLD)
    first_hash = sha256(source)
    run_steps(ws, "run-1", last=1)
    edit(source, seed=4, mtime=OLD + 1)
    second_hash = sha256(source)

    run_steps(ws, "run-2")
    assert not source.exists()
    archive = archived_files(ws.nas)
    assert len(archive[first_hash]) == 1 and len(archive[second_hash]) == 1
    by_hash = {m.content_hash: m for m in rows(ws)}
    old, new = by_hash[first_hash], by_hash[second_hash]
    assert old.superseded_at_source and old.nas_archived
    assert (old.workflow_stage, old.icloud_delete_ready) == (Stage.COMPLETED, False)
    assert old.source_deleted_at is None and new.source_deleted_at is not None
    # the manifest a person may delete from by hand never lists the older version
    listed = [entry["sha256"] for manifest in (ws.root / "workflow/icloud_delete").iterdir()
              for entry in json.loads(manifest.read_text())["files"]]
    assert listed == [second_hash]


def test_a_rerun_with_nothing_changed_imports_nothing(tmp_path: Path) -> None:
    """Size and mtime as recorded: no false change, no new row, no event."""
    ws = workspace(tmp_path, delete=False)
    for i in range(3):
        edit(ws.library / f"IMG_{i}.jpg", seed=i, mtime=OLD)
    run_steps(ws, "run-1")
    before = {m.id: (m.source_id, m.updated_at) for m in rows(ws)}
    messages = run_steps(ws, "run-2", last=1)
    assert messages[0].startswith("0 downloaded") and "changed" not in messages[0]
    assert {m.id: (m.source_id, m.updated_at) for m in rows(ws)} == before


def test_an_edit_that_keeps_the_size_is_seen_by_its_mtime(tmp_path: Path) -> None:
    ws = workspace(tmp_path, delete=False)
    source = ws.library / "notes.jpg"
    source.write_bytes(b"A" * 4096)
    os.utime(source, (OLD, OLD))
    run_steps(ws, "run-1", last=1)
    source.write_bytes(b"B" * 4096)
    os.utime(source, (OLD, OLD + 0.000001))  # a microsecond later: the ns mtime differs

    messages = run_steps(ws, "run-2", last=1)
    assert "1 changed at the source" in messages[0]
    assert sorted(m.size for m in rows(ws)) == [4096, 4096]


def test_rows_recorded_before_change_tags_compare_by_size(tmp_path: Path) -> None:
    """Files downloaded before the mtime was kept: a new size is a new version, an equal
    size is no change (and never a false one)."""
    ws = workspace(tmp_path, delete=False)
    for name in ("same.jpg", "grown.jpg"):
        (ws.library / name).write_bytes(b"x" * 100)
    run_steps(ws, "run-1", last=1)
    ledger = ws.ledger()
    try:
        for media in ledger.files_where():
            ledger.update(media.id, source_meta={})  # type: ignore[arg-type]
    finally:
        ledger.close()
    (ws.library / "grown.jpg").write_bytes(b"y" * 200)
    os.utime(ws.library / "same.jpg", (OLD, OLD))

    ctx = open_context(ws.settings(), "run-2", dry_run=True)
    try:
        versions = Versions(ctx)
        listed = {a.source_id: versions.is_changed(a) for a in ctx.source.list_assets()}
    finally:
        ctx.ledger.close()
    assert listed == {"grown.jpg": True, "same.jpg": False}


def test_a_dry_run_plans_the_new_version_and_changes_nothing(tmp_path: Path) -> None:
    ws = workspace(tmp_path, delete=False)
    source = ws.library / "IMG_5.jpg"
    edit(source, seed=5, mtime=OLD)
    run_steps(ws, "run-1")
    edit(source, seed=6, mtime=OLD + 5)
    before = [(m.id, m.source_id, m.updated_at) for m in rows(ws)]

    ctx = open_context(ws.settings(), "dry", dry_run=True)
    try:
        report = STEPS[0].run(ctx)
    finally:
        ctx.ledger.close()
    assert [p["action"] for p in report.planned] == [
        "download (changed at the source: a new version beside the archived one)"]
    assert [(m.id, m.source_id, m.updated_at) for m in rows(ws)] == before


def test_a_limit_counts_a_new_version_like_a_new_file(tmp_path: Path) -> None:
    ws = workspace(tmp_path, delete=False)
    for i in range(2):
        edit(ws.library / f"IMG_{i}.jpg", seed=i, mtime=OLD)
    run_steps(ws, "run-1", last=1)
    for i in range(2):
        edit(ws.library / f"IMG_{i}.jpg", seed=i + 10, mtime=OLD + 9)

    ctx = open_context(ws.settings(), "run-2", limit=1)
    try:
        message = STEPS[0].run(ctx).message
    finally:
        ctx.ledger.close()
    assert message.startswith("1 downloaded") and "; 1 changed at the source" in message
    assert sum(m.superseded_at_source for m in rows(ws)) == 1
    assert "1 changed at the source" in run_steps(ws, "run-3", last=1)[0]  # the other one
    assert sum(m.superseded_at_source for m in rows(ws)) == 2


def test_a_touch_that_keeps_the_bytes_is_no_new_version(tmp_path: Path) -> None:
    """A new mtime with the recorded bytes (touched, copied back): downloaded once to
    learn so, then only the recorded mtime changes; the next run lists it as unchanged."""
    ws = workspace(tmp_path, delete=False)
    source = ws.library / "IMG_8.jpg"
    edit(source, seed=8, mtime=OLD)
    run_steps(ws, "run-1")
    [before] = rows(ws)
    os.utime(source, (OLD + 30, OLD + 30))

    message = run_steps(ws, "run-2", last=1)[0]
    assert "1 listed as changed but holding the recorded bytes" in message
    assert "taken as new versions" not in message
    [after] = rows(ws)
    assert (after.id, after.source_id, after.superseded_at_source) == (
        before.id, before.source_id, False)
    assert after.source_meta["mtime_ns"] == source.stat().st_mtime_ns
    assert not any((ws.root / "workflow" / "incoming").iterdir())  # the copy is not kept
    ledger = ws.ledger()
    try:
        assert "but the same bytes, run run-2" in (ledger.events(after.id)[-1].detail or "")  # type: ignore[arg-type]
    finally:
        ledger.close()
    assert run_steps(ws, "run-3", last=1)[0].startswith("0 downloaded")


def test_bytes_put_back_after_their_delete_are_taken_and_deleted_again(
        tmp_path: Path) -> None:
    """The old row's proof was spent on the first delete: the same bytes put back at the
    source come in as a row of their own, deleted again once proven."""
    ws = workspace(tmp_path, delete=True)
    source = ws.library / "IMG_9.jpg"
    edit(source, seed=9, mtime=OLD)
    kept = source.read_bytes()
    run_steps(ws, "run-1")
    assert not source.exists()
    source.write_bytes(kept)
    os.utime(source, (OLD + 60, OLD + 60))

    messages = run_steps(ws, "run-2")
    assert "1 changed at the source, taken as new versions" in messages[0]
    assert not source.exists()
    old, new = sorted(rows(ws), key=lambda m: m.id or 0)
    assert old.content_hash == new.content_hash and old.superseded_at_source
    assert old.source_deleted_at is not None and new.source_deleted_at is not None
    assert len(archived_files(ws.nas)[new.content_hash or ""]) == 1  # stored once
