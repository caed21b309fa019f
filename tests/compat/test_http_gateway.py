"""HTTP on the client port, ours beside the real etcd 3.4: /health, /version, /metrics, the
JSON gateway on every path (a streaming watch too), bad input, and `etcdctl check datascale`.

Each request goes to both with the same body; answers are compared in form (status, headers
that matter, the JSON's shape: field names, nesting and value types), values only where they
cannot differ between two clusters.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.compat.cluster import ProcessCluster, etcdctl, free_port, running_cluster

TIMEOUT_S = 20.0

ETCD_SERIES = {
    "etcd_server_has_leader": "gauge",
    "etcd_server_leader_changes_seen": "counter",
    "etcd_server_proposals_committed_total": "gauge",
    "etcd_server_proposals_applied_total": "gauge",
    "etcd_server_proposals_pending": "gauge",
    "etcd_server_proposals_failed": "counter",
    "etcd_disk_wal_fsync_duration_seconds": "histogram",
    "etcd_disk_backend_commit_duration_seconds": "histogram",
    "etcd_mvcc_db_total_size_in_bytes": "gauge",
    "etcd_mvcc_db_total_size_in_use_in_bytes": "gauge",
    "grpc_server_handled": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_cpu_seconds": "counter",
    "process_open_fds": "gauge",
}
"""Series people graph, by the family name prometheus_client's parser gives (counters lose
their `_total`), and their types in etcd 3.4."""
DISK_BUCKETS = [0.001 * 2**i for i in range(14)]
PEER_BUCKETS = [0.0001 * 2**i for i in range(14)]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def ours(cluster: ProcessCluster) -> Iterator[httpx.Client]:
    """Our leader: what it answers (peer round trips, moving the leadership) a follower does
    not, and the real etcd we compare with is a leader too."""
    with httpx.Client(base_url=leader_url(cluster), timeout=TIMEOUT_S) as client:
        yield client


def leader_url(cluster: ProcessCluster) -> str:
    for member in cluster.members:
        status = httpx.post(f"{member.client_url}/v3/maintenance/status", content="{}").json()
        if status["leader"] == status["header"]["member_id"]:
            return member.client_url
    raise AssertionError("no member of ours says it is the leader")


@pytest.fixture(scope="module")
def etcd(real_etcd: ProcessCluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=real_etcd.members[0].client_url, timeout=TIMEOUT_S) as client:
        yield client


def shape(value: Any) -> Any:
    """The form of a JSON value: objects by field, lists by the fields any of their objects
    has (a member list's order follows random ids, and only a learner says isLearner),
    scalars by type."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        if not value:
            return []
        if all(isinstance(item, dict) for item in value):
            return [{key: form for item in value for key, form in shape(item).items()}]
        return [shape(value[0])]
    return type(value).__name__


def post_both(
    ours: httpx.Client, etcd: httpx.Client, path: str, body: dict[str, Any] | str
) -> tuple[httpx.Response, httpx.Response]:
    content = body if isinstance(body, str) else json.dumps(body)
    return ours.post(path, content=content), etcd.post(path, content=content)


def assert_same_form(ours_answer: httpx.Response, etcd_answer: httpx.Response) -> None:
    assert ours_answer.status_code == etcd_answer.status_code, ours_answer.text
    assert ours_answer.headers["content-type"] == etcd_answer.headers["content-type"]
    assert shape(ours_answer.json()) == shape(etcd_answer.json())


# -- /health, /version, /livez, /readyz ---------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/health", "/health?serializable=true", "/health?exclude=NOSPACE"]
)
def test_health_answers_as_etcd(ours: httpx.Client, etcd: httpx.Client, path: str) -> None:
    mine, theirs = ours.get(path), etcd.get(path)
    assert (
        (mine.status_code, mine.text)
        == (theirs.status_code, theirs.text)
        == (
            200,
            '{"health":"true"}',
        )
    )
    assert mine.headers["content-type"] == theirs.headers["content-type"]


