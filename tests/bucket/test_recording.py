"""The Storage double answers every case recorded from Supabase Storage v1.11.2 as the
real server did: same status, same body shape (keys and value types), same values
wherever they do not depend on the moment (messages, statusCode, names, sizes, ETags).

The cases run in the recording's order against one double, so each sees the state the
earlier ones left, built through the double's own HTTP API; the 1010 objects under
`bulk/`, uploaded before the listing cases and not recorded, are uploaded the same way.
JWTs are redacted in the recording: each request gets the matching one of ours."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.fakes.storage_server import ANON, SERVICE, FakeStorage

RECORDING = Path(__file__).parents[1] / "recordings" / "supabase-storage-1.11.2.json"
CASES: list[dict[str, Any]] = json.loads(RECORDING.read_text())
BULK = 1010
REDACTED = "<redacted>"
JWT = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*")
VOLATILE = {"id", "Id", "version", "created_at", "updated_at", "last_accessed_at",
            "lastModified", "last_modified"}  # uuids and times of the recording's moment
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEADERS = ("content-type", "accept-ranges", "etag", "cache-control", "content-range",
           "content-disposition", "x-robots-tag")  # compared by value where recorded


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Every case's answer from the double, in the recording's order."""
    with FakeStorage(tmp_path_factory.mktemp("storage"), bucket=None) as storage, \
            httpx.Client(base_url=storage.url) as http:
        tokens = Tokens()
        answers: dict[str, httpx.Response] = {}
        for case in CASES:
            if case["case"] == "list/root":  # the first case to see bulk/
                upload_bulk(http, storage)
            request = case["request"]
            answer = http.request(request["method"], tokens.path_for(case),
                                  headers=headers_for(case, storage), content=body_of(request))
            tokens.learn(case, answer)
            answers[case["case"]] = answer
        yield answers


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_the_double_answers_as_storage_did(replay: dict[str, httpx.Response],
                                           case: dict[str, Any]) -> None:
    recorded, answer = case["response"], replay[case["case"]]
    assert answer.status_code == recorded["status"], answer.text
    for name in HEADERS:
        if name in recorded["headers"] or name in answer.headers:
            assert answer.headers.get(name) == recorded["headers"].get(name), name
    body = recorded["body"]
    if isinstance(body, str):
        expected = base64.b64decode(body) if recorded.get("body_encoding") == "base64" \
            else body.encode()
        assert answer.content == expected
    else:
        compare(body, redact(answer.json()), "$", recorded.get("lists_shortened", {}),
                exact=True)


def test_ids_are_kept_and_changed_where_storage_kept_and_changed_them(
        replay: dict[str, httpx.Response]) -> None:
    """An upsert keeps the object's Id, a listing shows the Id the upload gave, a copy
    gets a new one: the same recorded id is always the same id of ours, and the reverse."""
    ours_for: dict[str, str] = {}
    theirs_for: dict[str, str] = {}
    for case in CASES:
        body = case["response"]["body"]
        if isinstance(body, (dict, list)) and case["response"]["status"] == 200:
            answer = replay[case["case"]].json()
            for theirs, ours in ids(body, answer, "$", case["response"].get("lists_shortened",
                                                                             {})):
                assert ours_for.setdefault(theirs, ours) == ours, case["case"]
                assert theirs_for.setdefault(ours, theirs) == theirs, case["case"]
    assert len(ours_for) > 20


