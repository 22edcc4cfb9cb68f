"""A small PostgREST over in-memory tables, honest to the wire format of the calls a
record table makes through supabase-py (postgrest-py):

    GET    /rest/v1/{table}?select=a,b&order=a.asc&offset=0&limit=1000
           Prefer: count=exact
    POST   /rest/v1/{table}?columns=a,b[&on_conflict=a]
           Prefer: return=representation|minimal[,resolution=merge-duplicates]
    DELETE /rest/v1/{table}?a=in.(x,"y,z")
           Prefer: return=representation

Filters: `eq.` and `in.(...)` with PostgREST's quoting. Paging by offset/limit params or a
`Range: 0-9` header; `Content-Range: 0-9/123` (`*` without count=exact); a `max_rows` cap
like the server's db-max-rows. Each table has a serial `id` and one unique column. A
DELETE without a filter is refused as Supabase's safeupdate does. Errors carry PostgREST's
body `{"code", "message", "details", "hint"}`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakes.local_server import LocalHandler, LocalServer

PREFIX = "/rest/v1/"
RESERVED = {"select", "order", "offset", "limit", "columns", "on_conflict"}


class PostgrestFault(Exception):
    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


@dataclass
class Table:
    name: str
    unique: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1
    index: dict[Any, dict[str, Any]] = field(default_factory=dict)  # the unique column

    def add(self, row: dict[str, Any], resolution: str | None) -> dict[str, Any] | None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise PostgrestFault(400, "PGRST204", f"Could not find the '{sorted(unknown)[0]}' "
                                 f"column of '{self.name}' in the schema cache")
        existing = self.index.get(row.get(self.unique))
        if existing is None:
            full = {c: None for c in self.columns} | row | {"id": self.next_id}
            self.next_id += 1
            self.rows.append(full)
            self.index[full[self.unique]] = full
            return full
        if resolution == "merge-duplicates":
            existing.update(row)
            return existing
        if resolution == "ignore-duplicates":
            return None
        raise PostgrestFault(409, "23505", f'duplicate key value violates unique constraint '
                             f'"{self.name}_{self.unique}_key"',
                             f"Key ({self.unique})=({row.get(self.unique)}) already exists.")

    def keep(self, rows: list[dict[str, Any]], next_id: int) -> None:
        self.rows, self.next_id = rows, next_id
        self.index = {row[self.unique]: row for row in rows}


class FakePostgrest(LocalServer):
    """Use as a context manager; `url` is the project URL for create_client."""

    def __init__(self, service_key: str = "service-key", max_rows: int = 1000) -> None:
        self.service_key = service_key
        self.max_rows = max_rows
        self.tables: dict[str, Table] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.lock = threading.Lock()
        super().__init__(_Handler)

    def create_table(self, name: str, unique: str, *columns: str) -> Table:
        table = Table(name, unique, ("id", unique, *columns))
        self.tables[name] = table
        return table

    def table(self, name: str) -> Table:
        if name not in self.tables:
            raise PostgrestFault(404, "PGRST205",
                                 f"Could not find the table 'public.{name}' in the schema cache")
        return self.tables[name]


# query language --------------------------------------------------------------------------

def parse_in_list(text: str) -> list[str]:
    """`(a,"b,c","d\\"e")` -> ["a", "b,c", 'd"e']; also column lists, which quote alike."""
    if not (text.startswith("(") and text.endswith(")")):
        raise PostgrestFault(400, "PGRST100", f'"failed to parse filter (in.{text})"')
    values, current, quoted, escaped, was_quoted = [], [], False, False, False
    for char in text[1:-1]:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted, was_quoted = not quoted, True
        elif char == "," and not quoted:
            values.append("".join(current))
            current, was_quoted = [], False
        else:
            current.append(char)
    if current or was_quoted or values:
        values.append("".join(current))
    return values


def row_filter(params: list[tuple[str, str]]) -> Callable[[dict[str, Any]], bool]:
    """The WHERE clause of the query string's filters (`col=eq.x`, `col=in.(x,y)`)."""
    tests: list[tuple[str, set[str]]] = []
    for column, expression in params:
        if column in RESERVED:
            continue
        op, _, operand = expression.partition(".")
        if op == "eq":
            tests.append((column, {operand}))
        elif op == "in":
            tests.append((column, set(parse_in_list(operand))))
        else:
            raise PostgrestFault(400, "PGRST100", f'"failed to parse filter ({expression})"')
    return lambda row: all(
        row.get(column) is not None and str(row[column]) in allowed for column, allowed in tests)