def test_version_names_the_server_and_cluster_versions(
    ours: httpx.Client, etcd: httpx.Client
) -> None:
    mine, theirs = ours.get("/version"), etcd.get("/version")
    assert mine.status_code == theirs.status_code == 200
    assert mine.headers["content-type"] == theirs.headers["content-type"] == "application/json"
    assert mine.json().keys() == theirs.json().keys() == {"etcdserver", "etcdcluster"}
    assert mine.json()["etcdserver"].startswith("3.4.")
    assert mine.json()["etcdcluster"] == theirs.json()["etcdcluster"] == "3.4.0"


@pytest.mark.parametrize("path", ["/health", "/version"])
def test_health_and_version_take_get_only(
    ours: httpx.Client, etcd: httpx.Client, path: str
) -> None:
    mine, theirs = ours.post(path), etcd.post(path)
    assert (mine.status_code, mine.text) == (theirs.status_code, theirs.text)
    assert mine.status_code == 405
    assert mine.headers["allow"] == theirs.headers["allow"] == "GET"


def test_livez_and_readyz_answer_as_etcd_3_5(ours: httpx.Client) -> None:
    assert (ours.get("/livez").status_code, ours.get("/livez").text) == (200, "ok")
    verbose = ours.get("/readyz", params={"verbose": ""})
    assert verbose.status_code == 200
    assert verbose.text.splitlines() == [
        "[+]data_corruption ok",
        "[+]serializable_read ok",
        "[+]linearizable_read ok",
        "/readyz check passed",
    ]
    excluded = ours.get("/readyz?verbose&exclude=linearizable_read")
    assert "[+]linearizable_read excluded: ok" in excluded.text.splitlines()


@pytest.mark.parametrize(
    "path", ["/nosuch", "/v3/nosuch", "/v3/maintenance/hashkv", "/etcdserverpb.KV/Range"]
)
def test_unknown_paths_get_etcds_404(ours: httpx.Client, etcd: httpx.Client, path: str) -> None:
    mine, theirs = ours.post(path, content="{}"), etcd.post(path, content="{}")
    assert (mine.status_code, mine.text) == (theirs.status_code, theirs.text)
    assert mine.status_code == 404


def test_gateway_paths_take_post_only(ours: httpx.Client, etcd: httpx.Client) -> None:
    mine, theirs = ours.get("/v3/kv/range"), etcd.get("/v3/kv/range")
    assert (mine.status_code, mine.text) == (theirs.status_code, theirs.text)
    assert mine.status_code == 405
    mine, theirs = ours.options("/v3/kv/range"), etcd.options("/v3/kv/range")
    assert mine.status_code == theirs.status_code == 200
    cors = "access-control-allow-origin"
    assert mine.headers[cors] == theirs.headers[cors] == "*"


# -- /metrics ---------------------------------------------------------------------------------


def metric_types(client: httpx.Client) -> dict[str, str]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {family.name: family.type for family in text_string_to_metric_families(answer.text)}


def test_metrics_have_etcds_names_and_types(ours: httpx.Client, etcd: httpx.Client) -> None:
    ours.post("/v3/kv/range", content=json.dumps({"key": b64("metrics")}))
    mine, theirs = metric_types(ours), metric_types(etcd)
    for name, kind in ETCD_SERIES.items():
        assert theirs.get(name) == kind, f"real etcd's {name}"
        assert mine.get(name) == kind, f"our {name}"


def test_metrics_histograms_use_etcds_buckets(ours: httpx.Client) -> None:
    text = ours.get("/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for name, buckets in (
        ("etcd_disk_wal_fsync_duration_seconds", DISK_BUCKETS),
        ("etcd_disk_backend_commit_duration_seconds", DISK_BUCKETS),
        ("etcd_network_peer_round_trip_time_seconds", PEER_BUCKETS),
    ):
        bounds = sorted(
            {float(s.labels["le"]) for s in families[name].samples if s.name.endswith("_bucket")}
        )
        assert bounds == pytest.approx([*buckets, float("inf")]), name
    leader = [s.value for s in families["etcd_server_has_leader"].samples]
    assert leader == [1.0]


