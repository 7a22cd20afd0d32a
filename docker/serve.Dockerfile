# The extraction service without torch: an exported model (spertmt export --format onnx) served by
# `spertmt serve --runtime onnx` on ONNX Runtime. Build from the repository root after `.ci/run`
# (or `python -m build --wheel --no-isolation`) has put spertmt's wheel in dist/:
#
#   docker build -f docker/serve.Dockerfile -t spertmt-serve .
#   docker run -p 8080:8080 -v "$PWD/runs/c04/onnx:/model:ro" spertmt-serve
#
# The model is mounted (or copied in a derived image); the image holds no model and no torch.
FROM python:3.11-slim

COPY dist/spertmt-*-abi3-*.whl /tmp/
# --no-deps: spertmt's own dependencies include torch; the runtime without torch needs only these.
RUN pip install --no-cache-dir --no-deps /tmp/spertmt-*.whl \
    && pip install --no-cache-dir "onnxruntime>=1.23" tokenizers numpy regex tqdm starlette uvicorn httptools uvloop \
    && rm /tmp/spertmt-*.whl \
    && useradd --create-home spertmt
USER spertmt
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health')"
ENTRYPOINT ["spertmt", "serve", "--model", "/model", "--runtime", "onnx", "--host", "0.0.0.0", "--port", "8080"]
