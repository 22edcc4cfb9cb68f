"""What every source kind must do, each case run on all four (conftest.py builds them):
list everything across pages, group files as it declares, download atomically, refuse a
short body, delete by id only, and report a refused delete as refused. A new source kind
gets a harness in conftest.py and passes these cases unchanged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mediasync.errors import DownloadMismatch, FileProblem, SourceError
from mediasync.files import PARTIAL_SUFFIX
from mediasync.model import UNARCHIVED_PARTS, MediaType
from mediasync.sources.base import DeleteOutcome, PresenceCheck
from tests.sources.conftest import Harness

BODY = 100_000  # a few chunks of every client's transfer


def body(seed: str, size: int = BODY) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_lists_every_asset_across_pages(kind: Harness) -> None:
    # a folder is read whole; a service is made to answer more than one page
    count = (kind.page or 100) + 1
    expected = {kind.put(f"2024/many/IMG_{i:04d}.JPG", body(str(i), 100 + i)): 100 + i
                for i in range(count)}
    expected[kind.put("2023/deep/er/IMG_9999.JPG", b"deep")] = 4

    listed = list(kind.source.list_assets())

    assert sorted(a.source_id for a in listed) == sorted(expected)  # each one once
    assert {a.source_id: a.size for a in listed} == expected
    assert all(a.filename.startswith("IMG_") and a.filename.endswith(".JPG") for a in listed)
    pages = kind.pages_read()
    if kind.page is not None and pages is not None:  # the double can tell
        assert pages >= 2


def test_groups_a_live_photo_and_its_sidecar(kind: Harness) -> None:
    kind.put("2024/IMG_0002.JPG", body("neighbour"))
    kind.put_live_photo("IMG_0001", body("image"), body("video"), b"<plist/>")
    kind.put("2024/IMG_0000.JPG", body("other neighbour"))

    listed = list(kind.source.list_assets())
    mine = [a for a in listed if a.filename.startswith("IMG_0001.")]

    if kind.source.features.groups_files:
        # one asset of two files, listed together; the sidecar is a part it keeps
        image, video = mine
        assert (image.media_type, video.media_type) == (MediaType.IMAGE, MediaType.VIDEO)
        assert image.group_id is not None and image.group_id == video.group_id
        assert listed.index(video) == listed.index(image) + 1
        assert image.extra["group_size"] == video.extra["group_size"] == 2
        assert image.extra[UNARCHIVED_PARTS] == video.extra[UNARCHIVED_PARTS] == ["sidecar"]
    else:
        # three files of their own, typed by name; step 5 pairs image and video by name
        by_ext = {a.filename.rsplit(".", 1)[1]: a for a in mine}
        assert {ext: a.media_type for ext, a in by_ext.items()} == {
            "HEIC": MediaType.IMAGE, "MOV": MediaType.VIDEO, "AAE": MediaType.SIDECAR}
        assert all(a.group_id is None for a in mine)
        stems = {by_ext[ext].source_id.rpartition(".")[0] for ext in ("HEIC", "MOV")}
        assert len(stems) == 1


def test_a_download_cut_short_leaves_nothing_at_the_destination(kind: Harness,
                                                               tmp_path: Path) -> None:
    data = body("cut")
    source_id = kind.put("2024/IMG_0003.JPG", data)
    asset = kind.listed()[source_id]
    kind.cut_short(asset)
    dest = tmp_path / "incoming" / "IMG_0003.JPG"

    try:
        got = kind.source.download(asset, dest)
    except (FileProblem, SourceError):
        assert leftovers(dest.parent) == []
    else:  # the source fetched it again, whole
        assert kind.transfers(asset) in (None, 2)
        assert (got.path, got.size) == (dest, len(data))
        assert got.sha256 == hashlib.sha256(data).hexdigest()
        assert dest.read_bytes() == data
        assert leftovers(dest.parent) == [dest.name]


def test_a_body_shorter_than_listed_is_refused(kind: Harness, tmp_path: Path) -> None:
    source_id = kind.put("2024/IMG_0004.JPG", body("short"))
    asset = kind.listed()[source_id]
    kind.shrink(asset)
    dest = tmp_path / "incoming" / "IMG_0004.JPG"

    with pytest.raises(DownloadMismatch) as refused:  # a FileProblem: it fails alone
        kind.source.download(asset, dest)

    assert "\n" not in str(refused.value)
    assert leftovers(dest.parent) == []
    assert not any(name.endswith(PARTIAL_SUFFIX) for name in leftovers(dest.parent))


def test_delete_goes_by_id_and_leaves_the_namesake(kind: Harness) -> None:
    assert kind.source.features.can_delete
    gone = kind.put("2024/a/IMG_0005.JPG", body("first"))
    namesake = kind.put("2024/b/IMG_0005.JPG", body("second"))
    rows = kind.downloaded()

    outcomes = kind.source.delete([rows[gone]])

    assert outcomes == [DeleteOutcome(gone, True)]
    assert not kind.holds(gone) and kind.holds(namesake)
    assert set(kind.listed()) == {namesake}
    if isinstance(kind.source, PresenceCheck):
        assert kind.source.still_present([rows[gone], rows[namesake]]) == {namesake}


@pytest.mark.parametrize("refusal", ["the service says no", "changed since download"])
def test_a_refused_delete_is_reported_as_refused(kind: Harness, refusal: str) -> None:
    assert kind.source.features.can_delete
    source_id = kind.put("2024/IMG_0006.JPG", body("kept"))
    kept = kind.put("2024/IMG_0007.JPG", body("deleted"))
    rows = kind.downloaded()
    if refusal == "the service says no":
        kind.refuse_deletes(rows[source_id])
    else:
        kind.change(rows[source_id])

    outcomes = {o.source_id: o for o in kind.source.delete([rows[source_id], rows[kept]])}

    assert not outcomes[source_id].deleted and outcomes[source_id].reason
    assert outcomes[kept] == DeleteOutcome(kept, True)  # the batch goes on
    assert kind.holds(source_id) and not kind.holds(kept)
    if isinstance(kind.source, PresenceCheck):
        assert kind.source.still_present([rows[source_id], rows[kept]]) == {source_id}


def test_downloads_are_whole_and_hashed(kind: Harness, tmp_path: Path) -> None:
    data = os.urandom(BODY)
    source_id = kind.put("2024/IMG_0008.JPG", data)
    got = kind.source.download(kind.listed()[source_id], tmp_path / "IMG_0008.JPG")
    assert (got.size, got.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert got.path.read_bytes() == data
