"""A local server speaking PostgREST's wire format, executing on a real Postgres.

It covers what the Supabase ledger sends through supabase-py, the way PostgREST answers:
`GET|HEAD /rest/v1/<table>` with `select`, filters (`eq neq gt gte lt lte is in`, and
`or=(...)`), `order`, `limit`/`offset` or a `Range` header, `Prefer: count=exact` answered
in `Content-Range`; `POST` inserts and upserts (`on_conflict`, `columns`,
`resolution=merge-duplicates|ignore-duplicates`, `return=representation|minimal`), through
`json_populate_recordset` as PostgREST does; `PATCH` and `DELETE` with filters. Errors
come back as PostgREST's JSON body `{code, message, details, hint}` with its status
codes. Each request is one transaction. The service key must come as `apikey` and bearer.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

_RESERVED = {"select", "order", "limit", "offset", "on_conflict", "columns"}
_OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_IS_VALUES = {"null": "NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}
_STATUS_BY_CLASS = {"23": 409, "22": 400, "42": 400, "25": 405}
_STATUS_BY_CODE = {"23502": 400, "42P01": 404, "42883": 404}


@dataclass(frozen=True)
class Received:
    method: str
    table: str
    rows: int  # in the body (1 for a single object or none)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "message": message, "details": details, "hint": hint}


def split_top_level(text: str) -> list[str]:
    """Split on commas outside double quotes and parentheses."""
    parts, current, depth, quoted, escaped = [], "", 0, False, False
    for char in text:
        if escaped:
            current, escaped = current + char, False
            continue
        if char == "\\" and quoted:
            current, escaped = current + char, True
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        elif char == "," and not quoted and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return parts


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def column_name(name: str) -> str:
    name = unquote(name.strip())
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ApiError(400, "PGRST100", f'"failed to parse" column name {name!r}')
    return name


def identifier(name: str) -> sql.Identifier:
    return sql.Identifier(column_name(name))


def parse_filter(column: str, expression: str) -> sql.Composable:
    """`col=op.value` (or `col.op.value` inside `or=(...)`) as SQL with parameters bound."""
    negate = expression.startswith("not.")
    if negate:
        expression = expression[4:]
    operator, _, value = expression.partition(".")
    target = identifier(column)
    if operator in _OPERATORS:
        clause = sql.SQL("{} {} {}").format(target, sql.SQL(_OPERATORS[operator]),
                                            sql.Literal(unquote(value)))
    elif operator == "is" and value.lower() in _IS_VALUES:
        clause = sql.SQL("{} IS {}").format(target, sql.SQL(_IS_VALUES[value.lower()]))
    elif operator == "in" and value.startswith("(") and value.endswith(")"):
        items = [unquote(v) for v in split_top_level(value[1:-1]) if v != ""]
        if not items:
            clause = sql.SQL("FALSE")
        else:
            clause = sql.SQL("{} IN ({})").format(
                target, sql.SQL(", ").join(sql.Literal(v) for v in items))
    else:
        raise ApiError(400, "PGRST100", f'"failed to parse filter ({operator}.{value})"')
    return sql.SQL("NOT ({})").format(clause) if negate else clause


def parse_or(expression: str) -> sql.Composable:
    if not (expression.startswith("(") and expression.endswith(")")):
        raise ApiError(400, "PGRST100", '"failed to parse logic tree"')
    terms = []
    for term in split_top_level(expression[1:-1]):
        column, _, rest = term.partition(".")
        terms.append(parse_filter(column, rest))
    return sql.SQL("({})").format(sql.SQL(" OR ").join(terms))


@dataclass
class ParsedRequest:
    table: str
    params: list[tuple[str, str]]
    prefer: set[str]
    range_header: str | None
    body: Any = None
    where: list[sql.Composable] = field(default_factory=list)

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    def __post_init__(self) -> None:
        for key, value in self.params:
            if key in _RESERVED:
                continue
            self.where.append(parse_or(value) if key == "or" else parse_filter(key, value))

    @property
    def where_sql(self) -> sql.Composable:
        if not self.where:
            return sql.SQL("")
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(self.where)

    def column_names(self, name: str, default: list[str]) -> list[str]:
        given = self.param(name)
        return split_top_level(given) if given and given != "*" else default

    def window(self) -> tuple[int, int | None]:
        offset, limit = 0, None
        if self.range_header:
            start, _, end = self.range_header.partition("-")
            offset = int(start)
            limit = int(end) - offset + 1 if end else None
        if self.param("offset") is not None:
            offset = int(self.param("offset"))  # type: ignore[arg-type]
        if self.param("limit") is not None:
            limit = int(self.param("limit"))  # type: ignore[arg-type]
        return offset, limit

    def order_sql(self) -> sql.Composable:
        given = self.param("order")
        if not given:
            return sql.SQL("")
        terms = []
        for term in given.split(","):
            column, *modifiers = term.split(".")
            words = [{"asc": "ASC", "desc": "DESC", "nullsfirst": "NULLS FIRST",
                      "nullslast": "NULLS LAST"}[m] for m in modifiers]
            terms.append(sql.SQL(" ").join([identifier(column), *map(sql.SQL, words)]))
        return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(terms)


class PostgrestServer:
    def __init__(self, dsn: str, service_key: str, db_timeout: float = 5) -> None:
        self.service_key = service_key
        self.pool: ConnectionPool[Any] = ConnectionPool(
            dsn, min_size=1, max_size=4, open=False, timeout=db_timeout,
            kwargs={"row_factory": tuple_row})
        self.requests: list[Received] = []
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.pool.open()
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self.pool.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(_Handler):
            api = server

        return Handler

    # the SQL PostgREST would run -------------------------------------------------------
    def table_columns(self, cur: psycopg.Cursor[Any], table: str) -> list[str]:
        rows = cur.execute("SELECT column_name FROM information_schema.columns"
                           " WHERE table_schema = 'public' AND table_name = %s"
                           " ORDER BY ordinal_position", (table,)).fetchall()
        if not rows:
            raise ApiError(404, "PGRST205", f"Could not find the table 'public.{table}' in"
                           " the schema cache")
        return [r[0] for r in rows]

    def execute(self, method: str, request: ParsedRequest) -> tuple[int, dict[str, str], Any]:
        try:
            with self.pool.connection() as conn, conn.cursor() as cur:
                columns = self.table_columns(cur, request.table)
                handler = {"GET": self._select, "HEAD": self._select, "POST": self._insert,
                           "PATCH": self._update, "DELETE": self._delete}[method]
                return handler(cur, request, columns)
        except psycopg.OperationalError as exc:
            raise ApiError(503, "PGRST000", "Could not connect with the database due to an"
                           " incorrect db-uri or due to the PostgreSQL service not running.",
                           str(exc).splitlines()[0] if str(exc) else None) from None
        except psycopg.Error as exc:
            raise _api_error(exc) from None

    def _select(self, cur: psycopg.Cursor[Any], request: ParsedRequest,
                columns: list[str]) -> tuple[int, dict[str, str], Any]:
        table = sql.Identifier(request.table)
        offset, limit = request.window()
        query = sql.SQL("SELECT {} FROM {}{}{}").format(
            sql.SQL(", ").join(map(identifier, request.column_names("select", columns))),
            table, request.where_sql,
            request.order_sql())
        if limit is not None:
            query += sql.SQL(" LIMIT {}").format(sql.Literal(limit))
        query += sql.SQL(" OFFSET {}").format(sql.Literal(offset))
        rows = _json_rows(cur, query)
        total = "*"
        if "count=exact" in request.prefer:
            counted = cur.execute(sql.SQL("SELECT count(*) FROM {}{}").format(
                table, request.where_sql)).fetchone()
            total = str(counted[0])  # type: ignore[index]
        shown = f"{offset}-{offset + len(rows) - 1}" if rows else "*"
        return 200, {"Content-Range": f"{shown}/{total}"}, rows

    def _insert(self, cur: psycopg.Cursor[Any], request: ParsedRequest,
                columns: list[str]) -> tuple[int, dict[str, str], Any]:
        body = request.body if isinstance(request.body, list) else [request.body]
        keys = sorted({k for row in body for k in row}) if body else []
        targets = _known(request.column_names("columns", keys), columns, request.table)
        conflict = sql.SQL("")
        if "resolution=ignore-duplicates" in request.prefer:
            conflict = sql.SQL(" ON CONFLICT {}DO NOTHING").format(
                self._conflict_target(cur, request))
        elif "resolution=merge-duplicates" in request.prefer:
            conflict = sql.SQL(" ON CONFLICT {}DO UPDATE SET {}").format(
                self._conflict_target(cur, request), sql.SQL(", ").join(
                    sql.SQL("{} = EXCLUDED.{}").format(t, t) for t in targets))
        query = sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM json_populate_recordset("
                        "NULL::{t}, {body}){conflict} RETURNING *").format(
            t=sql.Identifier(request.table), c=sql.SQL(", ").join(targets),
            body=sql.Literal(json.dumps(body)), conflict=conflict)
        return self._written(cur, query, request, 201)

    def _conflict_target(self, cur: psycopg.Cursor[Any],
                         request: ParsedRequest) -> sql.Composable:
        names = request.param("on_conflict")
        if names:
            keys = [identifier(n) for n in split_top_level(names)]
        else:
            keys = [sql.Identifier(r[0]) for r in cur.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid ="
                " i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass"
                " AND i.indisprimary", (request.table,)).fetchall()]
        return sql.SQL("({}) ").format(sql.SQL(", ").join(keys))

    def _update(self, cur: psycopg.Cursor[Any], request: ParsedRequest,
                columns: list[str]) -> tuple[int, dict[str, str], Any]:
        targets = _known(list(request.body), columns, request.table)
        query = sql.SQL("UPDATE {t} SET ({c}) = (SELECT {c} FROM json_populate_record("
                        "NULL::{t}, {body})){where} RETURNING *").format(
            t=sql.Identifier(request.table), c=sql.SQL(", ").join(targets),
            body=sql.Literal(json.dumps(request.body)), where=request.where_sql)
        return self._written(cur, query, request, 200)

    def _delete(self, cur: psycopg.Cursor[Any], request: ParsedRequest,
                columns: list[str]) -> tuple[int, dict[str, str], Any]:
        query = sql.SQL("DELETE FROM {}{} RETURNING *").format(
            sql.Identifier(request.table), request.where_sql)
        return self._written(cur, query, request, 200)

    def _written(self, cur: psycopg.Cursor[Any], query: sql.Composable,
                 request: ParsedRequest, status: int) -> tuple[int, dict[str, str], Any]:
        rows = _json_rows(cur, query, cte=True)
        headers = {"Content-Range": f"*/{len(rows)}"} if "count=exact" in request.prefer else {}
        if "return=representation" in request.prefer:
            return status, headers, rows
        return (201 if status == 201 else 204), headers, None


def _json_rows(cur: psycopg.Cursor[Any], query: sql.Composable,
               cte: bool = False) -> list[Any]:
    """Rows as PostgREST renders them: Postgres' own JSON of each row."""
    wrapped = (sql.SQL("WITH _written AS ({}) SELECT coalesce(json_agg(_written), '[]')"
                       " FROM _written") if cte else
               sql.SQL("SELECT coalesce(json_agg(_r), '[]') FROM ({}) _r")).format(query)
    row = cur.execute(wrapped).fetchone()
    return row[0]  # type: ignore[index]


