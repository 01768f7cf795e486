"""pandas inputs as a data scientist hands them over: nullable and Arrow dtypes (Float64,
Int64, float32[pyarrow]; numpy reads them as objects, which were refused as 'dtype object')
give the predictions of the same numbers in float; a missing value is named as NaN; the
read-only arrays of pandas' copy-on-write raise no torch warning."""

import warnings

import numpy as np
import pytest
import torch

from grukit.layers import Dense
from grukit.models import Sequential

pd = pytest.importorskip("pandas")

RNG = np.random.default_rng(0)
FRAME = pd.DataFrame(RNG.integers(-5, 5, (6, 3)).astype(float), columns=list("abc"))
TARGET = pd.Series(RNG.normal(size=6))


def _model():
    torch.manual_seed(0)
    m = Sequential([Dense(1, input_shape=(3,))])
    m.compile(loss="mse")
    return m


@pytest.mark.parametrize("dtype", ["Float64", "Int64", "Float32", "boolean"])
def test_nullable_dtypes_predict_as_their_numbers(dtype):
    m = _model()
    frame = FRAME > 0 if dtype == "boolean" else FRAME
    want = m.predict(frame.to_numpy(dtype=np.float32))
    np.testing.assert_allclose(m.predict(frame.astype(dtype)), want, rtol=1e-6)
    assert m.evaluate(frame.astype(dtype), TARGET.astype("Float64")) == pytest.approx(
        m.evaluate(frame.to_numpy(np.float32), TARGET.to_numpy()), rel=1e-6)


def test_arrow_dtypes_predict_as_their_numbers():
    pytest.importorskip("pyarrow")
    m = _model()
    np.testing.assert_allclose(m.predict(FRAME.astype("float32[pyarrow]")),
                               m.predict(FRAME.to_numpy(np.float32)), rtol=1e-6)


def test_a_missing_value_is_named():
    frame = FRAME.astype("Float64")
    frame.iloc[2, 1] = pd.NA
    with pytest.raises(ValueError, match="x contains 1 NaN/Inf value"):
        _model().fit(frame, TARGET, verbose=0)


def test_text_columns_are_still_refused():
    frame = FRAME.assign(d=["u"] * 6)
    with pytest.raises(TypeError, match="x must hold numbers"):
        _model().predict(frame)


def test_read_only_arrays_raise_no_warning(monkeypatch):
    from grukit.models import training

    def as_tensor(arr, *args):  # torch warns once per process: say it every time here
        if isinstance(arr, np.ndarray) and not arr.flags.writeable:
            warnings.warn("The given NumPy array is not writable, and PyTorch does not "
                          "support non-writable tensors.", UserWarning, stacklevel=2)
        return torch.from_numpy(arr.copy()) if isinstance(arr, np.ndarray) else \
            torch_as_tensor(arr, *args)

    torch_as_tensor = torch.as_tensor
    monkeypatch.setattr(training.torch, "as_tensor", as_tensor)
    x = FRAME.to_numpy(np.float32)
    x.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model().fit(x, TARGET, verbose=0, epochs=1)