def test_metrics_are_served_on_the_metrics_url_too(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 1) as single:
        member = single.members[0]
        metrics_url = f"http://127.0.0.1:{free_port()}"
        member.stop()
        member.extra_args = (f"--listen-metrics-urls={metrics_url}",)
        member.start()
        single.wait_for_leader([member])
        with httpx.Client(base_url=metrics_url, timeout=TIMEOUT_S) as client:
            assert "etcd_server_has_leader 1.0" in client.get("/metrics").text
            assert client.get("/health").json() == {"health": "true"}
            assert client.post("/v3/kv/range", content="{}").status_code == 404


# -- the gateway ------------------------------------------------------------------------------


def test_kv_paths_answer_in_etcds_form(ours: httpx.Client, etcd: httpx.Client) -> None:
    key, value = b64("gw/kv"), b64("v1")
    requests: list[tuple[str, dict[str, Any]]] = [
        ("/v3/kv/put", {"key": key, "value": value}),
        ("/v3/kv/put", {"key": key, "value": b64("v2"), "prev_kv": True}),
        ("/v3/kv/range", {"key": key}),
        ("/v3/kv/range", {"key": key, "range_end": b64("gw/kw"), "count_only": True}),
        ("/v3/kv/range", {"key": key, "keys_only": True}),
        ("/v3beta/kv/range", {"key": key}),
        (
            "/v3/kv/txn",
            {
                "compare": [{"key": key, "result": "EQUAL", "target": "VALUE", "value": b64("v2")}],
                "success": [{"request_put": {"key": key, "value": b64("v3")}}],
                "failure": [{"request_range": {"key": key}}],
            },
        ),
        ("/v3/kv/txn", {"success": [{"request_range": {"key": key}}]}),
        ("/v3/kv/deleterange", {"key": key, "prev_kv": True}),
        ("/v3/kv/compaction", {"revision": "100000000"}),
        ("/v3/kv/range", {"key": ""}),
        ("/v3/kv/put", {"key": key, "value": value, "lease": "12345"}),
    ]
    for path, body in requests:
        mine, theirs = post_both(ours, etcd, path, body)
        assert_same_form(mine, theirs)
        if mine.status_code != 200:
            assert mine.json() == theirs.json(), path
            assert mine.headers.get("trailer") == theirs.headers.get("trailer")


def test_the_answer_is_etcds_json_mapping(ours: httpx.Client) -> None:
    key = b64("gw/mapping")
    ours.post("/v3/kv/put", content=json.dumps({"key": key, "value": b64("x")}))
    answer = ours.post("/v3/kv/range", content=json.dumps({"key": key})).json()
    assert isinstance(answer["header"]["revision"], str)  # int64 as a string
    assert answer["count"] == "1"
    assert answer["kvs"][0]["key"] == key
    assert base64.b64decode(answer["kvs"][0]["value"]) == b"x"
    assert "lease" not in answer["kvs"][0]  # defaults are left out


def test_lease_paths_answer_in_etcds_form(ours: httpx.Client, etcd: httpx.Client) -> None:
    lease_id = "7340032"
    paths: list[tuple[str, dict[str, Any]]] = [
        ("/v3/lease/grant", {"TTL": "60", "ID": lease_id}),
        ("/v3/kv/lease/timetolive", {"ID": lease_id, "keys": True}),
        ("/v3/lease/timetolive", {"ID": lease_id}),
        ("/v3/kv/lease/leases", {}),
        ("/v3/lease/leases", {}),
        ("/v3/kv/lease/revoke", {"ID": lease_id}),
        ("/v3/lease/revoke", {"ID": lease_id}),
    ]
    for path, body in paths:
        assert_same_form(*post_both(ours, etcd, path, body))
    granted = post_both(ours, etcd, "/v3/lease/grant", {"TTL": 60})
    assert_same_form(*granted)
    for answer, client in zip(granted, (ours, etcd), strict=True):
        renew = json.dumps({"ID": answer.json()["ID"]})
        kept = client.post("/v3/lease/keepalive", content=renew + renew)
        assert kept.status_code == 200
        lines = kept.text.splitlines()
        assert len(lines) == 2
        assert shape(json.loads(lines[0])) == {
            "result": {"header": shape(answer.json()["header"]), "ID": "str", "TTL": "str"}
        }
        client.post("/v3/lease/revoke", content=renew)


