"""A read-only key is refused a GraphQL multipart request before its body is
read (issue 10, finding 3): such a body carries uploads, which only mutations
take, and used to be held in memory, part by part, until the client finished."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from config import Settings
from server import create_app
from tests import images
from tests.conftest import PREFLIGHT
from tests.sockets import Live, chunk, connect, read_until_closed, served

WRITE_KEY = "write-key-0123456789abcdef"
READ_KEY = "read-key-0123456789abcdef"
UPLOAD = "mutation($f: Upload!) { uploadFile(file: $f) { file { filename } errors { code } } }"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    keys = {"API_KEYS": WRITE_KEY, "READ_API_KEYS": READ_KEY}
    with served(tmp_path_factory.mktemp("live"), **keys) as server:
        yield server


def test_a_read_keys_multipart_body_is_refused_before_it_is_read(live: Live) -> None:
    operations = json.dumps({"query": UPLOAD, "variables": {"f": None}}).encode()
    with connect(live) as sock:
        # the headers and the first part; the other 150 MB would follow
        sock.sendall(
            f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {READ_KEY}\r\n"
            "Apollo-Require-Preflight: true\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n\r\n".encode()
            + chunk(b'--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n')
            + chunk(operations + b"\r\n")
        )
        answer = read_until_closed(sock)  # answered and closed without the rest
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403"), answer[:300]
    assert b"connection: close" in head.lower()
    assert "may read but not change" in json.loads(body)["detail"]


def test_multipart_graphql_is_for_write_keys_and_json_queries_for_both(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(api_keys=WRITE_KEY, read_api_keys=READ_KEY)
    operations = json.dumps({"query": UPLOAD, "variables": {"f": None}})
    form = {"operations": operations, "map": json.dumps({"0": ["variables.f"]})}
    photo = {"0": ("car.jpg", images.jpeg(), "image/jpeg")}
    with TestClient(create_app(settings)) as client:
        for key, status in [(READ_KEY, 403), (WRITE_KEY, 200)]:
            answer = client.post(
                "/graphql",
                data=form,
                files=photo,
                headers={**PREFLIGHT, "Authorization": f"Bearer {key}"},
            )
            assert answer.status_code == status, answer.text
        query = {"query": "{ files { totalCount } }"}
        listed = client.post("/graphql", json=query, headers={"X-API-Key": READ_KEY})
        assert listed.json() == {"data": {"files": {"totalCount": 1}}}
