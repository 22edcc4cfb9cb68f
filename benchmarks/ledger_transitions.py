"""Stage transitions per second on each ledger backend: batched against one round trip
(one apply, one transaction) per file, in the same run.

    uv run python benchmarks/ledger_transitions.py [--files 10000] [--batch 500]

Postgres: the server at MEDIASYNC_TEST_POSTGRES_URL (default postgresql://postgres@
127.0.0.1:5432/postgres) or a throwaway cluster, in a database of the run's own. Supabase:
the real supabase-py client against the local PostgREST stand-in of the tests, on that
same database (no network in between, so it shows the request count, not a real
project's latency). Per-file Supabase runs on a sample (--supabase-sample), the rate
being what matters.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediasync.ledger.base import Ledger  # noqa: E402
from mediasync.ledger.migrate import migrate_url  # noqa: E402
from mediasync.ledger.postgres import PostgresLedger  # noqa: E402
from mediasync.ledger.sqlite import SqliteLedger  # noqa: E402
from mediasync.ledger.supabase import SupabaseLedger  # noqa: E402
from mediasync.model import MediaFile, Stage, StageChange  # noqa: E402
from tests.fakes.postgrest_server import PostgrestServer  # noqa: E402
from tests.ledger.pgcluster import new_database, postgres_server  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
KEY = "benchmark-service-key"


def seeded_ids(ledger: Ledger, count: int, batch: int) -> list[int]:
    files = [MediaFile(source="bench", source_id=f"asset-{n}", filename=f"IMG_{n}.JPG")
             for n in range(count)]
    ids: list[int] = []
    for start in range(0, count, batch):
        ids += [m.id for m in ledger.add_files(files[start:start + batch], "bench")]  # type: ignore[misc]
    return ids


def timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def measure(ledger: Ledger, files: int, batch: int, per_file_sample: int) -> tuple[float, float]:
    """(batched, per-file) transitions per second: DOWNLOADED -> NAS_ARCHIVED in batches,
    then NAS_ARCHIVED -> PROCESSING_READY one apply per file."""
    ids = seeded_ids(ledger, files, batch)

    def batched() -> None:
        for start in range(0, len(ids), batch):
            ledger.apply([StageChange(i, Stage.NAS_ARCHIVED, {"nas_archived": True})
                          for i in ids[start:start + batch]], run_id="bench")

    def one_by_one() -> None:
        for i in ids[:per_file_sample]:
            ledger.apply([StageChange(i, Stage.PROCESSING_READY)], run_id="bench")

    batched_rate = len(ids) / timed(batched)
    single_rate = min(per_file_sample, len(ids)) / timed(one_by_one)
    return batched_rate, single_rate


@contextmanager
def backends(stack: ExitStack, url: str) -> Iterator[dict[str, Callable[[], Ledger]]]:
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    server_url = stack.enter_context(postgres_server(url))
    pg_direct = stack.enter_context(new_database(server_url))
    migrate_url(pg_direct)
    pg_rest = stack.enter_context(new_database(server_url))
    migrate_url(pg_rest)
    postgrest = PostgrestServer(pg_rest, KEY)
    postgrest.start()
    stack.callback(postgrest.stop)
    yield {
        "sqlite": lambda: SqliteLedger(folder / "ledger.db"),
        "postgres": lambda: PostgresLedger(pg_direct),
        "supabase": lambda: SupabaseLedger(postgrest.url, SecretStr(KEY)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--supabase-sample", type=int, default=1_000)
    parser.add_argument("--backends", default="sqlite,postgres,supabase")
    args = parser.parse_args()
    url = os.environ.get("MEDIASYNC_TEST_POSTGRES_URL", DEFAULT_URL)
    print(f"{args.files} transitions per backend, batches of {args.batch}\n")
    print("| backend | batched (transitions/s) | one per round trip (transitions/s) | ratio |")
    print("|---|---:|---:|---:|")
    with ExitStack() as stack, backends(stack, url) as makers:
        for name in args.backends.split(","):
            make = makers[name]
            ledger = make()
            sample = args.supabase_sample if name == "supabase" else args.files
            batched, single = measure(ledger, args.files, args.batch, sample)
            ledger.close()
            print(f"| {name} | {batched:,.0f} | {single:,.0f} | {batched / single:.0f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
