"""Listing and downloading 1,000 small assets from the local fake iCloud with step 1 (the
iCloud source through pyicloud, capture dates, the ledger), against a plain requests
streaming loop over the same URLs, in the same run.

    uv run python benchmarks/icloud_download.py [--assets 1000] [--size 20000] [--rounds 3]
                                                [--parallel 4]

Target: step 1 takes at most 1.2 times the plain loop. Prints the medians, and for
reference the same loop on urllib3 (step 1's client for asset bytes) and the plain loop
writing durably.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediasync.files import fsync_dir  # noqa: E402
from mediasync.pipeline import download  # noqa: E402
from mediasync.pipeline.steps import open_context  # noqa: E402
from mediasync.settings import LedgerSettings, Settings  # noqa: E402
from mediasync.sources.icloud import ICloudSource  # noqa: E402
from tests.fakes.icloud_server import Account, FakeICloud, make_library  # noqa: E402
from tests.icloud.conftest import icloud_settings, sign_in  # noqa: E402


@dataclass
class _State:
    account: Account


@dataclass
class RemoteICloud:
    """The fake iCloud as seen from another process: its account and its endpoints. The
    server runs in a process of its own, as Apple's does, so that its request handling
    does not share this process's interpreter lock with the downloads being measured."""

    state: _State
    urls: dict[str, str]

    def endpoints(self) -> dict[str, str]:
        return self.urls


def serve(assets: int, size: int, pipe: Connection) -> None:
    with FakeICloud() as server:
        server.add_photos(make_library(assets, live_every=0, video_every=0, size=size))
        pipe.send((server.state.account, server.endpoints()))
        pipe.recv()  # until told to stop


def step_one(settings: Settings, folder: Path, parallel: int) -> int:
    """Step 1's core on a fresh ledger and incoming folder."""
    settings = settings.model_copy(update={
        "source": settings.source.model_copy(update={"kind": "icloud",
                                                     "parallel_downloads": parallel}),
        "ledger": LedgerSettings(url=f"sqlite:///{folder / 'ledger.db'}"),
        "workflow": settings.workflow.model_copy(update={"incoming": folder / "incoming"}),
    })
    ctx = open_context(settings, "benchmark")
    try:
        return download.run(ctx).done
    finally:
        ctx.ledger.close()


def plain_loop(urls: list[str], cookies: requests.cookies.RequestsCookieJar, ca: str,
               folder: Path, durable: bool) -> int:
    """requests, stream to a file; `durable` adds what safety rule 2 asks of every write:
    temp file, fsync, rename, fsync of the folder."""
    with requests.Session() as session:
        session.verify, session.trust_env = ca, False
        session.cookies.update(cookies)
        for number, url in enumerate(urls):
            target = folder / f"{number}.bin"
            temp = target.with_suffix(".part") if durable else target
            with session.get(url, stream=True) as response, open(temp, "wb") as out:
                response.raise_for_status()
                for chunk in response.iter_content(1024 * 1024):
                    out.write(chunk)
                if durable:
                    out.flush()
                    os.fsync(out.fileno())
            if durable:
                os.replace(temp, target)
                fsync_dir(folder)
    return len(urls)


def urllib3_loop(urls: list[str], cookies: requests.cookies.RequestsCookieJar, ca: str,
                 folder: Path) -> int:
    """The same plain loop on urllib3, the client step 1 fetches asset bytes with."""
    cookie = "; ".join(f"{c.name}={c.value}" for c in cookies)
    with urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=ca) as pool:
        for number, url in enumerate(urls):
            response = pool.request("GET", url, headers={"Cookie": cookie},
                                    preload_content=False)
            with open(folder / f"{number}.bin", "wb") as out:
                for chunk in response.stream(1024 * 1024):
                    out.write(chunk)
            response.release_conn()
    return len(urls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=4,
                        help="source.parallel_downloads for step 1")
    args = parser.parse_args()
    pipe, child_end = multiprocessing.Pipe()
    child = multiprocessing.Process(target=serve, args=(args.assets, args.size, child_end))
    child.start()
    try:
        account, urls = pipe.recv()
        server = RemoteICloud(_State(account), urls)
        times = measure(args, server)
    finally:
        pipe.send("stop")
        child.join()
    report(args, {name: statistics.median(values) for name, values in times.items()})


def measure(args: argparse.Namespace, server: Any) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        settings = icloud_settings(server, root, stop_after_known=0)
        sign_in(settings, server)
        probe = ICloudSource(settings)
        urls = [a.extra["url"] for a in probe.list_assets()]
        cookies = probe.service.session.cookies
        times: dict[str, list[float]] = {"plain": [], "urllib3": [], "durable": [],
                                         "step1": []}
        for round_number in range(args.rounds):
            for name in times:
                target = root / f"{name}{round_number}"
                target.mkdir()
                started = time.perf_counter()
                if name == "step1":
                    done = step_one(settings, target, args.parallel)
                elif name == "urllib3":
                    done = urllib3_loop(urls, cookies, server.urls["ca_bundle"], target)
                else:
                    done = plain_loop(urls, cookies, server.urls["ca_bundle"], target,
                                      durable=name == "durable")
                times[name].append(time.perf_counter() - started)
                assert done == args.assets
    return times


def report(args: argparse.Namespace, median: dict[str, float]) -> None:
    print(f"{args.assets} assets of {args.size} bytes, median of {args.rounds} rounds")
    labels = {"plain": "plain streaming loop (download only)",
              "urllib3": "the same loop on urllib3",
              "durable": "same loop, fsync + rename + folder fsync",
              "step1": f"step 1 (list, download, ledger; {args.parallel} at once)"}
    for name, label in labels.items():
        print(f"{label:42s} {median[name]:6.2f} s ({args.assets / median[name]:.0f} files/s)")
    print(f"ratio to the plain loop:   {median['step1'] / median['plain']:.2f} (target <= 1.2)")
    print(f"ratio to the urllib3 loop: {median['step1'] / median['urllib3']:.2f}")
    print(f"ratio to the durable loop: {median['step1'] / median['durable']:.2f}")


if __name__ == "__main__":
    main()
