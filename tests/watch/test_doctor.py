"""The doctor on a real ledger and real folders, seeded through the ledger's own API."""

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mediasync.errors import ConfigError
from mediasync.ledger.sqlite import SqliteLedger
from mediasync.model import MediaFile, MediaType, Stage, StageChange
from mediasync.nas import identity as archive_identity
from mediasync.nas.archive import MARKER_NAME, NasArchive
from mediasync.pipeline.versions import retirement
from mediasync.records.doctor import DoctorReport, Finding, diagnose
from mediasync.records.doctor_fixes import apply_fix
from mediasync.settings import Settings, load_settings
from mediasync.sources.folder import FolderSource
from tests.watch.conftest import write

MAY = datetime(2024, 5, 1, 12, tzinfo=UTC)


@dataclass
class Site:
    settings: Settings
    ledger: SqliteLedger

    def folder(self, place: str) -> Path:
        return self.settings.resolve(getattr(self.settings.workflow, place))

    def add(self, name: str, stage: Stage, *, captured: datetime = MAY, working: bool = True,
            archived: bool = True, error: str | None = None,
            source: str = "folder:/src") -> MediaFile:
        data = f"bytes of {name}".encode()
        local = write(self.folder("incoming") / name, data)
        media = MediaFile(source=source, source_id=name, filename=name, size=len(data),
                          content_hash=hashlib.sha256(data).hexdigest(), captured_at=captured,
                          media_type=MediaType.IMAGE, local_path=str(local))
        [media] = self.ledger.add_files([media], "seed")
        assert media.id is not None
        if archived:
            nas = write(self.folder("nas_archive") / f"{captured:%Y/%m/%d}" / name, data)
            self.ledger.apply([StageChange(media.id, Stage.NAS_ARCHIVED, {
                "nas_archived": True, "nas_path": str(nas), "nas_hash": media.content_hash})],
                "seed")
        if error is not None:
            self.ledger.apply([StageChange(media.id, Stage.FAILED, {"error": error})], "seed")
        elif stage != self.ledger.get(media.id).workflow_stage:  # type: ignore[union-attr]
            self.ledger.apply([StageChange(media.id, stage)], "seed")
        if not working:  # what cleanup does: remove the working copy, forget its path
            local.unlink()
            self.ledger.update(media.id, "seed", local_path=None)
        return self.ledger.get(media.id)  # type: ignore[return-value]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    config = write(tmp_path / "mediasync.toml", '[ledger]\nurl = "sqlite:///ledger.db"\n')
    settings = load_settings(config)
    for place in ("incoming", "pixel_sync", "nas_archive", "processing", "compressed",
                  "icloud_delete"):
        settings.resolve(getattr(settings.workflow, place)).mkdir(parents=True)
    ledger = SqliteLedger(settings.base_dir / "ledger.db")
    archive_identity.init(ledger, NasArchive(settings.resolve(settings.workflow.nas_archive)),
                          "seed")
    yield Site(settings, ledger)
    ledger.close()


def only(report: DoctorReport, code: str, place: str | None = None) -> Finding:
    found = [f for f in report.findings if f.code == code and place in (None, f.place)]
    assert len(found) == 1, [(f.code, f.place) for f in report.findings]
    return found[0]


