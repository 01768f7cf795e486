"""Deploy a task model: a Forecaster of Mauna Loa's CO2 exported to ONNX (served by
``grukit.export.runtime.Predictor``: onnxruntime and numpy, no torch) and to a torch.export
program, with int8 weights too, each checked against the fitted model.

    python docs/examples/deploy_forecaster.py                    # the full run
    GRUKIT_DOCS_SMALL=1 python docs/examples/deploy_forecaster.py  # seconds: the docs' CI check
"""

import os
from pathlib import Path

import numpy as np
import torch

from grukit.data.series import load_builtin
from grukit.export import load_pt2
from grukit.export.runtime import Predictor
from grukit.tasks.export import export, int8_estimator, pt2_network
from grukit.tasks.forecast import Forecaster

SMALL = os.environ.get("GRUKIT_DOCS_SMALL") == "1"
HORIZON = 12  # a year of months
HELD_OUT = 2 * HORIZON  # the last two years: forecast, never trained on

series = load_builtin("co2").to_numpy()  # monthly, 1958-2001 (statsmodels, public domain)
if SMALL:
    series = series[-120:]  # the last ten years
train = series[:-HELD_OUT]
model = Forecaster(model="gru", horizon=HORIZON, epochs=3 if SMALL else 100, seed=0)
model.fit(train, season=12)
model.save("co2-model")  # config.json + weights.safetensors: what `grukit export` reads

out = Path("deployed")
out.mkdir(exist_ok=True)
origins = [series[:len(series) - k] for k in (HELD_OUT, HORIZON)]  # two forecast origins
truth = series[-HELD_OUT:]


def forecasts(predict) -> np.ndarray:
    """The 24 held-out months, forecast 12 at a time from the two origins."""
    return np.concatenate([predict(recent) for recent in origins])


reference = forecasts(model.predict)
rows = [("fitted model (torch)", reference)]

# ONNX + manifest: what a device without torch serves (`grukit export co2-model`)
for name, int8 in (("co2.onnx", False), ("co2_int8.onnx", True)):
    export(model, out / name, int8=int8)  # also writes co2[_int8].manifest.json beside it
    served = Predictor(out / name)  # onnxruntime + numpy only
    rows.append((f"Predictor {name}", forecasts(served.predict)))

# int8 weights in torch: what quantization costs, measured before exporting
rows.append(("int8_estimator (torch)", forecasts(int8_estimator(model).predict)))

# torch.export: the network as a program (`grukit export co2-model --format pt2`)
net, example = pt2_network(model)  # the network and an input shaped as it is served
with torch.no_grad():
    for name, int8 in (("co2.pt2", False), ("co2_int8.pt2", True)):
        export(model, out / name, format="pt2", int8=int8)
        program = load_pt2(out / name).module()
        diff = (program(example) - net(example)).abs().max().item()
        print(f"{name:<14} network output within {diff:.1e} of the fitted network's")
        assert diff <= (2e-2 if int8 else 1e-5), f"{name} is {diff:.1e} away"

print(f"\n{'forecaster':<26} {'MAE':>6} {'max |diff|':>11}  first 6 months forecast")
for name, values in rows:
    mae = np.abs(values - truth).mean()
    diff = np.abs(values - reference).max()
    print(f"{name:<26} {mae:6.3f} {diff:11.2e}  " + " ".join(f"{v:.2f}" for v in values[:6]))
    assert diff <= 1e-3 * np.abs(reference).max() * (10 if "int8" in name else 1), name
seasonal = forecasts(lambda recent: recent[-HORIZON:])  # the same months a year before
print(f"{'seasonal naive':<26} {np.abs(seasonal - truth).mean():6.3f} {'':>11}  "
      + " ".join(f"{v:.2f}" for v in seasonal[:6]))
print(f"{'actual':<26} {'':>6} {'':>11}  " + " ".join(f"{v:.2f}" for v in truth[:6]))
print("files:", ", ".join(f"{p.name} {p.stat().st_size:,} B" for p in sorted(out.iterdir())))
