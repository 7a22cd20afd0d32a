"""`spertmt serve` as a user runs it: a real server process, answered through a real HTTP client
(urllib), on an exported model on the ONNX runtime (no torch in the server)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from spertmt.cli import main

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

TEXTS = ["John Smith works for Acme Corp in Berlin.", "", "Mary lives in Paris.", "Oslo."]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model, *args):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spertmt", "serve", "--model", str(model), "--runtime", "onnx", "--port",
             str(self.port), "--quiet", "--threads", "1", *args],
            env={**os.environ, "PYTHONSAFEPATH": "1", "HF_HUB_OFFLINE": "1"}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server ended: {self.process.stdout.read()}")
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the server did not become ready")

    def request(self, method, path, body=None, headers=None, timeout=60):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers

    def get(self, path):
        return self.request("GET", path)

    def extract(self, body, **kwargs):
        status, text, headers = self.request("POST", "/v1/extract", body, **kwargs)
        return status, json.loads(text), headers

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def server(exported):
    running = Server(exported, "--max-wait-ms", "50")
    yield running
    running.stop()


def _decisions(record):
    return ([(e["start"], e["end"], e["type"]) for e in record["entities"]],
            [(r["head"], r["tail"], r["type"]) for r in record["relations"]])


def test_results_are_predicts_records_for_the_same_texts(server, exported, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(TEXTS) + "\n")
    assert main(["predict", "--quiet", "--model", str(exported), "--runtime", "onnx", "--input", str(source),
                 "--output", str(tmp_path / "out.jsonl"), "--threshold", "-1"]) == 0
    want = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    status, got, _ = server.extract({"texts": TEXTS, "threshold": -1})
    assert status == 200 and len(got["results"]) == len(TEXTS)
    assert [r["id"] for r in got["results"]] == [r["id"] for r in want] == [1, 2, 3, 4]
    assert [_decisions(r) for r in got["results"]] == [_decisions(r) for r in want]
    assert sum(len(r["relations"]) for r in want) > 0
    for a, b in zip(got["results"], want):
        assert [e["score"] for e in a["entities"]] == pytest.approx([e["score"] for e in b["entities"]], abs=1e-4)
    status, alone, _ = server.extract({"texts": [TEXTS[0]], "threshold": -1, "entities_only": True})
    assert status == 200 and alone["results"][0]["relations"] == []
    assert _decisions(alone["results"][0])[0] == _decisions(want[0])[0]


def test_requests_arriving_together_are_batched_and_each_gets_its_own_results(server):
    alone = [server.extract({"texts": [t], "threshold": -1})[1]["results"][0] for t in TEXTS]
    answers = [None] * 12

    def call(i):
        answers[i] = server.extract({"texts": [TEXTS[i % len(TEXTS)]], "threshold": -1})

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(status == 200 for status, _, _ in answers)
    for i, (_, body, _) in enumerate(answers):
        assert _decisions(body["results"][0]) == _decisions(alone[i % len(TEXTS)])
    metrics = server.get("/metrics")[1]
    batches = {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines()
               if line.startswith("spertmt_batch_texts_bucket")}
    assert batches['spertmt_batch_texts_bucket{le="1"}'] < batches['spertmt_batch_texts_bucket{le="+Inf"}'], \
        "no batch held more than one text"
    assert 'spertmt_requests_total{status="200"}' in metrics and "spertmt_request_seconds_count" in metrics


@pytest.mark.parametrize("body, status, field", [
    (b'{"texts": ["a"', 400, "body"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "body"),  # nested deeper than the JSON reader goes (was a 500)
    (b'{"texts": ["ok", "John \\ud800 x"]}', 422, "texts[1]"),  # a lone surrogate: was a 500 for its whole batch
    ({}, 422, "texts"),
    ({"texts": []}, 422, "texts"),
    ({"texts": "John"}, 422, "texts"),
    ({"texts": ["a", 3]}, 422, "texts[1]"),
    ({"texts": ["a"], "threshold": "high"}, 422, "threshold"),
    ({"texts": ["a"], "entities_only": "yes"}, 422, "entities_only"),
    ({"texts": ["a"], "entities": [[{"type": "Nope", "start": 0, "end": 1}]]}, 422, "entities[0]"),
    ({"texts": ["a"], "colour": 1}, 422, "colour"),
    ([1, 2], 422, "body"),
])
def test_bad_requests_are_answered_with_the_field_named(server, body, status, field):
    got, content, _ = server.request("POST", "/v1/extract", body)
    assert got == status, content
    error = json.loads(content)
    assert error["field"] == field and error["error"]
    assert server.get("/health")[0] == 200  # and the server keeps serving


def test_an_unknown_path_or_method_is_answered_in_json_too(server):
    status, content, _ = server.get("/v1/extract")
    assert status == 405 and json.loads(content)["error"] == "GET /v1/extract: Method Not Allowed"
    status, content, _ = server.request("POST", "/extract", {"texts": ["a"]})
    assert status == 404 and "POST /v1/extract" in json.loads(content)["error"]  # says where to go
    metrics = server.get("/metrics")[1]
    assert 'spertmt_errors_total{kind="not_found"}' in metrics and 'spertmt_requests_total{status="405"}' in metrics



# a project's labeling config of its own names, without the type Org and the relation Near
LABEL_CONFIG = """<View>
  <Relations><Relation value="Live_In"/><Relation value="Work_For"/></Relations>
  <Labels name="ner" toName="doc"><Label value="Peop"/><Label value="Loc"/></Labels>
  <Text name="doc" value="$body"/>