def ids(recorded: Any, ours: Any, where: str,
        shortened: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(recorded, ours) of every id, Id and version, walking both answers alike."""
    if isinstance(recorded, dict):
        for key, value in recorded.items():
            if key in ("id", "Id", "version") and isinstance(value, str):
                yield value, ours[key]
            else:
                yield from ids(value, ours[key], f"{where}.{key}", shortened)
    elif isinstance(recorded, list):
        mine = kept_of(ours, recorded) if where in shortened else ours
        for theirs, item in zip(recorded, mine, strict=True):
            yield from ids(theirs, item, f"{where}[]", shortened)


def test_every_case_was_replayed() -> None:
    names = [c["case"] for c in CASES]
    assert len(names) == len(set(names)) == 193


def compare(recorded: Any, ours: Any, where: str, shortened: dict[str, str],
            exact: bool) -> None:
    """Same keys and value types; same values where `exact`, timestamps by their form."""
    if isinstance(recorded, dict):
        assert isinstance(ours, dict), where
        assert set(ours) == set(recorded), where
        for key, value in recorded.items():
            compare(value, ours[key], f"{where}.{key}", shortened,
                    exact and key not in VOLATILE)
    elif isinstance(recorded, list):
        assert isinstance(ours, list), where
        if where in shortened:  # the first three and the last were kept
            assert len(ours) == int(shortened[where].split()[0]), where
            ours = kept_of(ours, recorded)
        assert len(ours) == len(recorded), where
        for i, (mine, theirs) in enumerate(zip(ours, recorded, strict=True)):
            compare(theirs, mine, f"{where}[{i}]", shortened, exact)
    elif exact:
        assert ours == recorded, where
    else:
        assert type(ours) is type(recorded), where
        if isinstance(recorded, str) and STAMP.match(recorded):
            assert STAMP.match(ours), where


def kept_of(ours: list[Any], kept: list[Any]) -> list[Any]:
    """Our items matching those a shortened list kept: by name where items have one (the
    order of a remove's answer is the database's), else the first three and the last."""
    if all(isinstance(item, dict) and "name" in item for item in kept):
        by_name = {item["name"]: item for item in ours}
        return [by_name.get(item["name"]) for item in kept]
    return ours[:3] + ours[-1:]


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return JWT.sub(REDACTED, value) if isinstance(value, str) else value


def upload_bulk(http: httpx.Client, storage: FakeStorage) -> None:
    auth = {"Authorization": f"Bearer {storage.service_key}", "Content-Type": "text/plain"}
    for i in range(BULK):
        answer = http.post(f"/storage/v1/object/rec-private/bulk/f{i:04d}.txt",
                           content=f"bulk {i}\n".encode(), headers=auth)
        assert answer.status_code == 200, answer.text


def headers_for(case: dict[str, Any], storage: FakeStorage) -> dict[str, str]:
    request = case["request"]
    key = {SERVICE: storage.service_key, ANON: storage.anon_key,
           "bad_signature": storage.token(secret=b"another project's secret"),
           "expired": storage.token(expired=True)}.get(request["auth"])
    headers = {name: value for name, value in request["headers"].items()
               if name not in ("authorization", "apikey", "content-length")}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
        if "apikey" in request["headers"]:
            headers["apikey"] = key
    return headers


def body_of(request: dict[str, Any]) -> bytes | None:
    body = request.get("body")
    if body is None:
        return None
    if request.get("body_encoding") == "base64":
        return base64.b64decode(body)
    if isinstance(body, str):
        return body.encode()
    for where, note in request.get("lists_shortened", {}).items():
        field = where.removeprefix("$.")
        body = {**body, field: whole_list(body[field], int(note.split()[0]))}
    return json.dumps(body).encode()


def whole_list(kept: list[str], length: int) -> list[str]:
    """A shortened list of bulk keys, whole again: they run from bulk/f0000.txt on."""
    keys = [f"bulk/f{i:04d}.txt" for i in range(length)]
    assert kept == keys[:3] + keys[-1:], kept
    return keys


class Tokens:
    """The tokens of the URLs the double signed, by the URL's path as the server wrote it
    and by how it was signed (one key, or a batch), put where the recording says."""

    def __init__(self) -> None:
        self.signed: dict[tuple[str, str], str] = {}
        self.last: dict[str, str] = {}

    def learn(self, case: dict[str, Any], answer: httpx.Response) -> None:
        if answer.status_code != 200 or "json" not in answer.headers.get("content-type", ""):
            return
        payload = answer.json()
        items = payload if isinstance(payload, list) else [payload]
        kind = "batch" if isinstance(payload, list) else "one"
        for item in items:
            url = item.get("signedURL") if isinstance(item, dict) else None
            if url:
                path, _, token = url.rpartition("?token=")
                self.signed[(kind, unquote(path))] = token
                self.last[kind] = token

    def path_for(self, case: dict[str, Any]) -> str:
        path = case["request"]["path"]
        path = path if path.startswith("/storage/v1") else "/storage/v1" + path
        if REDACTED not in path:
            return path
        before, _, after = path.rpartition(f"?token={REDACTED}")
        kind = "batch" if "batch" in case["case"] else "one"
        signed_path = unquote(before.removeprefix("/storage/v1"))
        if "token for another key" in case["case"]:
            signed_path = "/object/sign/rec-private/docs/a.txt"
        token = self.signed.get((kind, signed_path), self.last[kind])
        if "token altered" in case["case"]:
            token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        return f"{before}?token={token}{after}"
