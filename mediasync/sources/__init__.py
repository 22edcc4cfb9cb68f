"""Build the source the settings name."""

from __future__ import annotations

from mediasync.errors import ConfigError
from mediasync.settings import Settings
from mediasync.sources.base import Source


def build_source(settings: Settings) -> Source:
    kind = settings.source.kind
    if kind == "folder":
        from mediasync.sources.folder import FolderSource

        if settings.source.path is None:
            raise ConfigError("source.path: required for a folder source")
        return FolderSource(settings.resolve(settings.source.path),
                            settings.source.parallel_downloads,
                            settings.source.include_hidden)
    if kind == "sftp":
        from mediasync.sources.sftp import SftpSource

        if settings.sftp.source is None:
            raise ConfigError("sftp.source: required for an sftp source (host, root, ...)")
        return SftpSource(settings.sftp.source, settings)
    if kind == "icloud":
        from mediasync.sources.icloud import ICloudSource

        return ICloudSource(settings)
    if kind == "bucket":
        from mediasync.sources.bucket import BucketSource

        return BucketSource.from_settings(settings.bucket)
    raise ConfigError(f"source.kind: '{kind}' is not available in this version")
