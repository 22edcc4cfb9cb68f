"""iCloud Photos as a source, through pyicloud.

Listing walks the library newest first; `list_recent` stops after
`icloud.stop_after_known` assets in a row that the ledger already has (unless a full pass
is asked for), which step 1 uses only once an earlier listing has walked to the end. A
live photo is two SourceAssets (the image and its MOV) with one group_id: they travel and
are deleted together. Each asset's listing records the parts it holds that mediasync does
not archive (an alternative original, an edit), which keep it at the source. Downloads
stream to a temp file and are checked against the size in the asset record. Deletes go by
CloudKit record name with the change tag seen at listing, so an asset changed on iCloud
since then is refused (CONFLICT) rather than deleted, and count only when iCloud's answer
returns the record marked deleted.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
from pyicloud import PyiCloudService
from pyicloud.common.cloudkit.models import (
    CKModifyOperation,
    CKModifyResponse,
    CKWriteRecord,
    CKZoneID,
    CKZoneIDReq,
)
from pyicloud.exceptions import PyiCloudAPIResponseException
from pyicloud.services.photos import (
    PRIMARY_ZONE,
    BasePhotoAlbum,
    PhotoAsset,
    PhotoLibrary,
    PhotoResource,
)
from pyicloud.services.photos_cloudkit.client import PhotosCloudKitClient
from pyicloud.services.photos_cloudkit.mappers import build_photo_resource

from mediasync.errors import (
    ConfigError,
    DownloadMismatch,
    FileProblem,
    MediasyncError,
)
from mediasync.files import CHUNK, atomic_write, safe_filename
from mediasync.model import UNARCHIVED_PARTS, MediaFile, MediaType, SourceAsset
from mediasync.settings import Settings
from mediasync.sources.base import DeleteOutcome, Downloaded, SourceFeatures
from mediasync.sources.icloud_content import ContentClient
from mediasync.sources.icloud_records import (
    gone_records,
    unarchived_parts,
    unconfirmed_delete,
)
from mediasync.sources.icloud_retry import (
    Backoff,
    Throttled,
    check_status,
    pyicloud_errors,
    record_error,
)
from mediasync.sources.icloud_session import resume, session_expiry, username

LIVE_VIDEO_SUFFIX = ":live"  # source id of a live photo's MOV: "<record>:live"
LOOKUP_BATCH = 200  # records per records/lookup
SHARED_LIBRARY_PREFIX = "shared:SharedSync-"
_REFUSALS = {
    "CONFLICT": "changed on iCloud since it was listed; left in place",
    "NOT_FOUND": "no longer on iCloud",
}


class _Refused(Exception):
    """iCloud refused this one record; the others go on."""


class ICloudSource:
    features = SourceFeatures(can_delete=True, deletes_are_recoverable=True,
                              groups_files=True)

    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.icloud = settings.icloud
        self.name = f"icloud:{username(settings)}"
        self.parallel_downloads = settings.source.parallel_downloads
        self.backoff = Backoff(settings.icloud, sleep)
        self._service: PyiCloudService | None = None
        self._content: ContentClient | None = None
        self._content_made = threading.Lock()  # step 1 downloads from several threads

    @property
    def service(self) -> PyiCloudService:
        if self._service is None:
            self._service = resume(self.settings)
        return self._service

    def session_expires(self) -> datetime | None:
        return session_expiry(self.service)  # signs in from the stored session first

    @property
    def warn_days_before_expiry(self) -> float:
        return self.icloud.warn_days_before_expiry

    @property
    def throttled(self) -> int:
        """503/429 answers seen so far (the deletion circuit breaker reads it)."""
        return self.backoff.throttled

    # listing ---------------------------------------------------------------------------
    def list_assets(self, known: Iterable[str] = ()) -> Iterator[SourceAsset]:
        yield from self._list(known, stop_after=0)

    def list_recent(self, known: Iterable[str]) -> Iterator[SourceAsset]:
        # only the whole library is listed newest first: an album keeps its own order
        newest_first = self.icloud.album is None
        stop_after = self.icloud.stop_after_known \
            if newest_first and not self.icloud.full_pass else 0
        yield from self._list(known, stop_after)

    @property
    def listing_scope(self) -> str:
        icloud = self.icloud
        return (f"library={icloud.library} shared={icloud.shared_library}"
                f" album={icloud.album} media={','.join(sorted(icloud.media))}"
                f" after={icloud.created_after} before={icloud.created_before}")

    def _list(self, known: Iterable[str], stop_after: int) -> Iterator[SourceAsset]:
        known_ids = set(known)
        for album in self._albums():
            yield from self._list_album(album, known_ids, stop_after)

    def count_assets(self) -> int:
        """How many assets the listed albums hold, from iCloud's own count."""
        albums = self._albums()

        def count() -> int:
            with pyicloud_errors("the asset count"):
                return sum(len(album) for album in albums)
        return self.backoff.call("the asset count", count)

    def _albums(self) -> list[BasePhotoAlbum]:
        return self.backoff.call("the photo library", self._find_albums)

    def _find_albums(self) -> list[BasePhotoAlbum]:
        with pyicloud_errors("the photo library"):
            libraries = self.service.photos.libraries
            keys = [self.icloud.library]
            if self.icloud.shared_library:
                keys += [k for k in libraries if k.startswith(SHARED_LIBRARY_PREFIX)
                         and k not in keys]
            return [self._album(libraries, key) for key in keys]

    def _photo_service(self) -> Any:
        def connect() -> Any:
            with pyicloud_errors("the photo library"):
                return self.service.photos
        return self.backoff.call("the photo library", connect)

    def _album(self, libraries: dict[str, Any], key: str) -> BasePhotoAlbum:
        library = libraries.get(key)
        if not isinstance(library, PhotoLibrary):  # absent, or legacy shared streams
            raise ConfigError(f"icloud.library: no photo library {key!r} "
                              f"(found: {', '.join(sorted(libraries))})")
        if self.icloud.album is None:
            return library.all
        album = library.albums.find(self.icloud.album)
        if album is None:
            raise ConfigError(f"icloud.album: no album {self.icloud.album!r} in {key}")
        return album

    def _list_album(self, album: BasePhotoAlbum, known: set[str],
                    stop_after: int) -> Iterator[SourceAsset]:
        newest_first = self.icloud.album is None
        after, before = _utc(self.icloud.created_after), _utc(self.icloud.created_before)
        streak = 0
        for photo in self._photos(album):
            created = photo.created
            if after and created < after:
                if newest_first:
                    return
                continue
            if before and created >= before:
                continue
            assets = self._assets(photo)
            new = [asset for asset in assets if asset.source_id not in known]
            if assets and not new:
                streak += 1
                if stop_after and streak >= stop_after:
                    return
                continue
            streak = 0
            yield from new

    def _photos(self, album: BasePhotoAlbum) -> Iterator[PhotoAsset]:
        """The album's assets; on 503/429 the listing waits and starts again, skipping
        what it already gave (pyicloud pages inside one generator that dies on errors)."""
        seen: set[str] = set()
        attempt = 0
        while True:
            try:
                with pyicloud_errors("the photo listing"):
                    for photo in album.photos:
                        if photo.id not in seen:
                            seen.add(photo.id)
                            yield photo
                return
            except Throttled as exc:
                attempt += 1
                self.backoff.pause(exc, attempt, "the photo listing")

    def _assets(self, photo: PhotoAsset) -> list[SourceAsset]:
        movie = photo.item_type == "movie"
        is_live = not movie and photo.is_live_photo
        kind = "live" if is_live else "video" if movie else "photo"
        if kind not in self.icloud.media:
            return []
        record = photo.asset_record
        meta = {"record": photo.id, "change_tag": record.recordChangeTag,
                "zone": record.zoneID.model_dump(exclude_none=True) if record.zoneID
                else dict(PRIMARY_ZONE),
                UNARCHIVED_PARTS: unarchived_parts(photo.master_record, record)}
        common = {"created": photo.created,
                  "favorite": bool(record.fields.get_value("isFavorite")),
                  "group_id": photo.id if kind == "live" else None}
        if kind == "live":
            meta["group_size"] = 2
        name = photo.filename
        media_type = MediaType.VIDEO if kind == "video" else MediaType.IMAGE
        versions = photo.VIDEO_VERSION_LOOKUP if movie else photo.PHOTO_VERSION_LOOKUP
        assets = [_asset(photo.id, _resource(photo, versions, "original", name, is_live),
                         name, media_type, meta, common)]
        if kind == "live":
            assets.append(_asset(photo.id + LIVE_VIDEO_SUFFIX,
                                 _resource(photo, versions, "original_video", name,
                                           is_live),
                                 name, MediaType.VIDEO, meta, common))
        return assets

    # download --------------------------------------------------------------------------
    def download(self, asset: SourceAsset, dest: Path) -> Downloaded:
        url = asset.extra.get("url")
        if not url:
            raise FileProblem(f"{asset.filename}: iCloud gave no download URL",
                              subject=asset.source_id)
        return self.backoff.call(asset.filename, lambda: self._fetch(url, asset, dest))

    @property
    def content(self) -> ContentClient:
        """The client for asset bytes: pyicloud's own session rewrites its files to disk
        after every request, and requests' own work costs more than a small transfer."""
        with self._content_made:
            if self._content is None:
                self._content = ContentClient(self.service.session,
                                              self.icloud.timeout_seconds)
        return self._content

    def _fetch(self, url: str, asset: SourceAsset, dest: Path) -> Downloaded:
        with closing(self.content.get(url, asset.filename)) as response:
            check_status(response.status, response.headers, asset.filename)
            return _stream(response, asset, dest)

    # delete ----------------------------------------------------------------------------
    def delete(self, files: Sequence[MediaFile]) -> list[DeleteOutcome]:
        """One records/modify per asset record (a live photo's two files share it),
        throttled by `guards.delete_interval_seconds`. A record counts as deleted only
        when iCloud's answer returns it deleted; anything else keeps it, with the answer
        as the reason. Once iCloud fails the session or keeps throttling, the remaining
        files are left alone with that reason."""
        photos = self._photo_service()
        outcomes: list[DeleteOutcome] = []
        stopped: str | None = None
        for n, (record, members) in enumerate(_by_record(files).items()):
            if stopped is None:
                if n:
                    self.backoff.sleep(self.settings.guards.delete_interval_seconds)
                try:
                    self._delete_record(photos, record, members[0])
                    deleted, reason = True, None
                except _Refused as exc:
                    deleted, reason = False, str(exc)
                except MediasyncError as exc:
                    stopped = f"deletes stopped: {exc}"
                    deleted, reason = False, stopped
            else:
                deleted, reason = False, stopped
            outcomes += [DeleteOutcome(f.source_id, deleted, reason) for f in members]
        return outcomes

    def _delete_record(self, photos: Any, record: str, file: MediaFile) -> None:
        tag = file.source_meta.get("change_tag")
        if not tag:
            raise _Refused("no change tag recorded for this asset; not deleted blind")
        if UNARCHIVED_PARTS not in file.source_meta:
            # listed before the parts were recorded: an edit or a RAW's JPEG may be there
            raise _Refused("its parts at the source were not recorded; not deleted blind")
        zone = _zone_of(file)
        answer = self.backoff.call(f"delete {record}",
                                   lambda: _modify(photos.private_client, record, tag, zone))
        reason = unconfirmed_delete(answer, record, tag)
        if reason is not None:
            raise _Refused(reason)

    # presence --------------------------------------------------------------------------
    def still_present(self, files: Sequence[MediaFile]) -> set[str]:
        """Source ids among `files` that iCloud still holds, asked now by records/lookup
        in batches per zone. A record in Recently Deleted counts as gone; one iCloud says
        nothing clear about counts as still there."""
        client = self._photo_service().private_client
        held: set[str] = set()
        for zone, members in _by_zone(files):
            records = list(_by_record(members))
            for start in range(0, len(records), LOOKUP_BATCH):
                batch = records[start:start + LOOKUP_BATCH]
                gone = self.backoff.call("the presence check",
                                         functools.partial(_gone, client, batch, zone))
                held |= set(batch) - gone
        return {f.source_id for f in files if _record_of(f) in held}


