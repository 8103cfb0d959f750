"""Inference speed of a trained model: the Python API (PyTorch) against its ONNX export in
onnxruntime, on the same images.

    python scripts/bench_inference.py RUN                      # 10,000 images (the test split tiled), CPU
    python scripts/bench_inference.py RUN --images 50000 --batch-size 500

The run is exported to ONNX in a temporary folder (`mnistmax.export.export_run`, which checks
the file against PyTorch first); both are then timed over the same uint8 images in batches,
best of --repeats (the first run warms up). Printed: images per second and the largest
absolute difference between the two outputs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="run directory, run name or 'latest'")
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    import onnxruntime as ort

    import mnistmax
    from mnistmax.api import Classification
    from mnistmax.export import export_run, graphs
    from mnistmax.runs import load_run

    run = load_run(args.run)
    model = mnistmax.load(run.run_dir, batch_size=args.batch_size)
    method = graphs(run.task)[0].method
    images = run.test_images.numpy()
    images = np.resize(images, (args.images, 28, 28))  # the test split, tiled
    x = images.astype(np.float32) / 255.0
    with tempfile.TemporaryDirectory() as tmp:
        export_run(run, "onnx", Path(tmp), echo=lambda *_: None)
        session = ort.InferenceSession(str(Path(tmp) / "model.onnx"), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def onnx_all():
            return np.concatenate([session.run(None, {name: x[i:i + args.batch_size, None]})[0]
                                   for i in range(0, len(x), args.batch_size)])

        def torch_all():
            out = getattr(model, method)(x)
            return out.all if isinstance(out, Classification) else out

        results = {}
        for label, fn in (("PyTorch (mnistmax.load)", torch_all), ("onnxruntime", onnx_all)):
            best = float("inf")
            for _ in range(args.repeats):
                t = time.perf_counter()
                out = fn()
                best = min(best, time.perf_counter() - t)
            results[label] = (len(x) / best, np.asarray(out, dtype=np.float32).reshape(len(x), -1))
    (a_speed, a), (b_speed, b) = results.values()
    print(f"{run.cfg.model.name} ({method}), {len(x):,} images, batch {args.batch_size}, "
          f"{torch.get_num_threads()} torch threads")
    for label, (speed, _) in results.items():
        print(f"  {label:<26} {speed:>10,.0f} images/s")
    print(f"  max abs difference: {np.abs(a - b).max():.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
