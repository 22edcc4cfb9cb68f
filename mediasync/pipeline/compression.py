"""Step 6: shrink what the owner's rules ask to shrink, beside the archive."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from mediasync.errors import FileProblem, MediaError
from mediasync.files import atomic_write
from mediasync.media.types import extension
from mediasync.model import MediaFile, Stage, StageChange
from mediasync.pipeline.archive import nas_archive
from mediasync.pipeline.common import ChangeWriter, failure, plan_row, take
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.settings import CompressionRule, CompressionSettings


def run(ctx: RunContext) -> StepReport:
    report = StepReport(6, "compression")
    files = take(ctx, [Stage.PROCESSING_READY])
    settings = ctx.settings.compression
    if ctx.dry_run:
        report.planned = [plan_row(m, _rule_name(pick_rule(settings, m))) for m in files]
        report.done = len(files)
        report.message = f"would consider {len(files)} files for compression"
        return report.finish()
    with ChangeWriter(ctx) as changes:
        for number, media in enumerate(files, 1):
            changes.add(_compress_one(ctx, media, report))
            ctx.progress(number, len(files), media.filename)
    report.message = (f"{report.done} compressed, {report.skipped} kept as is,"
                      f" {report.failed} failed")
    return report.finish()


def pick_rule(settings: CompressionSettings, media: MediaFile) -> CompressionRule | None:
    if not settings.enabled:
        return None
    age_days = (datetime.now(UTC) - _aware(media.captured_at)).days if media.captured_at else 0
    for rule in settings.rules:
        if rule.media_type and rule.media_type != media.media_type.value:
            continue
        if rule.formats and extension(media.filename) not in rule.formats:
            continue
        if rule.older_than_days is not None and age_days < rule.older_than_days:
            continue
        return rule
    return None


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _rule_name(rule: CompressionRule | None) -> str:
    if rule is None or rule.strategy == "keep":
        return "keep as is"
    return f"compress ({rule.strategy})"


def _compress_one(ctx: RunContext, media: MediaFile, report: StepReport) -> StageChange:
    assert media.id is not None
    rule = pick_rule(ctx.settings.compression, media)
    if rule is None or rule.strategy != "jpeg":
        report.skipped += 1
        return StageChange(media.id, Stage.COMPRESSED,
                           {"compression_metadata": {"strategy": "keep"}})
    try:
        target = _target(ctx, media)
        outcome = _jpeg(media.working_path, target, rule,  # type: ignore[arg-type]
                        ctx.settings.compression.min_saving, media.size or 0)
    except FileProblem as exc:
        report.failed += 1
        return failure(media, exc)
    kept = outcome.pop("kept")
    report.done += int(kept)
    report.skipped += int(not kept)
    updates: dict[str, Any] = {"compression_metadata": outcome, "compressed": kept}
    if kept:
        updates["compressed_path"] = str(target)
    return StageChange(media.id, Stage.COMPRESSED, updates)


def _target(ctx: RunContext, media: MediaFile) -> Path:
    # the archive's own root: a mounted folder, or a folder on an SFTP server
    relative = Path(media.nas_path).relative_to(nas_archive(ctx).root)  # type: ignore[arg-type]
    return ctx.path("compressed") / relative.with_suffix(".jpg")


def _jpeg(src: Path, target: Path, rule: CompressionRule, min_saving: float,
          original_size: int) -> dict[str, Any]:
    try:
        with Image.open(src) as image:
            exif = image.info.get("exif")
            icc = image.info.get("icc_profile")
            image.load()
            converted = image.convert("RGB")
    except OSError as exc:
        raise MediaError(f"{src.name}: cannot decode for compression ({exc})") from None
    if rule.max_long_edge:  # thumbnail only ever shrinks
        converted.thumbnail((rule.max_long_edge, rule.max_long_edge), Image.Resampling.LANCZOS)
    quality = rule.quality or 85
    with atomic_write(target) as out:
        converted.save(out, "JPEG", quality=quality, exif=exif or b"", icc_profile=icc)
    ratio = out.size / original_size if original_size else 1.0
    meta: dict[str, Any] = {"strategy": "jpeg", "quality": quality,
                            "max_long_edge": rule.max_long_edge, "original_size": original_size,
                            "compressed_size": out.size, "ratio": round(ratio, 4),
                            "pillow": Image.__version__}
    if ratio > 1 - min_saving:
        target.unlink()
        meta["kept"] = False
        meta["note"] = f"kept original: saving {1 - ratio:.1%} is below {min_saving:.0%}"
        return meta
    meta["kept"] = True
    return meta
