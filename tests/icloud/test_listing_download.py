"""Listing and downloading through the real pyicloud against the fake iCloud server."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from mediasync.errors import AuthError, DownloadMismatch, RateLimited
from mediasync.files import PARTIAL_SUFFIX
from mediasync.model import MediaType, SourceAsset
from mediasync.settings import Settings
from mediasync.sources.base import Source
from mediasync.sources.icloud import LIVE_VIDEO_SUFFIX, ICloudSource
from mediasync.sources.icloud_session import EXPIRED
from tests.fakes.icloud_server import FakeICloud, FakePhoto, make_library
from tests.icloud.conftest import LIBRARY_SIZE, icloud_settings, sign_in

LIVE = 12  # make_library(150): every 10th is live, except those that are videos
VIDEOS = 6


def expected_bytes(server: FakeICloud, asset: SourceAsset) -> bytes:
    photo = server.state.photos[asset.extra["record"]]
    return photo.live_video if asset.source_id.endswith(LIVE_VIDEO_SUFFIX) else photo.data


def test_source_satisfies_the_protocol(source: ICloudSource) -> None:
    assert isinstance(source, Source)
    assert source.features.can_delete and source.features.deletes_are_recoverable


def test_every_asset_and_live_part_downloads_once(source: ICloudSource, server: FakeICloud,
                                                   tmp_path: Path) -> None:
    assets = list(source.list_assets())
    incoming = tmp_path / "incoming"
    assert len(assets) == LIBRARY_SIZE + LIVE
    assert len({a.source_id for a in assets}) == len(assets)
    created = [a.created for a in assets if not a.source_id.endswith(LIVE_VIDEO_SUFFIX)]
    assert created == sorted(created, reverse=True)  # newest first
    for asset in assets:
        done = source.download(asset, incoming / asset.filename)
        body = expected_bytes(server, asset)
        assert done.path.read_bytes() == body
        assert (done.size, done.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert len(server.downloads()) == len(assets)
    assert len(list(incoming.iterdir())) == len(assets)


def test_live_photo_is_two_linked_files(source: ICloudSource) -> None:
    assets = {a.source_id: a for a in source.list_assets()}
    image, video = assets["A00009"], assets["A00009" + LIVE_VIDEO_SUFFIX]
    assert (image.filename, video.filename) == ("IMG_0009.HEIC", "IMG_0009.MOV")
    assert image.group_id == video.group_id == "A00009"
    assert (image.media_type, video.media_type) == (MediaType.IMAGE, MediaType.VIDEO)
    assert image.extra["group_size"] == 2 and image.extra["change_tag"] == "1"
    assert assets["A00024"].media_type == MediaType.VIDEO
    assert assets["A00024"].group_id is None


def test_second_listing_finds_nothing_new_and_stops_early(source: ICloudSource,
                                                         server: FakeICloud) -> None:
    known = [a.source_id for a in source.list_assets()]
    pages_before = len(server.requests("records/query"))
    assert list(source.list_recent(known)) == []
    # one page of 100 holds more than stop_after_known (50) known assets in a row
    assert len(server.requests("records/query")) - pages_before == 1


def test_only_new_assets_are_listed(source: ICloudSource, server: FakeICloud) -> None:
    known = [a.source_id for a in source.list_assets()]
    newer = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    server.add_photos([FakePhoto(f"N{i}", f"NEW_{i}.JPG", b"new" * (i + 1),
                                 newer + dt.timedelta(hours=i), "public.jpeg")
                       for i in range(3)])
    assert sorted(a.source_id for a in source.list_recent(known)) == ["N0", "N1", "N2"]


def test_full_pass_reads_every_page(settings: Settings, server: FakeICloud) -> None:
    sign_in(settings, server)
    source = ICloudSource(settings.model_copy(update={
        "icloud": settings.icloud.model_copy(update={"full_pass": True})}))
    known = [a.source_id for a in source.list_assets()]
    server.state.photos["A00140"].deleted = True
    server.add_photos([FakePhoto("OLD", "OLD.JPG", b"old", dt.datetime(2001, 1, 1,
                                                                     tzinfo=dt.UTC))])
    assert [a.source_id for a in source.list_recent(known)] == ["OLD"]
    # without a full pass, only list_recent stops early: list_assets walks everything
    assert [a.source_id for a in ICloudSource(settings).list_assets(known)] == ["OLD"]
    assert list(ICloudSource(settings).list_recent(known)) == []


@pytest.mark.parametrize(("media", "count"), [
    (["video"], VIDEOS), (["live"], 2 * LIVE), (["photo"], LIBRARY_SIZE - LIVE - VIDEOS)])
def test_media_filter(server: FakeICloud, tmp_path: Path, media: list[str],
                      count: int) -> None:
    settings = icloud_settings(server, tmp_path, media=media)
    sign_in(settings, server)
    assets = list(ICloudSource(settings).list_assets())
    assert len(assets) == count


def test_created_window(server: FakeICloud, tmp_path: Path) -> None:
    settings = icloud_settings(server, tmp_path, media=["photo"],
                               created_after="2024-05-20T00:00:00Z",
                               created_before="2024-05-30T00:00:00Z")
    sign_in(settings, server)
    source = ICloudSource(settings)
    dates = [a.created.date() for a in source.list_assets()]
    assert dates == [dt.date(2024, 5, d) for d in (29, 28, 27, 26, 25, 24, 22, 21, 20)]
    # the listing stopped at the first asset older than the window: one page only
    assert len(server.requests("records/query")) == 3  # indexing state, albums, one page


def test_one_album(server: FakeICloud, tmp_path: Path) -> None:
    server.state.album_page_size = 1
    server.add_album("Holidays", [])
    server.add_album("Trip", ["A00003", "A00004", "A00009"])
    settings = icloud_settings(server, tmp_path, album="Trip")
    sign_in(settings, server)
    ids = sorted(a.source_id for a in ICloudSource(settings).list_assets())
    assert ids == ["A00003", "A00004", "A00009", "A00009" + LIVE_VIDEO_SUFFIX]
    # album names were paged with continuation markers
    markers = [r for r in server.requests("records/query")
               if r.body.get("continuationMarker")
               and r.body["query"]["recordType"] == "CPLAlbumByPositionLive"]
    assert markers


def test_shared_library_is_listed_when_on(server: FakeICloud, tmp_path: Path) -> None:
    zone = server.enable_shared_library()
    server.add_photos([FakePhoto("S1", "SHARED.JPG", b"shared", dt.datetime(
        2020, 1, 1, tzinfo=dt.UTC), "public.jpeg", zone=zone)])
    off = icloud_settings(server, tmp_path)
    sign_in(off, server)
    assert "S1" not in {a.source_id for a in ICloudSource(off).list_assets()}
    on = off.model_copy(update={"icloud": off.icloud.model_copy(
        update={"shared_library": True})})
    shared = [a for a in ICloudSource(on).list_assets() if a.source_id == "S1"]
    assert shared and shared[0].extra["zone"]["zoneName"] == zone


def test_hostile_names_are_made_safe(source: ICloudSource, server: FakeICloud) -> None:
    server.add_photos([FakePhoto("H1", "../../etc/pass\x00wd:.JPG", b"x", dt.datetime(
        2025, 1, 1, tzinfo=dt.UTC), "public.jpeg")])
    asset = next(a for a in source.list_assets() if a.source_id == "H1")
    assert "/" not in asset.filename and "\x00" not in asset.filename
    assert not asset.filename.startswith(".")


def test_short_body_is_a_mismatch_and_leaves_nothing(source: ICloudSource,
                                                     server: FakeICloud,
                                                     tmp_path: Path) -> None:
    server.add_photos([FakePhoto("BIG", "BIG.JPG", b"b" * 5000, dt.datetime(
        2025, 1, 1, tzinfo=dt.UTC), "public.jpeg")])
    server.short_body("BIG", 100)
    asset = next(a for a in source.list_assets() if a.source_id == "BIG")
    assert asset.size == 5000
    with pytest.raises(DownloadMismatch, match="connection dropped .* of 5000 bytes"):
        source.download(asset, tmp_path / "in" / asset.filename)
    assert not (tmp_path / "in").exists() or list((tmp_path / "in").iterdir()) == []


def test_body_smaller_than_the_record_says(source: ICloudSource, server: FakeICloud,
                                          tmp_path: Path) -> None:
    server.add_photos([FakePhoto("LIE", "LIE.JPG", b"c" * 100, dt.datetime(
        2025, 1, 1, tzinfo=dt.UTC), "public.jpeg", announced_size=5000)])
    asset = next(a for a in source.list_assets() if a.source_id == "LIE")
    with pytest.raises(DownloadMismatch, match="source announced 5000"):
        source.download(asset, tmp_path / "in" / asset.filename)
    assert not any(p.name.endswith(PARTIAL_SUFFIX) or p.name == "LIE.JPG"
                   for p in (tmp_path / "in").iterdir())


def test_503_twice_then_downloaded_honouring_retry_after(settings: Settings,
                                                         server: FakeICloud,
                                                         tmp_path: Path) -> None:
    sign_in(settings, server)
    waits: list[float] = []
    source = ICloudSource(settings, sleep=waits.append)
    asset = next(iter(source.list_assets()))
    server.fail("/content/", 503, times=2, retry_after=0.03)
    done = source.download(asset, tmp_path / "in" / asset.filename)
    assert done.path.read_bytes() == expected_bytes(server, asset)
    assert waits == [0.03, 0.03]
    assert source.throttled == 2


def test_429_without_end_is_rate_limited(settings: Settings, server: FakeICloud,
                                        tmp_path: Path) -> None:
    sign_in(settings, server)
    waits: list[float] = []
    source = ICloudSource(settings, sleep=waits.append)
    asset = next(iter(source.list_assets()))
    server.fail("/content/", 429, times=100)
    with pytest.raises(RateLimited) as caught:
        source.download(asset, tmp_path / "in" / asset.filename)
    assert caught.value.retryable
    assert len(waits) == settings.icloud.retries
    assert waits == sorted(waits)  # exponential, capped
    assert not (tmp_path / "in").exists() or list((tmp_path / "in").iterdir()) == []


def test_listing_survives_503_and_repeats_nothing(source: ICloudSource,
                                                 server: FakeICloud) -> None:
    server.fail("records/query", 503, times=2)
    ids = [a.source_id for a in source.list_assets()]
    assert len(ids) == len(set(ids)) == LIBRARY_SIZE + LIVE


@pytest.mark.parametrize("status", [421, 450, 401])
def test_expired_session_asks_for_login(settings: Settings, server: FakeICloud,
                                        status: int) -> None:
    sign_in(settings, server)
    server.expire_sessions(status)
    with pytest.raises(AuthError) as caught:
        list(ICloudSource(settings).list_assets())
    assert str(caught.value) == EXPIRED
    assert server.requests("records/query") == []


@pytest.mark.parametrize("status", [421, 450, 401])
def test_session_expiring_mid_run_stops_downloads(source: ICloudSource, server: FakeICloud,
                                                  tmp_path: Path, status: int) -> None:
    asset = next(iter(source.list_assets()))
    server.expire_sessions(status)
    with pytest.raises(AuthError, match="mediasync icloud login"):
        source.download(asset, tmp_path / "in" / asset.filename)
    assert not (tmp_path / "in").exists() or list((tmp_path / "in").iterdir()) == []


def test_never_signed_in_is_an_auth_error(settings: Settings, server: FakeICloud) -> None:
    with pytest.raises(AuthError, match="mediasync icloud login"):
        list(ICloudSource(settings).list_assets())
    # no password was sent anywhere: no SRP exchange was even started
    assert server.requests("/signin/init") == []


def test_library_helper_is_deterministic() -> None:
    assert [p.data for p in make_library(3)] == [p.data for p in make_library(3)]


def test_listed_versions_match_pyicloud_resources(source: ICloudSource) -> None:
    """Step 1 builds only the versions it downloads; they must be pyicloud's own."""
    listed = {a.source_id: a for a in source.list_assets()}
    for photo in source.service.photos.all.photos:
        versions = {photo.id: photo.resources["original"]}
        if photo.is_live_photo:
            versions[photo.id + LIVE_VIDEO_SUFFIX] = photo.resources["original_video"]
        for source_id, resource in versions.items():
            asset = listed.pop(source_id)
            assert (asset.extra["url"], asset.size, asset.filename) == \
                (resource.url, resource.size, resource.filename)
    assert listed == {}