def project(rows: list[dict[str, Any]], select: str, table: Table) -> list[dict[str, Any]]:
    if select in ("", "*"):
        return [dict(r) for r in rows]
    columns = parse_in_list(f"({select})")
    for column in columns:
        if column not in table.columns:
            raise PostgrestFault(400, "42703", f"column {table.name}.{column} does not exist")
    return [{c: r[c] for c in columns} for r in rows]


def ordered(rows: list[dict[str, Any]], order: str | None) -> list[dict[str, Any]]:
    for term in reversed(order.split(",") if order else []):
        column, _, direction = term.partition(".")

        def value(row: dict[str, Any], column: str = column) -> tuple[bool, Any]:
            return row.get(column) is None, row.get(column) or ""

        rows = sorted(rows, key=value, reverse=direction.startswith("desc"))
    return rows


# HTTP -------------------------------------------------------------------------------------

class _Handler(LocalHandler):
    service: FakePostgrest

    def do_GET(self) -> None:
        self._serve(self._select)

    def do_POST(self) -> None:
        self._serve(self._insert)

    def do_DELETE(self) -> None:
        self._serve(self._delete)

    def _serve(self, action: Any) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        self.service.requests.append((self.command, self.path))
        try:
            if self.headers.get("Authorization") != f"Bearer {self.service.service_key}":
                raise PostgrestFault(401, "PGRST301", "JWSError JWSInvalidSignature")
            if not url.path.startswith(PREFIX):
                raise PostgrestFault(404, "PGRST125", "Invalid path specified in request URL")
            params = parse_qsl(url.query, keep_blank_values=True)
            with self.service.lock:
                table = self.service.table(unquote(url.path[len(PREFIX):]))
                action(table, params, body)
        except PostgrestFault as fault:
            self._send(fault.status, {"code": fault.code, "details": fault.details,
                                      "hint": None, "message": fault.message})

    @property
    def _prefer(self) -> dict[str, str]:
        prefs = {}
        for item in ",".join(self.headers.get_all("Prefer") or []).split(","):
            name, _, value = item.strip().partition("=")
            if name:
                prefs[name] = value
        return prefs

    def _select(self, table: Table, params: list[tuple[str, str]], body: bytes) -> None:
        options = dict(params)
        rows = ordered(list(filter(row_filter(params), table.rows)), options.get("order"))
        start, limit = self._window(options)
        page = rows[start:start + min(limit, self.service.max_rows)]
        total = str(len(rows)) if self._prefer.get("count") == "exact" else "*"
        span = f"{start}-{start + len(page) - 1}" if page else "*"
        self._send(200, project(page, options.get("select", "*"), table),
                   {"Content-Range": f"{span}/{total}"})

    def _window(self, options: dict[str, str]) -> tuple[int, int]:
        if "Range" in self.headers:  # Range: 0-9 (items)
            first, _, last = self.headers["Range"].partition("-")
            return int(first), int(last) - int(first) + 1 if last else self.service.max_rows
        return int(options.get("offset", 0)), int(options.get("limit", self.service.max_rows))

    def _insert(self, table: Table, params: list[tuple[str, str]], body: bytes) -> None:
        options = dict(params)
        payload = json.loads(body or b"[]")
        rows = payload if isinstance(payload, list) else [payload]
        if "columns" in options:
            keep = parse_in_list(f"({options['columns']})")  # names may come quoted
            rows = [{c: r.get(c) for c in keep} for r in rows]
        if options.get("on_conflict", table.unique) != table.unique:
            raise PostgrestFault(400, "42P10", "there is no unique or exclusion constraint "
                                 "matching the ON CONFLICT specification")
        snapshot = [dict(r) for r in table.rows], table.next_id
        try:
            written = [r for r in (table.add(row, self._prefer.get("resolution")) for row in rows)
                       if r is not None]
        except PostgrestFault:
            table.keep(*snapshot)  # one statement, one transaction
            raise
        self._answer(201, written)

    def _delete(self, table: Table, params: list[tuple[str, str]], body: bytes) -> None:
        if all(name in RESERVED for name, _ in params):
            raise PostgrestFault(400, "21000", "DELETE requires a WHERE clause")
        where = row_filter(params)
        gone = [r for r in table.rows if where(r)]
        table.keep([r for r in table.rows if not where(r)], table.next_id)
        self._answer(200, gone)

    def _answer(self, status: int, rows: list[dict[str, Any]]) -> None:
        if self._prefer.get("return") == "representation":
            return self._send(status, rows)
        self._send(204 if status == 200 else status, None)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