</View>"""


@pytest.fixture(scope="module")
def low_threshold_server(exported):
    running = Server(exported, "--threshold", "-1")  # the fixture's model keeps little at its own θ
    yield running
    running.stop()


def test_label_studio_connects_as_a_model_and_gets_each_tasks_extractions_as_a_prediction(low_threshold_server):
    """Label Studio's ML backend protocol: /setup answers a model version; /predict one prediction per
    task, named as the project's labeling config names its regions and text, with only the types the
    config has (a relation also needs its two entities kept), each item's score its probability; θ
    is the server's --threshold, as Label Studio gives none."""
    server = low_threshold_server
    status, content, _ = server.request("POST", "/setup", {"project": "1.1", "schema": LABEL_CONFIG})
    assert status == 200 and json.loads(content)["model_version"].startswith("spertmt")
    tasks = [{"id": 10 + i, "data": {"body": text}} for i, text in enumerate(TEXTS)]
    status, content, _ = server.request("POST", "/predict", {"tasks": tasks, "label_config": LABEL_CONFIG,
                                                              "project": "1.1", "params": {"context": None}})
    assert status == 200, content
    answer = json.loads(content)
    assert len(answer["results"]) == len(TEXTS) and answer["model_version"].startswith("spertmt")
    want = server.extract({"texts": TEXTS})[1]["results"]
    assert want == server.extract({"texts": TEXTS, "threshold": -1})[1]["results"]  # --threshold, where none given
    assert sum(len(r["entities"]) for r in want) > 0
    for prediction, record in zip(answer["results"], want):
        regions = [item for item in prediction["result"] if item["type"] == "labels"]
        kept = [e for e in record["entities"] if e["type"] in ("Peop", "Loc")]
        assert [(r["from_name"], r["to_name"]) for r in regions] == [("ner", "doc")] * len(kept)
        assert [(r["value"]["start"], r["value"]["end"], r["value"]["labels"]) for r in regions] == \
            [(e["start"], e["end"], [e["type"]]) for e in kept]
        assert [r["score"] for r in regions] == pytest.approx([e["probability"] for e in kept])
        index = {id(e): f"e{k}" for k, e in enumerate(kept)}
        relations = [(item["from_id"], item["to_id"], item["labels"]) for item in prediction["result"]
                     if item["type"] == "relation"]
        heads = [(record["entities"][r["head"]], record["entities"][r["tail"]], r["type"]) for r in record["relations"]]
        assert relations == [(index[id(h)], index[id(t)], [kind]) for h, t, kind in heads
                             if id(h) in index and id(t) in index and kind in ("Live_In", "Work_For")]
        assert prediction["model_version"] == answer["model_version"]
    assert any(e["type"] == "Org" for r in want for e in r["entities"])  # so that the filter was tried
    for body, field in (({"tasks": [{"data": {"text": "a"}}], "label_config": LABEL_CONFIG}, "tasks[0]"),
                        ({"tasks": [], "label_config": "<View"}, "label_config"),
                        ({"tasks": "a"}, "tasks")):
        status, content, _ = server.request("POST", "/predict", body)
        assert status == 422 and json.loads(content)["field"] == field
    status, content, _ = server.request("POST", "/predict", {"tasks": []})
    assert status == 200 and json.loads(content)["results"] == []


