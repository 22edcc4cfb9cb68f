"""Asset bytes travel outside requests (mediasync.sources.icloud_content), yet with what
pyicloud's session holds: its cookies, its TLS trust, its proxy, and redirects followed."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mediasync.errors import ConfigError, SourceError
from mediasync.model import SourceAsset
from mediasync.sources.icloud import ICloudSource
from tests.fakes.connect_proxy import ConnectProxy
from tests.fakes.icloud_server import FakeICloud


def first_photos(source: ICloudSource, count: int) -> list[SourceAsset]:
    return [a for a in source.list_assets() if a.media_type.value == "image"][:count]


def test_a_redirected_download_follows_to_the_bytes(source: ICloudSource, server: FakeICloud,
                                                    tmp_path: Path) -> None:
    asset = first_photos(source, 1)[0]
    record = asset.extra["record"]
    server.redirect_once(record)
    done = source.download(asset, tmp_path / asset.filename)
    assert done.path.read_bytes() == server.state.photos[record].data
    assert server.downloads().count(f"{record}/original") == 2  # the 302, then the bytes


def test_downloads_use_the_sessions_proxy_with_its_credentials(
        source: ICloudSource, server: FakeICloud, tmp_path: Path) -> None:
    assets = first_photos(source, 3)
    with ConnectProxy() as proxy:
        source.service.session.proxies = {
            "https": f"http://me:pr%40xy@127.0.0.1:{proxy.port}"}
        for asset in assets:
            done = source.download(asset, tmp_path / asset.filename)
            assert done.path.read_bytes() == server.state.photos[asset.extra["record"]].data
        tunnels = proxy.tunnels
    assert tunnels, "the downloads did not go through the proxy"
    assert {target for target, _ in tunnels} == {urlsplit(server.url).netloc}
    assert {auth for _, auth in tunnels} == {"Basic " + base64.b64encode(b"me:pr@xy").decode()}


def test_an_unsupported_proxy_is_a_clear_error(source: ICloudSource, tmp_path: Path) -> None:
    asset = first_photos(source, 1)[0]
    source.service.session.proxies = {"https": "socks5://127.0.0.1:1080"}
    with pytest.raises(ConfigError, match=r"proxy socks5:// is not supported"):
        source.download(asset, tmp_path / "incoming" / asset.filename)
    assert not (tmp_path / "incoming").exists()


def test_an_unreachable_content_server_is_a_retryable_source_error(
        source: ICloudSource, tmp_path: Path) -> None:
    asset = first_photos(source, 1)[0]
    gone = replace(asset, extra={**asset.extra, "url": "https://127.0.0.1:9/x"})
    with pytest.raises(SourceError, match=r"iCloud cannot be reached") as caught:
        source.download(gone, tmp_path / "incoming" / asset.filename)
    assert caught.value.retryable
    assert not (tmp_path / "incoming").exists()
