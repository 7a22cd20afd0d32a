"""ONNX Runtime's fused residual-and-LayerNorm kernel against the two operators it replaces, on the CPU.

    python bench/ort_layer_norm.py --json bench/results/ort-layer-norm.json

ONNX Runtime's graph optimizer fuses each encoder layer's residual Add and the LayerNormalization
after it into one SkipLayerNormalization (its `SkipLayerNormFusion`). This times one graph of
`Add -> LayerNormalization`, run by sessions with that fusion (the default) and without it
(`disabled_optimizers`, what the runtime without torch does: CPU_DISABLED_OPTIMIZERS), for a batch of
`rows` pieces of each width (MiniLM 384, base-size 768), on 1 and 2 threads: the median over
`--repeats` blocks of `--calls` calls, after a warm-up; the outputs are compared with numpy's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)


def graph(rows: int, width: int, gamma: np.ndarray, beta: np.ndarray) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, rows, width]) for name in ("x", "residual")]
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, rows, width])
    nodes = [helper.make_node("Add", ["x", "residual"], ["sum"]),
             helper.make_node("LayerNormalization", ["sum", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-12)]
    weights = [numpy_helper.from_array(gamma, "gamma"), numpy_helper.from_array(beta, "beta")]
    model = helper.make_model(helper.make_graph(nodes, "add_layer_norm", inputs, [output], weights),
                              opset_imports=[helper.make_opsetid("", 18)])
    return model.SerializeToString()


def main() -> int:
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=340,
                        help="pieces per call (a CPU extraction batch holds about 340)")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    rows = []
    for width in (384, 768):
        gamma, beta = rng.random(width, dtype=np.float32), rng.random(width, dtype=np.float32)
        feed = {name: rng.standard_normal((1, args.rows, width), dtype=np.float32) for name in ("x", "residual")}
        total = feed["x"] + feed["residual"]
        centred = total - total.mean(-1, keepdims=True)
        expected = centred / np.sqrt(total.var(-1, keepdims=True) + 1e-12) * gamma + beta
        for threads in (1, 2):
            for fused, disabled in (("fused (SkipLayerNormalization)", []), ("Add + LayerNormalization",
                                                                             ["SkipLayerNormFusion"])):
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.log_severity_level = 3
                session = ort.InferenceSession(graph(args.rows, width, gamma, beta), options,
                                               providers=["CPUExecutionProvider"], disabled_optimizers=disabled)
                error = float(np.abs(session.run(None, feed)[0] - expected).max())
                for _ in range(50):
                    session.run(None, feed)
                blocks = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    for _ in range(args.calls):
                        session.run(None, feed)
                    blocks.append((time.perf_counter() - start) / args.calls * 1e6)
                rows.append({"width": width, "threads": threads, "kernel": fused,
                             "median_us": round(statistics.median(blocks), 1), "max_abs_error": error})
    print(f"{'width':>5} {'threads':>7} {'kernel':32} {'median us':>10} {'max error':>10}")
    for row in rows:
        print(f"{row['width']:5} {row['threads']:7} {row['kernel']:32} {row['median_us']:10.1f} "
              f"{row['max_abs_error']:10.1e}")
    if args.json:
        records.write(args.json, {"command": " ".join(["python", *sys.argv]), "rows_per_call": args.rows,
                                  "onnxruntime": ort.__version__, "rows": rows,
                                  "machine": {"cpu": records.cpu_name(), "commit": records.commit(),
                                              "date": time.strftime("%Y-%m-%d %H:%M")}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