def _inception_request(text: str):
    """A predict request as INCEpTION sends one: the document as CAS XMI with its sentences and tokens
    (tokens split at spaces, as its default segmentation does; a character beyond the BMP, which XMI
    counts as two), the type system with its named-entity layer and the features INCEpTION adds to a
    layer a recommender predicts (`inception_internal_predicted`, `value_score`)."""
    import re

    from cassis import Cas, TypeSystem

    from spertmt.serve.inception import SENTENCE, TOKEN

    types = TypeSystem()
    sentence, token = types.create_type(SENTENCE), types.create_type(TOKEN)
    entity = types.create_type("de.tudarmstadt.ukp.dkpro.core.api.ner.type.NamedEntity")
    for name, kind in (("value", "uima.cas.String"), ("identifier", "uima.cas.String"),
                       ("inception_internal_predicted", "uima.cas.Boolean"), ("value_score", "uima.cas.Double")):
        types.create_feature(entity, name, kind)
    cas = Cas(typesystem=types)
    cas.sofa_string = text
    for line in re.finditer(r"[^\n]+", text):
        cas.add(sentence(begin=line.start(), end=line.end()))
        for word in re.finditer(r"\S+", line.group()):
            cas.add(token(begin=line.start() + word.start(), end=line.start() + word.end()))
    return {"metadata": {"layer": entity.name, "feature": "value", "projectId": 1, "anchoringMode": "tokens",
                         "crossSentence": False},
            "document": {"xmi": cas.to_xmi(), "documentId": 42, "userId": "ann"}, "typeSystem": types.to_xml()}


def test_inception_takes_the_service_as_a_recommender_of_entities(low_threshold_server):
    """INCEpTION's external recommender protocol: /inception/predict gives back the document with each
    entity the model finds in INCEpTION's own sentences and tokens as a suggestion of the layer (its
    type the feature, its probability the score, marked predicted), as /v1/extract finds them in the
    same word lists; /inception/train is answered 204; a request off the protocol is named."""
    from cassis import load_cas_from_xmi, load_typesystem

    server = low_threshold_server
    text = "John Smith works for Acme Corp in Berlin .\nMary 🙂 lives in Paris .\n\nOslo ."
    request = _inception_request(text)
    status, content, _ = server.request("POST", "/inception/predict", request)
    assert status == 200, content
    types = load_typesystem(request["typeSystem"])
    cas = load_cas_from_xmi(json.loads(content)["document"], typesystem=types)
    got = sorted((e.begin, e.end, e.value, round(e.value_score, 4), e.inception_internal_predicted)
                 for e in cas.select(request["metadata"]["layer"]))
    lines = [line for line in text.split("\n") if line]
    records = server.extract({"texts": [line.split() for line in lines], "entities_only": True})[1]["results"]
    starts = [text.index(line) for line in lines]
    want = []
    for start, line, record in zip(starts, lines, records):
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", line)]
        want += [(start + spans[e["token_start"]][0], start + spans[e["token_end"] - 1][1], e["type"],
                  round(e["probability"], 4), True) for e in record["entities"]]
    assert got == sorted(want) and len(got) > 2
    assert [t.get_covered_text() for t in cas.select("de.tudarmstadt.ukp.dkpro.core.api.segmentation.type.Token")] \
        == text.split()  # INCEpTION's document comes back whole
    # INCEpTION asks for a part of the document: the sentences that meet its range (UTF-16 units: the
    # emoji counts two), here the second one only
    second = text.index("Mary")
    part = {**request, "metadata": {**request["metadata"], "range": {"begin": second + 1, "end": second + 3}}}
    status, content, _ = server.request("POST", "/inception/predict", part)
    cas = load_cas_from_xmi(json.loads(content)["document"], typesystem=types)
    assert sorted((e.begin, e.end, e.value) for e in cas.select(request["metadata"]["layer"])) == \
        [(b, e, v) for b, e, v, _, _ in sorted(want) if second <= b < text.index("Oslo")]
    assert server.request("POST", "/inception/train", {"metadata": request["metadata"], "documents": []})[0] == 204
    for body, field in (({**request, "metadata": {"layer": "x"}}, "metadata"),
                        ({**request, "metadata": {**request["metadata"], "layer": "no.such.Layer"}}, "metadata"),
                        ({**request, "document": {"xmi": "<not-xmi"}}, "document"),
                        ({**request, "typeSystem": 3}, "typeSystem"), ([], "body")):
        status, content, _ = server.request("POST", "/inception/predict", body)
        assert status == 422 and json.loads(content)["field"] == field, content


def test_a_long_text_is_read_in_windows_not_cut(server):
    text = " ".join(["Mary lives in Paris ."] * 400)  # 2,000 words: far past the model's window
    status, body, _ = server.extract({"texts": [text], "threshold": -1})
    assert status == 200 and len(body["results"][0]["tokens"]) == 2000
    assert max(e["end"] for e in body["results"][0]["entities"]) > len(text) // 2