def test_cluster_paths_answer_in_etcds_form(ours: httpx.Client, etcd: httpx.Client) -> None:
    assert_same_form(*post_both(ours, etcd, "/v3/cluster/member/list", {}))
    added = post_both(
        ours, etcd, "/v3/cluster/member/add",
        {"peerURLs": ["http://127.0.0.1:9"], "isLearner": True},
    )  # fmt: skip
    assert_same_form(*added)
    for answer, client in zip(added, (ours, etcd), strict=True):
        learner = answer.json()["member"]["ID"]
        update = {"ID": learner, "peerURLs": ["http://127.0.0.1:10"]}
        assert client.post("/v3/cluster/member/update", content=json.dumps(update)).is_success
        removed = client.post("/v3/cluster/member/remove", content=json.dumps({"ID": learner}))
        assert removed.is_success, removed.text
    for path in ("update", "remove", "promote"):
        body = {"ID": "1", "peerURLs": ["http://127.0.0.1:11"]}
        mine, theirs = post_both(ours, etcd, f"/v3/cluster/member/{path}", body)
        assert_same_form(mine, theirs)
        assert mine.json() == theirs.json()
    mine, theirs = post_both(ours, etcd, "/v3/cluster/member/add", {"peerURLs": ["bad"]})
    assert (mine.status_code, mine.json()) == (theirs.status_code, theirs.json())


def test_maintenance_and_auth_paths_answer_in_etcds_form(
    ours: httpx.Client, etcd: httpx.Client
) -> None:
    for path, body in [
        ("/v3/maintenance/status", {}),
        ("/v3/maintenance/hash", {}),
        ("/v3/maintenance/alarm", {}),
        ("/v3/maintenance/transfer-leadership", {"targetID": "1"}),
        ("/v3/auth/authenticate", {"name": "a", "password": "b"}),
        ("/v3/auth/user/list", {}),
        ("/v3/auth/role/list", {}),
        ("/v3/auth/disable", {}),
        ("/v3/auth/enable", {}),
        ("/v3/auth/user/get", {"name": "nobody"}),
    ]:
        mine, theirs = post_both(ours, etcd, path, body)
        assert_same_form(mine, theirs)
        if mine.status_code != 200:
            assert mine.json() == theirs.json(), path
    # etcd 3.4 answers Defragment with no header at all; ours (gRPC door alike) fills one in.
    mine, theirs = post_both(ours, etcd, "/v3/maintenance/defragment", {})
    assert mine.status_code == theirs.status_code == 200
    assert theirs.json() == {}
    assert set(mine.json()) <= {"header"}


def test_snapshot_streams_blob_lines(ours: httpx.Client, etcd: httpx.Client) -> None:
    for client in (ours, etcd):
        with client.stream("POST", "/v3/maintenance/snapshot", content="{}") as answer:
            assert answer.status_code == 200
            first = json.loads(next(answer.iter_lines()))
        assert set(first["result"]) >= {"blob"}
        assert base64.b64decode(first["result"]["blob"])


def watch_lines(client: httpx.Client, key: str) -> list[dict[str, Any]]:
    """Open a streaming watch on `key`, put and delete it through the gateway, and return the
    three answers (created, put, delete)."""
    create = json.dumps({"create_request": {"key": key}})
    lines: list[dict[str, Any]] = []
    with client.stream("POST", "/v3/watch", content=create) as answer:
        assert answer.status_code == 200
        assert answer.headers["transfer-encoding"] == "chunked"
        stream = answer.iter_lines()
        lines.append(json.loads(next(stream)))
        client.post("/v3/kv/put", content=json.dumps({"key": key, "value": b64("w")}))
        lines.append(json.loads(next(stream)))
        client.post("/v3/kv/deleterange", content=json.dumps({"key": key}))
        lines.append(json.loads(next(stream)))
    return lines