def _modify(client: PhotosCloudKitClient, record: str, tag: str,
            zone: dict[str, Any]) -> CKModifyResponse:
    """Mark the asset record deleted and return iCloud's answer, which pyicloud's own
    PhotoAsset.delete() drops: the answer is what says whether the delete happened."""
    operation = CKModifyOperation(operationType="update", record=CKWriteRecord(
        recordName=record, recordType="CPLAsset", recordChangeTag=tag,
        fields={"isDeleted": {"type": "INT64", "value": 1}}, zoneID=CKZoneID(**zone)))
    with pyicloud_errors(f"delete {record}"):
        try:
            return client.modify(operations=[operation], zone_id=CKZoneIDReq(**zone),
                                 atomic=True)
        except PyiCloudAPIResponseException as exc:
            code = record_error(exc)
            if code is None:
                raise
            raise _Refused(f"{_REFUSALS.get(code, 'refused by iCloud')} ({code})") from exc


def _gone(client: PhotosCloudKitClient, records: list[str], zone: dict[str, Any]) -> set[str]:
    with pyicloud_errors("the presence check"):
        answer = client.lookup(record_names=records, zone_id=CKZoneIDReq(**zone),
                               desired_keys=["isDeleted", "isExpunged"])
    return gone_records(answer)


def _by_zone(files: Sequence[MediaFile]) -> list[tuple[dict[str, Any], list[MediaFile]]]:
    zones: dict[str, tuple[dict[str, Any], list[MediaFile]]] = {}
    for file in files:
        zone = _zone_of(file)
        zones.setdefault(json.dumps(zone, sort_keys=True), (zone, []))[1].append(file)
    return list(zones.values())