def _known(names: list[str], columns: list[str], table: str) -> list[sql.Identifier]:
    for name in names:
        if column_name(name) not in columns:
            raise ApiError(400, "PGRST204", f"Could not find the '{name}' column of"
                           f" '{table}' in the schema cache")
    return [identifier(name) for name in names]


def _api_error(exc: psycopg.Error) -> ApiError:
    diag = exc.diag
    code = diag.sqlstate or "XX000"
    status = _STATUS_BY_CODE.get(code) or _STATUS_BY_CLASS.get(code[:2], 500)
    return ApiError(status, code, diag.message_primary or str(exc), diag.message_detail,
                    diag.message_hint)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave without a 40 ms ACK wait
    api: PostgrestServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return None

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            self._authorize()
            request = self._parse(raw)
            rows = request.body if isinstance(request.body, list) else [request.body]
            self.api.requests.append(Received(method, request.table, len(rows)))
            status, headers, payload = self.api.execute(method, request)
        except ApiError as error:
            status, headers, payload = error.status, {}, error.body
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def _authorize(self) -> None:
        key = self.api.service_key
        if (self.headers.get("apikey") != key
                or self.headers.get("Authorization") != f"Bearer {key}"):
            raise ApiError(401, "PGRST301", "Invalid API key",
                           hint="Double check your Supabase `anon` or `service_role` API key.")

    def _parse(self, raw: bytes) -> ParsedRequest:
        url = urlsplit(self.path)
        match = re.fullmatch(r"/rest/v1/([A-Za-z_][A-Za-z0-9_]*)", url.path)
        if not match:
            raise ApiError(404, "PGRST125", f"Invalid path specified in request URL: {url.path}")
        prefer = {p.strip() for h in self.headers.get_all("Prefer") or [] for p in h.split(",")}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            raise ApiError(400, "PGRST102", "Empty or invalid json") from None
        return ParsedRequest(table=match.group(1),
                             params=parse_qsl(url.query, keep_blank_values=True),
                             prefer=prefer, range_header=self.headers.get("Range"), body=body)
