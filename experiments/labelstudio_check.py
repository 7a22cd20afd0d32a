"""A real Label Studio against spertmt: its ML backend connection to `spertmt serve`, the import of
`predict --output-format labelstudio`'s tasks, and the export of reviewed tasks read back by
`convert --from labelstudio`. A manual check (Label Studio is a Django server, not a test dependency):

    python -m venv /tmp/lsvenv && /tmp/lsvenv/bin/pip install label-studio "sentry-sdk<3"
    cd /tmp && ML_BLOCK_LOCAL_IP=false /tmp/lsvenv/bin/label-studio start --no-browser --port 8089 \\
        --data-dir /tmp/lsdata --username admin@example.com --password pass12345pass \\
        --user-token abcdef1234567890abcdef --enable-legacy-api-token &
    spertmt serve --model runs/demo/onnx --runtime onnx --port 9091 &
    python experiments/labelstudio_check.py --model runs/demo/onnx --runtime onnx

(Label Studio refuses a model on a local address unless ML_BLOCK_LOCAL_IP=false; its 1.23.2 fails
at start with sentry-sdk 3.) Creates two projects with the relation-extraction template over
CoNLL04's types, prints what Label Studio stored, and exits 1 where a step did not give what it should.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

CONFIG = """<View>
  <Relations><Relation value="Live_In"/><Relation value="Work_For"/><Relation value="Located_In"/>
    <Relation value="OrgBased_In"/><Relation value="Kill"/></Relations>
  <Labels name="label" toName="text"><Label value="Peop"/><Label value="Loc"/><Label value="Org"/>
    <Label value="Other"/></Labels>
  <Text name="text" value="$text"/>
</View>"""
TEXTS = ["John Smith works for Acme Corp in Berlin.", "Mary lives in Paris.", "Nothing to see here."]


class LabelStudio:
    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/"), token

    def call(self, method: str, path: str, body=None):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Token {self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()[:500]

    def project(self, title: str) -> int:
        status, project = self.call("POST", "/api/projects", {"title": title, "label_config": CONFIG})
        assert status == 201, project
        return project["id"]

    def tasks(self, project: int) -> list[dict]:
        _, listed = self.call("GET", f"/api/tasks?project={project}")
        return listed["tasks"] if isinstance(listed, dict) else listed

    def predictions(self, task: int) -> list[dict]:
        return self.call("GET", f"/api/predictions?task={task}")[1]


def items(result: list[dict]) -> list[tuple]:
    return [(r["type"], r["value"]["text"] if r["type"] == "labels" else (r["from_id"], r["to_id"]),
             r["value"]["labels"] if r["type"] == "labels" else r["labels"]) for r in result]


def check_backend(studio: LabelStudio, service: str, expected: dict) -> bool:
    project = studio.project("spertmt as the model")
    studio.call("POST", f"/api/projects/{project}/import", [{"text": text} for text in TEXTS])
    status, backend = studio.call("POST", "/api/ml", {"url": service, "project": project, "title": "spertmt"})
    print(f"ML backend: {status} {backend if status != 201 else (backend['state'], backend['model_version'])}")
    if status != 201:
        return False
    studio.call("POST", f"/api/dm/actions?id=retrieve_tasks_predictions&project={project}",
                {"selectedItems": {"all": True, "excluded": []}})
    right = True
    for task in studio.tasks(project):
        (prediction,) = studio.predictions(task["id"])
        got = items(prediction["result"])
        print(f"  task {task['data']['text']!r}: {got} (score {prediction.get('score')})")
        right &= got == expected[task["data"]["text"]]
    return right


def check_files(studio: LabelStudio, model: str, runtime: str, expected: dict, keep: str | None) -> bool:
    with tempfile.TemporaryDirectory() as folder:
        texts, tasks = Path(folder) / "in.txt", Path(folder) / "tasks.json"
        texts.write_text("\n".join(TEXTS) + "\n")
        subprocess.run([sys.executable, "-m", "spertmt", "predict", "--quiet", "--model", model, "--runtime", runtime,
                        "--input", str(texts), "--output", str(tasks), "--output-format", "labelstudio"], check=True)
        project = studio.project("spertmt pre-annotations")
        studio.call("POST", f"/api/projects/{project}/import", json.loads(tasks.read_text()))
        right = True
        for task in studio.tasks(project):  # a reviewer accepts each prediction as it is
            (prediction,) = studio.predictions(task["id"])
            right &= items(prediction["result"]) == expected[task["data"]["text"]]
            studio.call("POST", f"/api/tasks/{task['id']}/annotations", {"result": prediction["result"]})
        _, exported = studio.call("GET", f"/api/projects/{project}/export?exportType=JSON")
        export, back = Path(folder) / "export.json", Path(folder) / "back.json"
        export.write_text(json.dumps(exported, indent=1, ensure_ascii=False))
        if keep:
            Path(keep).write_text(export.read_text())
        subprocess.run([sys.executable, "-m", "spertmt", "convert", "--from", "labelstudio", "--to", "spert",
                        str(export), str(back), "--words", "unicode"], check=True)
        documents = json.loads(back.read_text())
        print("  read back:", [[(" ".join(d["tokens"][e["start"]:e["end"]]), e["type"]) for e in d["entities"]]
                               for d in documents])
        entities = sum(1 for kinds in expected.values() for kind in kinds if kind[0] == "labels")
        return right and sum(len(d["entities"]) for d in documents) == entities


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="what spertmt serve runs (for the files' predict)")
    parser.add_argument("--runtime", default="onnx")
    parser.add_argument("--label-studio", default="http://127.0.0.1:8089")
    parser.add_argument("--token", default="abcdef1234567890abcdef")
    parser.add_argument("--service", default="http://127.0.0.1:9091", help="spertmt serve's URL")
    parser.add_argument("--keep-export", help="also write Label Studio's export of the reviewed tasks here")
    args = parser.parse_args()
    import spertmt

    extractor = spertmt.load(args.model, runtime=args.runtime)
    expected = {text: items(result.labelstudio_prediction()["result"])
                for text, result in zip(TEXTS, extractor.extract(TEXTS))}
    studio = LabelStudio(args.label_studio, args.token)
    backend = check_backend(studio, args.service, expected)
    files = check_files(studio, args.model, args.runtime, expected, args.keep_export)
    print(f"ML backend: {'as extract' if backend else 'DIFFERS'}; files: {'as extract' if files else 'DIFFER'}")
    return 0 if backend and files else 1


if __name__ == "__main__":
    sys.exit(main())
