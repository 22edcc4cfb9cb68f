"""The Supabase REST ledger: supabase-py with the service-role key, for users who have the
project's API but not its Postgres connection string.

PostgREST runs each request in its own transaction, so this backend cannot make a batch
atomic the way SQLite and Postgres do. What it does instead:
- `apply` fetches the current stages first and checks every move; an illegal move
  refuses the whole batch before anything is written (as on the other backends). The
  rows are then written in upserts of at most 500 rows, then their stage events. If
  the connection fails in between, the rows already written stay written (each at its
  new stage, with or without its event); a rerun continues from the stages recorded.
- `add_files` inserts files, then their first events, with the same caveat.
- `claim` is safe between workers all the same: the claiming PATCH re-checks, row by
  row under Postgres' row lock, that the file is still free.
- Schema changes are not possible over REST: apply `supabase/migrations` with
  `mediasync ledger migrate --url <connection string>` or the Supabase CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any, TypeVar

import httpx
from postgrest import APIError, CountMethod, ReturnMethod, SyncSelectRequestBuilder
from postgrest.types import JSON
from pydantic import SecretStr
from supabase import Client, SupabaseException, create_client
from supabase.lib.client_options import SyncClientOptions

from mediasync.errors import ConfigError, LedgerError
from mediasync.ledger.base import (
    DEFAULT_LEASE_SECONDS,
    TABLES,
    DeleteAnswer,
    DeletionProof,
    DeletionState,
    FileRecord,
    kept_error,
)
from mediasync.ledger.changes import (
    CLAIM_COLUMNS,
    EVENT_COLUMNS,
    check_note,
    plan_changes,
    prepare_new,
)
from mediasync.ledger.columns import (
    JSON_COLUMNS,
    MEDIA_COLUMNS,
    check_columns,
    decode_deletion,
    decode_event,
    decode_file_record,
    decode_operation,
    decode_row,
    to_text_time,
    utcnow,
)
from mediasync.model import (
    FileNote,
    MediaFile,
    Signature,
    Stage,
    StageChange,
    StageEvent,
    SyncOperation,
)

BATCH = 500  # rows per upsert or insert
PAGE = 1000  # rows per read: Supabase's default max-rows
ID_CHUNK = 200  # ids per `in` filter, to keep URLs short
_INSERT_COLUMNS = tuple(c for c in MEDIA_COLUMNS if c != "id")
# the columns without a default: an upsert must carry them even when it only updates
_KEY_COLUMNS = "id,source,source_id,filename,workflow_stage"
_MISSING_TABLE = {"PGRST205", "42P01"}
_UNAVAILABLE = {"PGRST000", "PGRST001", "PGRST002"}  # PostgREST cannot reach its database

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def encode(column: str, value: Any) -> Any:
    """A value as JSON carries it to PostgREST."""
    if value is None:
        return None
    if column in JSON_COLUMNS:
        return json_safe(value)
    if isinstance(value, datetime):
        return to_text_time(value)
    return value


def filter_value(column: str, value: Any) -> Any:
    encoded = encode(column, value)
    return json.dumps(encoded, sort_keys=True) if column in JSON_COLUMNS else encoded


def _same_answer(answer: DeleteAnswer) -> tuple[bool, str, str]:
    """Answers that one request per table can write."""
    return answer.deleted, to_text_time(answer.at) or "", answer.answer or ""


def quoted(value: str) -> str:
    """A value inside PostgREST's `or=(...)` syntax."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SupabaseLedger:
    backend = "supabase"

    def __init__(self, url: str, key: SecretStr, read_only: bool = False,
                 timeout: float = 10.0) -> None:
        """`read_only` refuses every write here, before any request (dry runs)."""
        self.url = url.rstrip("/")
        self.read_only = read_only
        self._key = key
        options = SyncClientOptions(postgrest_client_timeout=timeout,
                                    auto_refresh_token=False, persist_session=False)
        try:
            self._client: Client = create_client(self.url, key.get_secret_value(), options)
        except SupabaseException as exc:
            raise ConfigError(f"ledger supabase {self.url}: {exc.message}") from None

    def migrate(self) -> None:
        if self.schema_version() is None:
            raise LedgerError(
                f"ledger supabase {self.url} has no mediasync tables: apply the migrations"
                " with `mediasync ledger migrate --url <the project's connection string>`"
                " or `supabase db push`")

    def close(self) -> None:
        self._client.postgrest.aclose()

    # requests ------------------------------------------------------------------------------
    def _table(self, name: str) -> Any:
        return self._client.table(name)

    def _run(self, query: Any, absent_ok: bool = False) -> Any:
        """The response; None for a missing table when `absent_ok`."""
        try:
            return query.execute()
        except APIError as exc:
            if absent_ok and exc.code in _MISSING_TABLE:
                return None
            raise self._error(f"{exc.code}: {exc.message}",
                              retryable=exc.code in _UNAVAILABLE) from None
        except httpx.HTTPError as exc:
            raise self._error(f"unreachable ({type(exc).__name__}: {exc})",
                              retryable=True) from None

    def _error(self, message: str, retryable: bool = False) -> LedgerError:
        message = message.replace(self._key.get_secret_value(), "***")
        return LedgerError(f"ledger supabase {self.url}: {message}", retryable=retryable)

    def _writable(self) -> None:
        if self.read_only:
            raise LedgerError(f"ledger supabase {self.url} is open read-only")

    def _rows(self, build: Callable[[], SyncSelectRequestBuilder],
              limit: int | None = None) -> list[dict[str, Any]]:
        """Every row of a query ordered by a key, a page at a time."""
        rows: list[dict[str, Any]] = []
        while True:
            want = PAGE if limit is None else min(PAGE, limit - len(rows))
            if want <= 0:
                return rows
            page = self._run(build().range(len(rows), len(rows) + want - 1)).data
            rows.extend(page)
            if len(page) < want:
                return rows

    def _count(self, table: str, **equals: Any) -> int:
        query = self._table(table).select("*", count=CountMethod.exact, head=True)
        for column, value in equals.items():
            query = query.eq(column, value)
        return int(self._run(query).count or 0)

    def _insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        for chunk in chunks(rows, BATCH):
            self._run(self._table(table).insert(list(chunk), returning=ReturnMethod.minimal))

    def _upsert(self, table: str, rows: Sequence[dict[str, Any]], on_conflict: str) -> None:
        """Rows that set the same columns go together: a missing key would mean NULL."""
        def columns(row: dict[str, Any]) -> tuple[str, ...]:
            return tuple(sorted(row))

        for _, group in groupby(sorted(rows, key=columns), key=columns):
            for chunk in chunks(list(group), BATCH):
                self._run(self._table(table).upsert(list(chunk), on_conflict=on_conflict,
                                                    returning=ReturnMethod.minimal))

    def _snapshot(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The key columns of these files, as they are now."""
        wanted = sorted(set(ids))
        found: dict[int, dict[str, Any]] = {}
        for chunk in chunks(wanted, ID_CHUNK):
            rows = self._run(self._table("media_files").select(_KEY_COLUMNS)
                             .in_("id", list(chunk))).data
            found.update({row["id"]: row for row in rows})
        return found

    def schema_version(self) -> str | None:
        response = self._run(self._table("schema_migrations").select("version")
                             .order("version", desc=True).limit(1), absent_ok=True)
        return response.data[0]["version"] if response and response.data else None

    def table_counts(self) -> dict[str, int]:
        return {table: self._count(table) for table in TABLES}

    # media_files ------------------------------------------------------------------------
    def known_source_ids(self, source: str) -> set[str]:
        rows = self._rows(lambda: self._table("media_files").select("source_id")
                          .eq("source", source).order("id"))
        return {row["source_id"] for row in rows}

    def source_signatures(self, source: str, tag: str) -> dict[str, Signature]:
        # source_meta whole rather than `source_meta->>tag`: PostgREST's JSON paths take
        # the key in the URL unescaped; the sources' meta is a few small keys
        rows = self._rows(lambda: self._table("media_files")
                          .select("source_id,size,content_hash,source_meta")
                          .eq("source", source).order("id"))
        signatures: dict[str, Signature] = {}
        for row in rows:
            if row["content_hash"] is None:
                continue
            value = (row["source_meta"] or {}).get(tag)
            signatures[row["source_id"]] = (row["size"], None if value is None else str(value))
        return signatures

    def get(self, file_id: int) -> MediaFile | None:
        rows = self._run(self._table("media_files").select("*").eq("id", file_id)).data
        return decode_row(rows[0]) if rows else None

    def find(self, source: str, source_id: str) -> MediaFile | None:
        rows = self._run(self._table("media_files").select("*").eq("source", source)
                         .eq("source_id", source_id)).data
        return decode_row(rows[0]) if rows else None

    def add_files(self, files: Sequence[MediaFile], run_id: str | None) -> list[MediaFile]:
        self._writable()
        now = utcnow()
        prepare_new(files, now)
        pending = {(m.source, m.source_id): m for m in reversed(files)}  # first one wins
        added: list[MediaFile] = []
        for chunk in chunks(files, BATCH):
            rows = [{c: encode(c, getattr(m, c)) for c in _INSERT_COLUMNS} for m in chunk]
            inserted = self._run(self._table("media_files").upsert(
                rows, on_conflict="source,source_id", ignore_duplicates=True)).data
            for row in inserted:
                media = pending.pop((row["source"], row["source_id"]))
                media.id = row["id"]
                added.append(media)
        added.sort(key=lambda m: m.id or 0)
        self._insert("stage_events", [
            self._event_row((m.id, None, m.workflow_stage.value, run_id, now, m.error))
            for m in added])
        return added

    @staticmethod
    def _event_row(values: tuple[Any, ...]) -> dict[str, JSON]:
        return {c: encode(c, v) for c, v in zip(EVENT_COLUMNS, values, strict=True)}

    def files_at(self, stages: Iterable[Stage], limit: int | None = None,
                 source: str | None = None) -> list[MediaFile]:
        stage_values = [Stage(s).value for s in stages]

        def build() -> SyncSelectRequestBuilder:
            query = self._table("media_files").select("*").in_("workflow_stage", stage_values)
            if source is not None:
                query = query.eq("source", source)
            return query.order("id")  # type: ignore[no-any-return]

        return [decode_row(r) for r in self._rows(build, limit)]

    def files_where(self, **equals: Any) -> list[MediaFile]:
        check_columns(equals)

        def build() -> SyncSelectRequestBuilder:
            query = self._table("media_files").select("*")
            for column, value in equals.items():
                query = (query.is_(column, None) if value is None
                         else query.eq(column, filter_value(column, value)))
            return query.order("id")  # type: ignore[no-any-return]

        return [decode_row(r) for r in self._rows(build)]

    def apply(self, changes: Sequence[StageChange], run_id: str | None) -> None:
        if not changes:
            return
        self._writable()
        now = utcnow()
        snapshot = self._snapshot(c.file_id for c in changes)
        planned = plan_changes(changes, {i: Stage(r["workflow_stage"])
                                         for i, r in snapshot.items()})
        rows: dict[int, dict[str, Any]] = {}
        for plan in planned:
            row = rows.setdefault(plan.file_id, dict(snapshot[plan.file_id]))
            row.update({c: encode(c, v) for c, v in plan.columns.items()})
            row.update(dict.fromkeys(CLAIM_COLUMNS))
        self._upsert("media_files", list(rows.values()), on_conflict="id")
        self._insert("stage_events", [self._event_row(p.event(run_id, now)) for p in planned])

    def claim(self, stages: Iterable[Stage], limit: int, owner: str,
              lease_seconds: float = DEFAULT_LEASE_SECONDS) -> list[MediaFile]:
        self._writable()
        now = utcnow()
        lapsed = to_text_time(now - timedelta(seconds=lease_seconds)) or ""
        free = f"claimed_by.is.null,claimed_at.lt.{quoted(lapsed)}"
        stage_values = [Stage(s).value for s in stages]
        candidates = self._rows(lambda: self._table("media_files").select("id")
                                .in_("workflow_stage", stage_values).or_(free).order("id"),
                                limit)
        claimed: list[MediaFile] = []
        for chunk in chunks([r["id"] for r in candidates], ID_CHUNK):
            # the UPDATE re-checks `free` on each row under its lock: a row another worker
            # took since the read above is left out of what comes back
            rows = self._run(self._table("media_files")
                             .update({"claimed_by": owner, "claimed_at": to_text_time(now)})
                             .in_("id", list(chunk)).in_("workflow_stage", stage_values)
                             .or_(free)).data
            claimed.extend(decode_row(r) for r in rows)
        return sorted(claimed, key=lambda m: m.id or 0)

    def release(self, owner: str) -> int:
        self._writable()
        response = self._run(self._table("media_files")
                             .update(dict.fromkeys(CLAIM_COLUMNS),
                                     count=CountMethod.exact, returning=ReturnMethod.minimal)
                             .eq("claimed_by", owner))
        return int(response.count or 0)

    def update(self, file_id: int, run_id: str | None = None, **columns: Any) -> None:
        if "workflow_stage" in columns:
            raise LedgerError("stage changes go through apply()")
        check_columns(columns)
        self._writable()
        if columns:
            self._run(self._table("media_files")
                      .update({c: encode(c, v) for c, v in columns.items()},
                              returning=ReturnMethod.minimal).eq("id", file_id))

    def note(self, notes: Sequence[FileNote], run_id: str | None) -> None:
        """As `apply` does: the rows first, then their events (see the module's note)."""
        if not notes:
            return
        for note in notes:
            check_note(note)
        self._writable()
        now = utcnow()
        snapshot = self._snapshot(n.file_id for n in notes)
        rows: dict[int, dict[str, Any]] = {}
        for note in notes:
            if note.file_id in snapshot:
                row = rows.setdefault(note.file_id, dict(snapshot[note.file_id]))
                row.update({c: encode(c, v) for c, v in note.updates.items()})
                row["updated_at"] = to_text_time(now)
        self._upsert("media_files", list(rows.values()), on_conflict="id")
        self._insert("stage_events", [self._event_row(
            (n.file_id, snapshot[n.file_id]["workflow_stage"],
             snapshot[n.file_id]["workflow_stage"], run_id, now, n.detail))
            for n in notes if n.file_id in snapshot])

    def counts_by_stage(self) -> dict[str, int]:
        counts = {stage.value: self._count("media_files", workflow_stage=stage.value)
                  for stage in Stage}
        return {stage: n for stage, n in counts.items() if n}

    def events(self, file_id: int) -> list[StageEvent]:
        rows = self._rows(lambda: self._table("stage_events").select("*")
                          .eq("file_id", file_id).order("id"))
        return [decode_event(r) for r in rows]

    def record_intents(self, proofs: Sequence[DeletionProof]) -> None:
        if not proofs:
            return
        self._writable()
        self._insert("source_deletions", [
            {"file_id": p.file_id, "source_id": p.source_id, "nas_path": p.nas_path,
             "nas_hash": p.nas_hash, "pixel_version": p.pixel_version, "run_id": p.run_id,
             "deleted_at": to_text_time(p.deleted_at), "source": p.source,
             "state": DeletionState.INTENT.value} for p in proofs])

    def resolve_intents(self, answers: Sequence[DeleteAnswer]) -> None:
        """The file first, its proof after: a break in between leaves the intent open with
        the file already marked, and the next run closes it by asking the source."""
        if not answers:
            return
        self._writable()
        for (deleted, at, answer), group in groupby(sorted(answers, key=_same_answer),
                                                    key=_same_answer):
            ids = [a.file_id for a in group]
            kept = None if deleted else answer or None
            marked = {"source_deleted_at": at} if deleted else {"error": kept_error(kept)}
            closed = {"state": (DeletionState.CONFIRMED if deleted else DeletionState.KEPT).value,
                      "answer": kept, "deleted_at": at}
            self._patch_ids("media_files", "id", ids, marked, state=None)
            self._patch_ids("source_deletions", "file_id", ids, closed,
                            state=DeletionState.INTENT.value)

    def _patch_ids(self, table: str, key: str, ids: Sequence[int], values: dict[str, Any],
                   state: str | None) -> None:
        for chunk in chunks(ids, ID_CHUNK):
            query = self._table(table).update(values, returning=ReturnMethod.minimal) \
                .in_(key, list(chunk))
            if state is not None:
                query = query.eq("state", state)
            self._run(query)

    def open_intents(self, source: str) -> list[DeletionProof]:
        rows = self._rows(lambda: self._table("source_deletions").select("*")
                          .eq("source", source).eq("state", DeletionState.INTENT.value)
                          .order("id"))
        return [decode_deletion(r) for r in rows]

    def deletions(self, file_id: int) -> list[DeletionProof]:
        rows = self._rows(lambda: self._table("source_deletions").select("*")
                          .eq("file_id", file_id).order("id"))
        return [decode_deletion(r) for r in rows]

    # sync_operations ------------------------------------------------------------------------
    def start_operation(self, op: SyncOperation) -> int:
        self._writable()
        op.started_at = op.started_at or utcnow()
        rows = self._run(self._table("sync_operations").insert({
            "operation_type": op.operation_type, "status": op.status, "run_id": op.run_id,
            "started_at": to_text_time(op.started_at),
            "detail": None if op.detail is None else json_safe(op.detail)})).data
        op.id = rows[0]["id"]
        return op.id  # type: ignore[return-value]

    def finish_operation(self, op: SyncOperation) -> None:
        if op.id is None:
            raise LedgerError("finish_operation needs an operation from start_operation")
        self._writable()
        op.finished_at = op.finished_at or utcnow()
        self._run(self._table("sync_operations").update({
            "status": op.status, "finished_at": to_text_time(op.finished_at),
            "files_scanned": op.files_scanned, "files_added": op.files_added,
            "files_updated": op.files_updated, "files_removed": op.files_removed,
            "files_failed": op.files_failed, "error": op.error,
            "detail": None if op.detail is None else json_safe(op.detail),
        }, returning=ReturnMethod.minimal).eq("id", op.id))

    def recent_operations(self, limit: int = 10,
                          operation_type: str | None = None) -> list[SyncOperation]:
        query = self._table("sync_operations").select("*")
        if operation_type:
            query = query.eq("operation_type", operation_type)
        rows = self._run(query.order("id", desc=True).limit(limit)).data
        return [decode_operation(r) for r in rows]

    # file_records ------------------------------------------------------------------------
    def file_records(self, root: str) -> dict[str, FileRecord]:
        rows = self._rows(lambda: self._table("file_records").select("*")
                          .eq("root", root).order("rel_path"))
        return {r["rel_path"]: decode_file_record(r) for r in rows}

    def file_signatures(self, root: str) -> dict[str, tuple[int, int]]:
        rows = self._rows(lambda: self._table("file_records").select("rel_path,size,mtime_ns")
                          .eq("root", root).order("rel_path"))
        return {r["rel_path"]: (r["size"], r["mtime_ns"]) for r in rows}

    def touch_file_records(self, root: str, rel_paths: Sequence[str], generation: int) -> None:
        self._writable()
        for chunk in chunks(rel_paths, ID_CHUNK):
            self._run(self._table("file_records")
                      .update({"scan_generation": generation}, returning=ReturnMethod.minimal)
                      .eq("root", root).in_("rel_path", list(chunk)))

    def upsert_file_records(self, records: Sequence[FileRecord]) -> None:
        self._writable()
        now = to_text_time(utcnow())
        self._upsert("file_records", [
            {"root": r.root, "rel_path": r.rel_path, "size": r.size, "mtime_ns": r.mtime_ns,
             "content_hash": r.content_hash, "scan_generation": r.scan_generation,
             "updated_at": now} for r in records], on_conflict="root,rel_path")

    def delete_file_records(self, root: str, rel_paths: Sequence[str]) -> None:
        self._writable()
        for chunk in chunks(rel_paths, ID_CHUNK):
            self._run(self._table("file_records").delete(returning=ReturnMethod.minimal)
                      .eq("root", root).in_("rel_path", list(chunk)))

    def delete_stale_file_records(self, root: str, generation: int) -> int:
        self._writable()
        response = self._run(self._table("file_records")
                             .delete(count=CountMethod.exact, returning=ReturnMethod.minimal)
                             .eq("root", root).lt("scan_generation", generation))
        return int(response.count or 0)