def test_watch_streams_events_as_etcd(ours: httpx.Client, etcd: httpx.Client) -> None:
    key = b64("gw/watch")
    mine, theirs = watch_lines(ours, key), watch_lines(etcd, key)
    assert [shape(line) for line in mine] == [shape(line) for line in theirs]
    assert mine[0]["result"]["created"] is True
    assert mine[1]["result"]["events"][0]["kv"]["key"] == key
    assert mine[2]["result"]["events"][0]["type"] == "DELETE"


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v3/kv/range", "{bad json"),
        ("/v3/kv/range", '{"key": "!!!"}'),
        ("/v3/kv/put", '{"key": "Zm9v", "value": "a*b"}'),
        ("/v3/kv/range", "[]"),
        ("/v3/kv/range", '"text"'),
        ("/v3/kv/range", '{"key": "Zm9v", "limit": "x"}'),
    ],
)
def test_bad_bodies_get_etcds_error(
    ours: httpx.Client, etcd: httpx.Client, path: str, body: str
) -> None:
    mine, theirs = post_both(ours, etcd, path, body)
    assert mine.status_code == theirs.status_code == 400
    assert mine.json()["code"] == theirs.json()["code"] == 3
    assert mine.json().keys() == theirs.json().keys() == {"error", "message", "code"}
    if "base64" in theirs.text or "unmarshal" in theirs.text or "'b'" in theirs.text:
        assert mine.json() == theirs.json()


@pytest.mark.parametrize("body", ['{"create_request": {"key": "!!"}}', "{bad"])
def test_a_stream_whose_first_message_is_bad_fails_as_etcds(
    ours: httpx.Client, etcd: httpx.Client, body: str
) -> None:
    mine, theirs = post_both(ours, etcd, "/v3/watch", body)
    assert (mine.status_code, mine.json()) == (theirs.status_code, theirs.json())
    assert mine.status_code == 500


def test_a_huge_body_is_refused_and_nothing_is_written(
    ours: httpx.Client, etcd: httpx.Client
) -> None:
    key = b64("gw/huge")
    body = json.dumps({"key": key, "value": base64.b64encode(b"x" * 3 * 1024 * 1024).decode()})
    mine, theirs = post_both(ours, etcd, "/v3/kv/put", body)
    assert (mine.status_code, mine.json()) == (theirs.status_code, theirs.json())
    assert mine.status_code == 429
    just_over = json.dumps({"key": key, "value": base64.b64encode(b"x" * 1_700_000).decode()})
    mine, theirs = post_both(ours, etcd, "/v3/kv/put", just_over)
    assert (mine.status_code, mine.json()) == (theirs.status_code, theirs.json())
    counted = ours.post("/v3/kv/range", content=json.dumps({"key": key, "count_only": True}))
    assert counted.json().get("count") is None  # zero: left out
    assert ours.get("/health").json() == {"health": "true"}


def test_broken_http_gets_400_and_the_member_stays_up(ours: httpx.Client) -> None:
    host, port = ours.base_url.host, ours.base_url.port
    assert port is not None
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as raw:
        raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert raw.recv(1024).startswith(b"HTTP/1.1 400 Bad Request")
    assert ours.get("/health").json() == {"health": "true"}


# -- etcdctl check datascale ----------------------------------------------------------------


@pytest.mark.slow
def test_etcdctl_check_datascale_passes(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 1) as single:
        done = etcdctl(single.endpoints, "check", "datascale", "--load=s", timeout=300)
    assert done.returncode == 0, done.stderr
    assert "PASS: Approximate system memory used" in done.stdout
