"""Odd and broken files: each gets a clear ledger entry, and nothing is lost."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest

from mediasync.files import escape_undecodable, safe_filename
from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import MediaFile, Stage
from mediasync.pipeline.steps import STEPS, open_context
from mediasync.sources.folder import decode_relpath
from tests.helpers import Workspace, archived_files, sha256

pytestmark = pytest.mark.usefixtures("prefect_api")

TAKEN = __import__("datetime").datetime(2023, 5, 4, 12, 0, 0)
LONG_NAME = "L" * 251 + ".jpg"  # 255 bytes, the most a Linux filesystem allows


def _jpeg(path: Path, seed: int) -> Path:
    return photo(path, PhotoSpec(captured=TAKEN, seed=seed, size=(320, 240)))


@pytest.fixture(scope="module")
def odd_library(tmp_path_factory, prefect_api) -> tuple[Workspace, dict[str, MediaFile]]:
    ws = Workspace.create(tmp_path_factory.mktemp("odd"))
    lib = ws.library
    (lib / "empty.jpg").write_bytes(b"")
    truncated = _jpeg(lib / "truncated.jpg", 1)
    truncated.write_bytes(truncated.read_bytes()[:400])
    (lib / "notes.jpg").write_text("this is text, not a photo")
    _jpeg(lib / "new\nline.jpg", 2)
    raw = os.path.join(os.fsencode(lib), b"caf\xe9.jpg")
    with open(raw, "wb") as handle:
        handle.write(_jpeg(lib / "tmp-source.jpg", 3).read_bytes())
    (lib / "tmp-source.jpg").unlink()
    _jpeg(lib / "..dots.jpg", 4)
    _jpeg(lib / "-dash.jpg", 5)
    _jpeg(lib / LONG_NAME, 6)
    _jpeg(lib / "a" / "IMG_0001.jpg", 7)
    _jpeg(lib / "b" / "IMG_0001.jpg", 8)
    twin = _jpeg(lib / "original.jpg", 9)
    (lib / "copy of original.jpg").write_bytes(twin.read_bytes())
    (lib / "IMG_0001.AAE").write_text("<plist>edits</plist>")
    (lib / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")

    state = ws.run()
    assert state.is_completed(), state.message
    rows = {m.source_id: m for m in ws.ledger().files_where()}
    return ws, rows


def _row(rows: dict[str, MediaFile], source_id: str) -> MediaFile:
    assert source_id in rows, f"no ledger entry for {source_id!r}"
    return rows[source_id]


def test_empty_file_fails_at_download(odd_library):
    _, rows = odd_library
    row = _row(rows, "empty.jpg")
    assert row.workflow_stage == Stage.FAILED
    assert row.error == "empty file (0 bytes) at the source"


def test_truncated_jpeg_fails_with_its_reason_and_its_bytes_are_kept(odd_library):
    ws, rows = odd_library
    row = _row(rows, "truncated.jpg")
    assert row.workflow_stage == Stage.FAILED
    assert row.failed_stage == Stage.NAS_ARCHIVED  # archived as is, then refused by step 5
    assert "truncated" in row.error and "truncated.jpg" in row.error
    assert Path(row.nas_path).read_bytes() == (ws.library / "truncated.jpg").read_bytes()


def test_text_file_named_jpg_fails(odd_library):
    _, rows = odd_library
    row = _row(rows, "notes.jpg")
    assert row.workflow_stage == Stage.FAILED
    assert "not a readable image" in row.error


@pytest.mark.parametrize("source_id", ["new\nline.jpg", "..dots.jpg", "-dash.jpg", LONG_NAME])
def test_odd_names_are_archived_under_safe_names(odd_library, source_id):
    ws, rows = odd_library
    row = _row(rows, source_id)
    assert row.workflow_stage == Stage.COMPLETED, row.error
    archived = Path(row.nas_path)
    assert archived.resolve().is_relative_to(ws.nas.resolve())
    assert "\n" not in archived.name and not archived.name.startswith(("-", "."))
    assert len(archived.name.encode()) <= 255
    assert sha256(archived) == sha256(ws.library / source_id)


def test_non_utf8_name_is_archived_and_traceable(odd_library):
    ws, rows = odd_library
    [row] = [m for m in rows.values() if m.source_id.startswith("raw:")]
    assert row.workflow_stage == Stage.COMPLETED, row.error
    assert row.filename == "caf%E9.jpg"  # escaped, not replaced by U+FFFD
    archived = Path(row.nas_path)
    assert archived.name == "caf%E9.jpg"
    assert unquote_to_bytes(archived.name) == b"caf\xe9.jpg"  # the escape reverses
    assert decode_relpath(row.source_id) == b"caf\xe9.jpg"  # the ledger keeps the bytes
    original = os.path.join(os.fsencode(ws.library), b"caf\xe9.jpg")
    with open(original, "rb") as handle:
        assert archived.read_bytes() == handle.read()


def test_two_different_files_with_one_name_both_survive(odd_library):
    ws, rows = odd_library
    first, second = _row(rows, "a/IMG_0001.jpg"), _row(rows, "b/IMG_0001.jpg")
    assert first.nas_path != second.nas_path
    assert Path(first.nas_path).read_bytes() == (ws.library / "a/IMG_0001.jpg").read_bytes()
    assert Path(second.nas_path).read_bytes() == (ws.library / "b/IMG_0001.jpg").read_bytes()


def test_one_content_under_two_names_is_stored_once(odd_library):
    ws, rows = odd_library
    first, second = _row(rows, "original.jpg"), _row(rows, "copy of original.jpg")
    assert first.workflow_stage == second.workflow_stage == Stage.COMPLETED, \
        (first.failed_stage, first.error, second.failed_stage, second.error)
    assert first.nas_path == second.nas_path
    assert len(archived_files(ws.nas)[first.content_hash]) == 1


def test_sidecar_is_skipped_with_a_reason(odd_library):
    _, rows = odd_library
    row = _row(rows, "IMG_0001.AAE")
    assert row.workflow_stage == Stage.SKIPPED
    assert "sidecar" in row.error


def test_system_junk_is_ignored_and_nothing_at_the_source_is_lost(odd_library):
    ws, rows = odd_library
    assert ".DS_Store" not in rows
    on_disk = {os.path.relpath(os.path.join(d, n), os.fsencode(ws.library))
               for d, _, names in os.walk(os.fsencode(ws.library)) for n in names}
    assert len(on_disk) == len(rows) + 1  # every source file is still there, .DS_Store too


def test_sparse_file_that_cannot_be_media_is_refused_before_copying(tmp_path):
    """4 GiB of holes named .mov: refused on its first bytes, no working copy written."""
    ws = Workspace.create(tmp_path)
    _jpeg(ws.library / "IMG_0001.jpg", 1)
    with open(ws.library / "holes.mov", "wb") as handle:
        handle.truncate(4 << 30)

    ctx = open_context(ws.settings(), "run-1")
    try:
        report = STEPS[0].run(ctx)
        rows = {m.source_id: m for m in ctx.ledger.files_where()}
    finally:
        ctx.ledger.close()
    assert (report.done, report.failed) == (1, 1)
    row = rows["holes.mov"]
    assert row.workflow_stage == Stage.FAILED and row.local_path is None
    assert row.error == ("holes.mov: not a photo or video: no media signature, and a sparse"
                         f" file ({4 << 30} bytes, 0 on disk); refused before copying")
    incoming = ws.root / "workflow" / "incoming"
    assert [p.name for p in incoming.iterdir()] == [Path(rows["IMG_0001.jpg"].local_path).name]


@pytest.mark.parametrize("raw", [b"caf\xe9.jpg", b"100%\xff\xfe.jpg", b"\xe9t\xc3\xa9 %41.jpg"])
def test_undecodable_name_bytes_are_escaped_reversibly(raw):
    escaped = escape_undecodable(raw)
    assert "\ufffd" not in escaped and escaped.isprintable()
    assert unquote_to_bytes(escaped) == raw
    assert safe_filename(os.fsdecode(raw)) == escaped


def test_a_valid_utf8_name_keeps_its_percent_signs():
    assert escape_undecodable("100% été.jpg".encode()) == "100% été.jpg"
