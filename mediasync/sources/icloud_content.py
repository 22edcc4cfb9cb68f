"""Asset bytes from iCloud's content servers, through urllib3 directly.

requests' work around each request (merging cookies and environment settings, hooks,
building its Response) costs more CPU than a small asset's transfer, and step 1 on a fast
line is bound by it. The pools are set up once from pyicloud's session, so TLS
verification, proxies, headers and cookies are what requests would have used.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.certs import where as default_ca_bundle
from requests.utils import select_proxy

from mediasync.errors import ConfigError, SourceError

# a content URL may redirect (a CDN does); each redirect is followed, nothing is retried
# here: the caller's back-off decides about that
_REDIRECTS_ONLY = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0,
                                redirect=5, raise_on_redirect=True)


class ContentClient:
    """GETs of asset URLs, safe to share between download threads."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        self._session = session
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._origins: dict[str, tuple[urllib3.PoolManager, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def get(self, url: str, what: str) -> urllib3.BaseHTTPResponse:
        """The response, its body not read yet; the caller closes it."""
        pool, headers = self._for_origin(url)
        try:
            return pool.request("GET", url, headers=headers, preload_content=False,
                                retries=_REDIRECTS_ONLY, timeout=self._timeout)
        except urllib3.exceptions.HTTPError as exc:
            raise SourceError(f"iCloud cannot be reached ({what})", retryable=True) from exc

    def _for_origin(self, url: str) -> tuple[urllib3.PoolManager, dict[str, str]]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            if origin not in self._origins:
                self._origins[origin] = self._set_up(url)
            return self._origins[origin]

    def _set_up(self, url: str) -> tuple[urllib3.PoolManager, dict[str, str]]:
        # The headers, cookies included, are worked out once per host: working out the
        # cookie header costs as much as a small transfer, and during a run the service
        # session gets no new cookies for the content hosts (on iCloud, a domain of its own).
        prepared = self._session.prepare_request(requests.Request("GET", url))
        headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
        env = self._session.merge_environment_settings(url, {}, None, None, None)
        tls = _tls_options(env["verify"])
        proxy = select_proxy(url, env["proxies"])
        if proxy is None:
            return urllib3.PoolManager(maxsize=8, **tls), headers
        if not proxy.startswith(("http://", "https://")):
            raise ConfigError(f"proxy {urlsplit(proxy).scheme}:// is not supported for "
                              "iCloud downloads: use an http:// or https:// proxy")
        return urllib3.ProxyManager(proxy, maxsize=8,
                                    proxy_headers=HTTPAdapter().proxy_headers(proxy),
                                    **tls), headers


def _tls_options(verify: bool | str) -> dict[str, str]:
    if verify is False:
        return {"cert_reqs": "CERT_NONE"}
    bundle = default_ca_bundle() if verify is True else verify
    where = "ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"
    return {"cert_reqs": "CERT_REQUIRED", where: bundle}