def test_an_oversized_body_is_413_and_a_full_queue_503_with_retry_after(exported):
    server = Server(exported, "--max-body-mb", "0.001", "--max-queue", "2", "--max-wait-ms", "3000")
    try:
        status, body, _ = server.extract({"texts": ["x" * 2000]})
        assert status == 413 and body["field"] == "body"
        status, body, _ = server.extract({"texts": ["a", "b", "c"]})
        assert status == 413 and body["field"] == "texts"  # more texts than the queue holds
        first = []
        waiting = threading.Thread(target=lambda: first.append(server.extract({"texts": ["a", "b"]})))
        waiting.start()  # fills the queue and waits up to 3 s for company
        time.sleep(0.5)
        status, body, headers = server.extract({"texts": ["c"]})
        assert status == 503 and headers.get("Retry-After") == "1" and "busy" in body["error"]
        waiting.join()
        assert first[0][0] == 200
        assert 'spertmt_errors_total{kind="queue_full"} 1' in server.get("/metrics")[1]
    finally:
        assert server.stop() == 0


def test_a_client_that_hangs_up_frees_its_place(exported):
    server = Server(exported, "--max-queue", "2", "--max-wait-ms", "4000")
    try:
        body = json.dumps({"texts": ["a", "b"]}).encode()
        with socket.create_connection(("127.0.0.1", server.port)) as conn:  # a client that will hang up
            conn.sendall(b"POST /v1/extract HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            time.sleep(0.5)
        time.sleep(0.5)
        status, _, _ = server.extract({"texts": ["c", "d"]})
        assert status == 200  # the queue held two texts: the first client's are gone from it
        assert 'spertmt_errors_total{kind="client_gone"} 1' in server.get("/metrics")[1]
    finally:
        assert server.stop() == 0


def test_sigterm_finishes_the_requests_in_flight_and_exits_0(exported):
    server = Server(exported, "--max-wait-ms", "1500")
    answers = []
    waiting = threading.Thread(target=lambda: answers.append(server.extract({"texts": TEXTS})))
    waiting.start()
    time.sleep(0.4)  # the request is in the queue, waiting for company
    server.process.send_signal(signal.SIGTERM)
    waiting.join(timeout=60)
    assert server.process.wait(timeout=60) == 0
    assert answers and answers[0][0] == 200 and len(answers[0][1]["results"]) == len(TEXTS)
    with pytest.raises(OSError):
        server.get("/health")  # no longer listening


def test_the_server_on_the_onnx_runtime_imports_no_torch(exported):
    code = f"""
import json, sys, threading, time, urllib.request
import uvicorn
from spertmt.inference.loading import load_extractor
from spertmt.serve import create_app
app = create_app(lambda: load_extractor({str(exported)!r}, runtime="onnx"))
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port={_free_port()}, log_level="warning"))
thread = threading.Thread(target=server.run)
thread.start()
while not server.started:
    time.sleep(0.05)
url = f"http://127.0.0.1:{{server.config.port}}/v1/extract"
request = urllib.request.Request(url, data=json.dumps({{"texts": ["Mary lives in Paris."]}}).encode(), method="POST")
assert json.loads(urllib.request.urlopen(request).read())["results"]
loaded = [m for m in ("torch", "transformers") if m in sys.modules]
assert not loaded, loaded
server.should_exit = True  # a clean stop: a daemon thread still serving at exit can crash the interpreter
thread.join()
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONSAFEPATH": "1"})


@pytest.mark.parametrize("args, message", [
    (["--port", "99999"], "--port must be between 0 and 65535"),
    (["--max-body-mb", "inf"], "--max-body-mb and --max-wait-ms must be finite"),
    (["--max-wait-ms", "nan"], "--max-body-mb and --max-wait-ms must be finite"),
    (["--max-batch", "0"], "--max-batch, --max-queue and --max-body-mb must be positive"),
    (["--host", "nohost.invalid"], "cannot listen on nohost.invalid"),
    (["--threads", "-3"], "threads (the model's CPU threads) must be a whole number of at least 1, not -3"),
    (["--threads", "0"], "threads (the model's CPU threads) must be a whole number of at least 1, not 0"),
    (["--threshold", "nan"], "--threshold must be a finite number, not nan"),
])
def test_careless_settings_are_one_named_line_before_anything_listens(exported, args, message, capsys):
    assert main(["serve", "--model", str(exported), "--runtime", "onnx", "--quiet", *args]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_a_port_in_use_and_a_missing_model_are_named_before_the_server_starts(exported, tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["serve", "--model", str(exported), "--runtime", "onnx", "--port", port, "--quiet"]) == 2
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in capsys.readouterr().err
    missing = tmp_path / "no-model"
    assert main(["serve", "--model", str(missing), "--runtime", "onnx", "--port", port, "--quiet"]) == 2
    error = capsys.readouterr().err
    assert f"{missing}: no such model folder" in error and "Traceback" not in error
