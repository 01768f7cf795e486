"""Deploy the article's model: train it, export it to ONNX and to a torch.export program
(.pt2), quantize it to int8, check every copy against the eager model, and stream it.

    python docs/examples/deploy_article.py                    # the full run
    GRUKIT_DOCS_SMALL=1 python docs/examples/deploy_article.py  # seconds: the docs' CI check
"""

import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from grukit.export import load_pt2, quantize_int8, to_onnx, to_pt2
from grukit.layers import GRU, Dense
from grukit.models import Sequential
from grukit.nn import Stream
from grukit.nn.quantized import Int8Stream

SMALL = os.environ.get("GRUKIT_DOCS_SMALL") == "1"
torch.manual_seed(0)

# the task: the next value of a noisy sine wave after 100 samples of it
rng = np.random.default_rng(0)
n = 256 if SMALL else 4096
t = np.arange(101)
waves = np.sin(rng.uniform(0.05, 0.3, (n, 1)) * t + rng.uniform(0, 2 * np.pi, (n, 1)))
waves += 0.05 * rng.standard_normal(waves.shape)
x = waves[:, :100, None].astype(np.float32)  # (n, 100, 1)
y = waves[:, 100:].astype(np.float32)  # (n, 1)

# the article's Keras model, with one import changed
model = Sequential()
model.add(GRU(64, input_shape=(100, 1), return_sequences=False))
model.add(Dense(1))
model.compile(optimizer="adam", loss="mse")
history = model.fit(x, y, epochs=2 if SMALL else 20, batch_size=32, validation_split=0.2,
                    verbose=0)
print(f"trained: validation MSE {history.history['val_loss'][-1]:.5f}")
model.eval()

batch = torch.from_numpy(x[-32:])  # (32, 100, 1): held-out sequences
with torch.no_grad():
    eager = model(batch).numpy()  # (32, 1)
out = Path("deploy-article")
out.mkdir(exist_ok=True)


def per_call_us(fn, calls: int = 20 if SMALL else 200) -> float:
    """Median time of one call, in µs (after one warm-up call)."""
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


one = batch[:1]  # (1, 100, 1): one sequence, as a device serves it
rows = []  # (what, file, largest |difference| from eager, µs per batch-1 sequence)

# ONNX: the GRU becomes the standard ONNX GRU operator; served by ONNX Runtime
session = ort.InferenceSession(str(to_onnx(model, out / "model.onnx")))
onnx_out = session.run(None, {"input": batch.numpy()})[0]
rows.append(("ONNX Runtime fp32", "model.onnx", np.abs(onnx_out - eager).max(),
             per_call_us(lambda: session.run(None, {"input": one.numpy()}))))

# ONNX int8: ONNX Runtime quantizes the Dense head (it has no int8 GRU operator)
session8 = ort.InferenceSession(str(to_onnx(model, out / "model_int8.onnx", int8=True)))
onnx8_out = session8.run(None, {"input": batch.numpy()})[0]
rows.append(("ONNX Runtime int8", "model_int8.onnx", np.abs(onnx8_out - eager).max(),
             per_call_us(lambda: session8.run(None, {"input": one.numpy()}))))

with torch.no_grad():
    # torch.export: dynamic batch and time, the fused kernels kept as custom ops
    program = load_pt2(to_pt2(model, out / "model.pt2", example=batch)).module()
    rows.append(("torch.export program", "model.pt2",
                 np.abs(program(batch).numpy() - eager).max(),
                 per_call_us(lambda: program(one))))

    # int8 weights with one scale per output row, in torch; then exported as .pt2 too
    q = quantize_int8(model, linear="grukit")
    rows.append(("grukit int8 (torch)", "-", np.abs(q(batch).numpy() - eager).max(),
                 per_call_us(lambda: q(one))))
    program8 = load_pt2(to_pt2(q, out / "model_int8.pt2", example=batch)).module()
    rows.append(("torch.export program, int8", "model_int8.pt2",
                 np.abs(program8(batch).numpy() - eager).max(),
                 per_call_us(lambda: program8(one))))
    rows.insert(0, ("grukit eager fp32", "-", 0.0, per_call_us(lambda: model(one))))

print(f"\n{'path':<28} {'file':<16} {'bytes':>7} {'max |diff|':>11} {'µs/seq':>8}")
for what, file, diff, us in rows:
    size = (out / file).stat().st_size if file != "-" else 0
    print(f"{what:<28} {file:<16} {size or '':>7} {diff:11.2e} {us:8.0f}")
for what, _, diff, _ in rows:  # fp32 copies agree to float rounding, int8 to ~1%
    bound = 1e-2 * max(1.0, float(np.abs(eager).max())) if "int8" in what else 1e-4
    assert diff <= bound, f"{what} is {diff:.2e} away from the eager model"

# streaming: one sample at a time through the GRU, then the Dense head on its state
gru, dense = model.stack[0].rnn, model.stack[1]
for name, stream in (("Stream fp32", Stream(gru)),
                     ("Int8Stream int8", Int8Stream(quantize_int8(gru)))):
    for x_t in x[-1]:  # (1,): one sample
        h_t = stream.step(x_t)  # (64,): the state after this sample
    with torch.no_grad():
        last = dense(torch.as_tensor(h_t).reshape(1, -1))[0].item()  # a layer gives (y, lengths)
    stream.reset()
    us = per_call_us(lambda s=stream: s.step(x[-1, 0]), calls=100 if SMALL else 2000)
    print(f"{name:<16} last output {last:+.5f} (eager {eager[-1, 0]:+.5f}), "
          f"{us:.1f} µs a step")