def later(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


def test_nothing_to_report_when_everything_agrees(site: Site) -> None:
    site.add("a.jpg", Stage.COMPLETED, working=False)
    site.add("b.jpg", Stage.COMPLETED, working=False)
    site.add("c.jpg", Stage.NAS_ARCHIVED)
    report = diagnose(site.settings, site.ledger)
    assert report.findings == []
    assert not report.needs_action
    assert report.places["incoming"] == 1 and report.places["nas_archive"] == 3
    assert report.places["pixel_sync"] == 0
    assert report.stages == {"completed": 2, "nas_archived": 1}
    assert report.as_dict()["needs_action"] is False


def test_seeded_drift_is_reported_each_with_its_fix(site: Site) -> None:
    healthy = site.add("fine.jpg", Stage.COMPLETED, working=False)
    lost = site.add("lost.jpg", Stage.COMPLETED, working=False,
                    captured=datetime(2024, 3, 24, tzinfo=UTC))
    restorable = site.add("restorable.jpg", Stage.COMPLETED,
                          captured=datetime(2024, 9, 17, tzinfo=UTC))
    Path(lost.nas_path or "").unlink()  # archive files deleted by hand
    Path(restorable.nas_path or "").unlink()
    stray = write(site.folder("nas_archive") / "2023/stray.jpg", b"put here by hand")
    stuck = site.add("stuck.jpg", Stage.NAS_ARCHIVED)
    failed = site.add("bad.jpg", Stage.FAILED, archived=False,
                      error="bad.jpg: cannot decode image")

    report = diagnose(site.settings, site.ledger, now=later(30))

    assert report.needs_action
    missing = only(report, "archive_missing")
    assert missing.file_ids == [restorable.id] and missing.needs_action
    assert missing.fix == "mediasync doctor --fix archive_missing"
    assert (missing.first, missing.last) == ("2024-09-17", "2024-09-17")
    gone = only(report, "archive_lost")
    assert gone.file_ids == [lost.id] and gone.examples == [lost.nas_path]
    assert gone.first == "2024-03-24" and "restore" in gone.fix
    strays = only(report, "unrecorded", "nas_archive")
    assert strays.examples == [str(stray)] and strays.count == 1
    assert "source folder" in strays.fix
    late = only(report, "stuck")
    assert late.place == "nas_archived" and late.file_ids == [stuck.id]
    assert late.fix == "mediasync run"
    broken = only(report, "failed")
    assert broken.file_ids == [failed.id]
    assert broken.summary == "failed: <file>: cannot decode image (at downloaded)"
    assert broken.fix.endswith("`mediasync doctor --fix failed` (each file goes back to the"
                               " stage it failed at)")
    assert healthy.id not in {i for f in report.findings for i in f.file_ids}
    assert len(report.findings) == 5


def test_a_working_copy_removed_after_archiving_does_not_matter(site: Site) -> None:
    """The 46-files case: recorded, archived, working copy gone: expected, no action."""
    media = site.add("old.jpg", Stage.COMPLETED)
    Path(media.local_path or "").unlink()
    report = diagnose(site.settings, site.ledger)
    finding = only(report, "working_copy_gone")
    assert not finding.needs_action and finding.fix == "none needed"
    assert not report.needs_action


def test_a_working_copy_lost_before_archiving_matters(site: Site) -> None:
    media = site.add("new.jpg", Stage.DOWNLOADED, archived=False)
    Path(media.local_path or "").unlink()
    finding = only(diagnose(site.settings, site.ledger), "working_copy_missing")
    assert finding.needs_action and finding.examples == [media.local_path]


def test_an_unmounted_archive_is_one_finding_not_one_per_file(site: Site) -> None:
    site.add("a.jpg", Stage.COMPLETED, working=False)
    site.add("b.jpg", Stage.COMPLETED, working=False)
    shutil.rmtree(site.folder("nas_archive"))
    report = diagnose(site.settings, site.ledger)
    finding = only(report, "archive_unreachable")
    assert finding.count == 2 and "mount the NAS" in finding.fix
    assert report.places["nas_archive"] is None
    assert [f.code for f in report.findings] == ["archive_unreachable"]


def test_an_empty_mount_point_is_not_the_archive(site: Site) -> None:
    site.add("a.jpg", Stage.COMPLETED, working=False)
    known = archive_identity.recorded(site.ledger)
    assert known is not None
    assert diagnose(site.settings, site.ledger).archive_identity == f"archive id {known.id}"
    shutil.rmtree(site.folder("nas_archive"))
    site.folder("nas_archive").mkdir()  # the mount point an unmounted NAS leaves behind
    report = diagnose(site.settings, site.ledger)
    finding = only(report, "archive_identity")
    assert finding.needs_action and "mediasync nas init" in finding.fix
    assert finding.summary.startswith(
        f"NAS not mounted or not the archive (expected id {known.id})")
    assert finding.summary.endswith(f"has no {MARKER_NAME}")


def test_stray_files_in_working_folders_are_reported_per_folder(site: Site) -> None:
    write(site.folder("incoming") / "left.jpg", b"x")
    write(site.folder("processing") / "half.jpg", b"x")
    write(site.folder("incoming") / ".left.jpg.mediasync-partial", b"x")  # ignored
    report = diagnose(site.settings, site.ledger)
    assert only(report, "unrecorded", "incoming").examples[0].endswith("incoming/left.jpg")
    assert only(report, "unrecorded", "processing").count == 1
    assert len(report.findings) == 2


def test_recent_files_waiting_for_the_keep_recent_guard_are_not_stuck(site: Site) -> None:
    site.add("recent.jpg", Stage.ICLOUD_DELETE_READY, captured=datetime.now(UTC))
    old = site.add("old.jpg", Stage.ICLOUD_DELETE_READY)
    report = diagnose(site.settings, site.ledger, now=later(30))
    assert only(report, "stuck").file_ids == [old.id]


def test_per_stage_thresholds(site: Site) -> None:
    site.settings.watch.stuck_after_hours_by_stage = {Stage.NAS_ARCHIVED: 100}
    site.add("slow.jpg", Stage.NAS_ARCHIVED)
    assert diagnose(site.settings, site.ledger, now=later(30)).findings == []
    assert only(diagnose(site.settings, site.ledger, now=later(101)), "stuck").count == 1


def test_fix_archive_missing_restores_a_verified_copy(site: Site) -> None:
    media = site.add("a.jpg", Stage.COMPLETED)
    nas = Path(media.nas_path or "")
    nas.unlink()
    result = apply_fix(site.settings, site.ledger, "archive_missing", run_id="fix")
    assert (result.fixed, result.skipped) == (1, [])
    assert nas.read_bytes() == b"bytes of a.jpg"
    restored = site.ledger.get(media.id or 0)
    assert restored is not None and restored.nas_hash == media.content_hash
    assert diagnose(site.settings, site.ledger).findings == []


def test_fix_archive_missing_never_restores_from_a_changed_copy(site: Site) -> None:
    media = site.add("a.jpg", Stage.COMPLETED)
    Path(media.nas_path or "").unlink()
    Path(media.local_path or "").write_bytes(b"edited since")
    assert only(diagnose(site.settings, site.ledger), "archive_lost").file_ids == [media.id]
    assert apply_fix(site.settings, site.ledger, "archive_missing").fixed == 0
    assert not Path(media.nas_path or "").exists()


def test_fix_failed_sends_files_back_to_the_stage_they_failed_at(site: Site) -> None:
    media = site.add("bad.jpg", Stage.FAILED, error="bad.jpg: cannot decode")
    result = apply_fix(site.settings, site.ledger, "failed")
    assert result.fixed == 1
    again = site.ledger.get(media.id)  # type: ignore[arg-type]
    assert again is not None
    assert (again.workflow_stage, again.error) == (Stage.NAS_ARCHIVED, None)
    assert site.ledger.events(media.id)[-1].detail.startswith("requeued")  # type: ignore


def test_fix_pixel_copy_missing_links_the_working_copy_back(site: Site) -> None:
    media = site.add("p.jpg", Stage.DOWNLOADED, archived=False)
    pixel = site.folder("pixel_sync") / "p.jpg"
    site.ledger.apply([StageChange(media.id, Stage.PIXEL_SYNC_READY,  # type: ignore[arg-type]
                                   {"pixel_path": str(pixel)})], "seed")
    assert only(diagnose(site.settings, site.ledger), "pixel_copy_missing").count == 1
    assert apply_fix(site.settings, site.ledger, "pixel_copy_missing").fixed == 1
    assert pixel.read_bytes() == b"bytes of p.jpg"
    assert diagnose(site.settings, site.ledger).findings == []


def test_the_source_listing_is_compared_with_the_ledger(site: Site, tmp_path: Path) -> None:
    library = tmp_path / "library"
    source = FolderSource(library)
    write(library / "kept.jpg", b"bytes of kept.jpg")  # what the ledger recorded
    write(library / "new.jpg", b"n")
    site.add("kept.jpg", Stage.NAS_ARCHIVED, source=source.name)
    removed = site.add("removed.jpg", Stage.COMPLETED, working=False, source=source.name)
    early = site.add("early.jpg", Stage.DOWNLOADED, archived=False, source=source.name)
    site.add("other.jpg", Stage.NAS_ARCHIVED)  # from another source: not compared

    report = diagnose(site.settings, site.ledger, source)

    assert report.places["source"] == 2
    assert only(report, "not_imported").examples == ["new.jpg"]
    assert not only(report, "not_imported").needs_action
    assert only(report, "removed_at_source").file_ids == [removed.id]
    assert not only(report, "removed_at_source").needs_action
    lone = only(report, "gone_from_source")
    assert lone.file_ids == [early.id] and lone.needs_action
    assert lone.fix.startswith("mediasync run")
    assert len(report.findings) == 3


def test_versions_changed_and_superseded_at_the_source_are_reported(
        site: Site, tmp_path: Path) -> None:
    """Issue 22: an edit in place at the source is no longer met with silence."""
    library = tmp_path / "library"
    source = FolderSource(library)
    write(library / "edited.jpg", b"bytes of edited.jpg, edited")  # not imported yet
    edited = site.add("edited.jpg", Stage.COMPLETED, working=False, source=source.name)
    write(library / "again.jpg", b"the newer version")
    older = site.add("again.jpg", Stage.COMPLETED, working=False, source=source.name)
    site.ledger.note([retirement(older, "run-2")], "run-2")

    report = diagnose(site.settings, site.ledger, source)

    changed = only(report, "changed_at_source")
    assert changed.file_ids == [edited.id] and not changed.needs_action
    assert changed.fix == "mediasync run"
    superseded = only(report, "superseded_at_source")
    assert superseded.file_ids == [older.id] and not superseded.needs_action
    assert superseded.examples == [f"again.jpg: {older.nas_path}"]
    assert only(report, "not_imported").examples == ["again.jpg"]  # the newer version
    assert {f.code for f in report.findings} == {
        "changed_at_source", "superseded_at_source", "not_imported"}


def test_an_archive_on_an_sftp_server_is_not_taken_for_missing(site: Site,
                                                               tmp_path: Path) -> None:
    site.add("a.jpg", Stage.COMPLETED, working=False)
    shutil.rmtree(site.folder("nas_archive"))  # the local folder is not where it lives
    config = write(tmp_path / "sftp.toml", '[ledger]\nurl = "sqlite:///ledger.db"\n'
                   '[sftp.archive]\nhost = "nas.example"\nroot = "/volume1/photos"\n')
    report = diagnose(load_settings(config), site.ledger)
    finding = only(report, "archive_not_checked")
    assert (finding.count, finding.needs_action) == (1, False)
    assert finding.fix == "mediasync sftp check"
    assert "nas_archive" not in report.places and len(report.findings) == 1


def test_unknown_fix_is_a_clear_error(site: Site) -> None:
    with pytest.raises(ConfigError, match="no automatic fix for 'stuck'"):
        apply_fix(site.settings, site.ledger, "stuck")