def _zone_of(file: MediaFile) -> dict[str, Any]:
    return file.source_meta.get("zone") or dict(PRIMARY_ZONE)


def _record_of(file: MediaFile) -> str:
    return file.source_meta.get("record") or file.source_id.removesuffix(LIVE_VIDEO_SUFFIX)


def _by_record(files: Sequence[MediaFile]) -> dict[str, list[MediaFile]]:
    groups: dict[str, list[MediaFile]] = {}
    for file in files:
        groups.setdefault(_record_of(file), []).append(file)
    return groups


def _resource(photo: PhotoAsset, versions: dict[str, str], key: str, name: str,
              is_live: bool) -> PhotoResource | None:
    """One version of the asset, built as `PhotoAsset.resources` builds each: that property
    builds all eight versions, decoding the name for each, and cost more than the rest of
    the listing put together."""
    return build_photo_resource(
        key=key, prefix=versions[key], master_record=photo.master_record, filename=name,
        item_type_extensions=photo.FILE_TYPE_EXTENSIONS, is_live_photo=is_live,
        item_type_lookup=photo.ITEM_TYPES)


def _asset(source_id: str, resource: PhotoResource | None, fallback_name: str,
           media_type: MediaType, meta: dict[str, Any], common: dict[str, Any]) -> SourceAsset:
    name = resource.filename if resource else fallback_name
    return SourceAsset(
        source_id=source_id, filename=safe_filename(name),
        size=resource.size if resource else None, media_type=media_type,
        extra={**meta, "url": resource.url if resource else None}, **common)


def _stream(response: urllib3.BaseHTTPResponse, asset: SourceAsset,
            dest: Path) -> Downloaded:
    received = 0
    try:
        with atomic_write(dest, asset.size, working=True) as out:
            for chunk in response.stream(CHUNK):
                out.write(chunk)
                received = out.size
    except urllib3.exceptions.HTTPError as exc:
        raise DownloadMismatch(
            f"{asset.filename}: connection dropped after {received} of {asset.size} bytes",
            subject=asset.source_id) from exc
    return Downloaded(dest, out.size, out.sha256)


def _utc(when: datetime | None) -> datetime | None:
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)

