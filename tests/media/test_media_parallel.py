from __future__ import annotations

from mediasync.media.compress import CompressJob
from mediasync.media.parallel import compress_many


def test_one_bad_file_fails_alone_in_the_pool(media, settings, tmp_path):
    names = ["jpeg", "truncated_jpeg", "heic", "empty", "png", "text", "mp4",
             "truncated_mp4", "mov", "sidecar"]
    jobs = [CompressJob(media[n], tmp_path / n / media[n].name) for n in names]
    seen: list[tuple[int, int, str]] = []
    results = compress_many(jobs, settings, workers=2,
                            progress=lambda d, t, what: seen.append((d, t, what)))
    statuses = {n: r.status for n, r in zip(names, results, strict=True)}
    assert statuses == {
        "jpeg": "compressed", "truncated_jpeg": "failed", "heic": "compressed",
        "empty": "failed", "png": "compressed", "text": "failed", "mp4": "compressed",
        "truncated_mp4": "failed", "mov": "compressed", "sidecar": "kept"}
    assert [r.source for r in results] == [j.source for j in jobs]
    for name, result in zip(names, results, strict=True):
        if result.status == "failed":
            assert result.reason.startswith(f"{media[name].name}: ")
    assert [d for d, _, _ in seen] == list(range(1, len(jobs) + 1))
    assert all(t == len(jobs) for _, t, _ in seen)


def test_each_video_reports_its_own_progress(media, settings, tmp_path):
    names = ["mp4", "mov"]
    jobs = [CompressJob(media[n], tmp_path / media[n].name) for n in names]
    per_video: dict[str, list[float]] = {}

    def progress_for(job: CompressJob):
        seconds = per_video.setdefault(job.source.name, [])
        return lambda done, total: seconds.append(done)

    compress_many(jobs, settings, video_progress=progress_for)
    assert set(per_video) == {media[n].name for n in names}
    assert all(values and values[-1] > 1.0 for values in per_video.values())
