"""The engines that run a model, behind one boundary (base.py): an engine turns documents into
pieces and a batch of them into what the heads decide, as arrays; everything after that (which θ
applies, the loop over batches, decoding, calibration, raw text) is written once in base.py and the
modules it calls, and shared by every engine.

- pytorch.py: the PyTorch model (fp32, bf16, int8; on a GPU the decisions stay on it until decoding);
- onnx.py: a folder written by `spertmt export --format onnx`, run by ONNX Runtime without torch.

A third engine is one module with a class that satisfies base.Engine, an extractor around it
(base.EngineExtractor) and a loader registered with spertmt.inference.loading.register_engine
(docs/development.md, "Extending").
"""
