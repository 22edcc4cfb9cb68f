"""One supabase-py client per bucket job, built from BucketSettings.

The httpx client is ours: supabase-py's Storage and PostgREST clients share it, and the
bucket source streams downloads through it (storage3's `download` reads whole bodies
into memory, which large videos must not do).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from supabase import Client, SupabaseException, create_client
from supabase.lib.client_options import SyncClientOptions

from mediasync.errors import ConfigError
from mediasync.settings import BucketSettings

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


@dataclass
class SupabaseConnection:
    url: str
    client: Client = field(repr=False)
    http: httpx.Client = field(repr=False)
    auth_headers: dict[str, str] = field(repr=False)  # holds the key: never shown

    def close(self) -> None:
        self.http.close()


def connect(settings: BucketSettings, parallelism: int | None = None) -> SupabaseConnection:
    if not settings.url or settings.service_key is None:
        raise ConfigError("bucket.url and bucket.service_key must be set")
    key = settings.service_key.get_secret_value()
    pool = (parallelism or settings.parallelism) + 2  # the workers, plus listing and deletes
    http = httpx.Client(timeout=TIMEOUT, follow_redirects=True,
                        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool))
    try:
        client = create_client(settings.url, key, options=SyncClientOptions(httpx_client=http))
    except SupabaseException:
        http.close()
        raise ConfigError(f"bucket.url is not a valid project URL: {settings.url}") from None
    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    return SupabaseConnection(settings.url.rstrip("/"), client, http, headers)
