"""``n2r serve`` on a real local Ray Serve (CPU): answers equal ``n2r explain``, bad requests get
their 4xx without hurting the replicas, two bundles side by side, concurrent requests batched, a
tampered bundle refused before anything starts, and the command itself up and stopped."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from n2r.bundle import load_bundle
from n2r.explanation import Explanation
from tests.helpers import ROOT, invoke

MAX_BODY = 64 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, method: str = "GET", body=None, raw: bytes | None = None, timeout: float = 60):
    """``(status, parsed JSON body)`` of one request; HTTP errors are answers, not exceptions."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def served(text_bundle, graph_bundle, tmp_path_factory):
    """The real ``n2r serve`` command (its own local Ray), with two bundles and small limits;
    ``(url, text bundle name, process, log file)``. The last test of the module stops it."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [sys.executable, "-m", "pipelines.cli", "-q", "serve", str(text_bundle[0]), f"graphs={graph_bundle}",
               "--port", str(port), "--max-batch-size", "8", "--batch-wait-ms", "100", "--cpus-per-replica", "0.5",
               "--max-body-bytes", str(MAX_BODY), "--max-items", "10", "--max-tokens", "50"]
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
                                env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and "health: GET" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        assert "health: GET" in log.read_text(), log.read_text()
        yield f"http://127.0.0.1:{port}", text_bundle[0].name, proc, log
    finally:                          # a failed test still stops the command and the Ray it started
        for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 30)):
            if proc.poll() is None:
                os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    continue


def test_answers_equal_n2r_explain(served, text_bundle, graph_bundle, tmp_path):
    url, name, *_ = served
    texts = [{"text": "The beer wasn't EXCELLENT, off-white and murky!"}, {"tokens": ["nice", "head"]},
             {"tokens": text_bundle[0].joinpath("vocab.txt").read_text().split("\n")[2:40]}]
    status, many = call(f"{url}/v1/{name}/explain", "POST", texts)
    assert status == 200 and len(many) == 3
    # raw text is split by the rule the bundle records (ptb here), not one fixed rule
    assert many[0]["tokens"] == ["the", "beer", "was", "n't", "excellent", ",", "off-white", "and", "murky", "!"]
    lines = tmp_path / "in.jsonl"
    lines.write_text("".join(json.dumps(t) + "\n" for t in texts))
    done = invoke("explain", str(text_bundle[0]), "--file", str(lines))
    assert done.returncode == 0, done.stderr
    expected = [json.loads(line) for line in done.stdout.splitlines()]      # n2r explain prints the served shape
    assert [m["tokens"] for m in many] == [e["tokens"] for e in expected]
    for got, want in zip(many, expected):
        assert got["rationale"]["mask"] == want["rationale"]["mask"] and got["label"] == want["label"]
        assert got["rationale"]["spans"] == want["rationale"]["spans"]
        assert got["rationale"]["scores"] == pytest.approx(want["rationale"]["scores"], abs=1e-6)
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-6)
    assert call(f"{url}/v1/{name}/explain", "POST", texts[1])[1]["tokens"] == ["nice", "head"]   # one → one

    graph = {"x": [[0.1 * i] * 10 for i in range(4)], "edge_index": [[0, 1, 2, 3], [1, 2, 3, 0]]}
    status, answer = call(f"{url}/v1/graphs/explain", "POST", {"graph": graph})
    local = load_bundle(graph_bundle).explain(graph)
    assert status == 200 and answer["rationale"]["edges"] == local.selected
    assert answer["rationale"]["scores"] == pytest.approx(local.scores, abs=1e-6)
    assert Explanation.from_json(answer, graph["edge_index"]).mask == local.mask


BAD = [  # (route, method, body or raw bytes, status, field, words in the message)
    ("/v1/{t}/explain", "POST", b"{not json", 400, "body", "not valid JSON"),
    ("/v1/{t}/explain", "POST", b"\xff\xfe", 400, "body", "not valid JSON"),
    ("/v1/{t}/explain", "POST", b"[" * 2000 + b"]" * 2000, 400, "body", "nests JSON arrays or objects too deeply"),
    ("/v1/{t}/explain", "POST", [], 400, "inputs", "an empty list"),
    ("/v1/{t}/explain", "POST", [{"text": "a"}] * 11, 413, "inputs", "11 inputs, more than the limit of 10"),
    ("/v1/{t}/explain", "POST", {"txt": "a"}, 422, "input.txt", "unknown field"),
    ("/v1/{t}/explain", "POST", {}, 422, "input", "exactly one of 'text' and 'tokens'"),
    ("/v1/{t}/explain", "POST", {"text": "  "}, 422, "input.text", "no tokens"),
    ("/v1/{t}/explain", "POST", [{"text": "ok"}, {"tokens": ["a", 1]}], 422, "inputs[1].tokens[1]", "must be a string"),
    ("/v1/{t}/explain", "POST", {"tokens": ["a"] * 51}, 413, "input.tokens", "51 tokens, more than the limit of 50"),
    ("/v1/{t}/explain", "POST", {"text": "a " * 40000}, 413, "body", "more than the limit of 65536"),
    ("/v1/graphs/explain", "POST", {"graph": {"x": [[1.0] * 10], "edge_index": [[0], [3]]}}, 422,
     "input.graph.edge_index", "points outside the graph's 1 nodes"),
    ("/v1/graphs/explain", "POST", {"graph": {"x": [[1.0] * 3], "edge_index": [[], []]}}, 422, "input.graph.x",
     "3 features per node; this model takes 10"),
    ("/v1/graphs/explain", "POST", {"text": "a graph?"}, 422, "input.text", "unknown field (known: x, edge_index)"),
    ("/v1/nope/explain", "POST", {"text": "a"}, 404, "bundle", "no bundle named 'nope'"),
    ("/v1/{t}/explain", "GET", None, 405, None, "GET not allowed here; use POST"),
    ("/v1/{t}", "POST", {"text": "a"}, 405, None, "use GET"),
    ("/v2/{t}/explain", "POST", {"text": "a"}, 404, None, "no route /v2/"),
]


def test_bad_requests_get_their_4xx_and_the_replicas_stay_up(served):
    url, name, *_ = served
    for route, method, body, status, field, words in BAD:
        raw = body if isinstance(body, bytes) else None
        got, answer = call(url + route.format(t=name), method, None if raw else body, raw=raw)
        assert (got, answer.get("field")) == (status, field), (route, body, answer)
        assert words in answer["error"], (route, answer)
    connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=60)
    connection.request("POST", f"/v1/{name}/explain", body=iter([b'{"text": "' + b"a " * 20000] * 3),
                       encode_chunked=True)                 # no Content-Length: counted while read
    response = connection.getresponse()
    assert response.status == 413 and "over the limit of 65536" in json.loads(response.read())["error"]
    connection.close()
    assert call(f"{url}/healthz") == (200, {"status": "ok", "bundles": {name: "ok", "graphs": "ok"}})
    assert call(f"{url}/v1/{name}/explain", "POST", {"text": "still fine"})[0] == 200


def test_two_bundles_side_by_side_with_their_cards(served, text_bundle):
    url, name, *_ = served
    assert call(f"{url}/v1") == (200, {"bundles": sorted([name, "graphs"])})
    status, card = call(f"{url}/v1/{name}")
    assert status == 200 and card["kind"] == "text" and card["encoder"] == "gru" and card["objective"] == "n2r"
    assert card["selection"] == "argmax"
    assert card["metrics"] == json.loads((text_bundle[0] / "metrics.json").read_text())
    assert card["config"]["data"]["name"] == "synthetic-text" and card["limits"]["max_tokens"] == 50
    status, card = call(f"{url}/v1/graphs")
    assert status == 200 and card["kind"] == "graph" and card["in_channels"] == 10
    assert {"batches", "inputs", "batch_sizes"} <= set(card["serving"])


def test_concurrent_requests_are_batched(served):
    url, name, *_ = served
    before = call(f"{url}/v1/{name}")[1]["serving"]
    bodies = [{"tokens": ["word"] * (1 + i % 7)} for i in range(24)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda b: call(f"{url}/v1/{name}/explain", "POST", b), bodies))
    assert all(status == 200 for status, _ in answers)
    assert [len(a["tokens"]) for _, a in answers] == [len(b["tokens"]) for b in bodies]
    after = call(f"{url}/v1/{name}")[1]["serving"]
    assert after["inputs"] - before["inputs"] == 24
    sizes = {int(k): v - before["batch_sizes"].get(k, 0) for k, v in after["batch_sizes"].items()}
    batches = after["batches"] - before["batches"]
    assert batches < 24 and max(k for k, v in sizes.items() if v > 0) > 1, sizes   # grouped, not one by one
    assert max(sizes) <= 8                                                         # never above max_batch_size


def test_a_tampered_bundle_is_refused_before_ray_starts(text_bundle, tmp_path):
    from n2r.bundle import BundleError
    from pipelines.serve import bundle_names

    bad = tmp_path / "bad"
    shutil.copytree(text_bundle[0], bad)
    (bad / "model.safetensors").write_bytes(b"x")
    with pytest.raises(BundleError, match="bad/model.safetensors: SHA-256 differs from the manifest"):
        bundle_names([str(text_bundle[0]), f"x={bad}"])
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", str(bad), "--port", str(free_port())],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "model.safetensors: SHA-256 differs from the manifest" in done.stderr
    assert "started a local Ray" not in done.stderr


def test_bundle_names_and_options_are_checked():
    from n2r.config import ConfigError
    from pipelines.serve import ServeOptions, bundle_names

    with pytest.raises(ConfigError, match="bundle name 'a b'"):
        bundle_names(["a b=/nowhere"])
    with pytest.raises(ConfigError, match="serve option max_batch_size: invalid value 0"):
        ServeOptions(max_batch_size=0)
    with pytest.raises(ConfigError, match="serve option gpus_per_replica"):
        ServeOptions(device="cuda", gpus_per_replica=2.0)
    assert ServeOptions(device="cuda", gpus_per_replica=0.5).resources_per_replica == {"CPU": 1.0, "GPU": 0.5}
    assert ServeOptions().resources_per_replica == {"CPU": 1.0}


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_replicas_on_a_local_instance_without_gpus_are_refused_before_ray_starts(text_bundle):
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", str(text_bundle[0]), "--device", "cuda",
                           "--gpus-per-replica", "0.5", "--replicas", "2"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "--replicas 2 × 1 bundle(s): needs 1 GPU, this local Ray instance has 0" in done.stderr
    assert "started a local Ray" not in done.stderr


def test_sigterm_stops_the_command(served):
    import psutil

    url, name, proc, log = served
    assert f"{name}: POST {url}/v1/{name}/explain" in log.read_text()
    port = int(url.rsplit(":", 1)[1])
    listening = {c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port}
    assert listening == {"127.0.0.1"}                        # this machine only, unless --host says otherwise
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()
    assert log.read_text().rstrip().endswith("stopped")
