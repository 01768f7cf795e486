"""An exported GRU4Rec, served by grukit.export.runtime.Predictor, takes the arguments of
recommend as GRU4Rec.recommend takes them, on real sessions (Diginetica)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from conftest import SHARED_DATA  # noqa: E402
from grukit.export.runtime import Predictor  # noqa: E402
from grukit.tasks.export import export  # noqa: E402

SESSIONS = SHARED_DATA / "sessions" / "diginetica_sample_train-item-views.csv"


@pytest.fixture(scope="module")
def recommender(tmp_path_factory):
    if not SESSIONS.is_file():
        pytest.skip(f"{SESSIONS} is absent; set GRUKIT_SHARED_DATA to the shared data folder")
    from grukit.data import read_events
    from grukit.tasks.recommend import GRU4Rec

    torch.manual_seed(0)
    model = GRU4Rec(hidden=6, epochs=1, n_sample=8, batch_size=8).fit(
        read_events(str(SESSIONS)).iloc[:800])
    path = tmp_path_factory.mktemp("rec") / "rec.onnx"
    export(model, path)
    return model, Predictor(path)


def test_return_scores_that_is_no_flag_is_refused_as_recommend_refuses_it(recommender):
    """The text "False" is truthy: the Predictor gave (item, score) pairs for it."""
    model, p = recommender
    session = model.items_.ids[:3].tolist()
    for flag in (False, 0, np.bool_(False)):
        assert p.recommend(session, k=4, return_scores=flag) == \
            model.recommend(session, k=4, return_scores=flag)
    got = p.recommend(session, k=4, return_scores=np.True_)
    want = model.recommend(session, k=4, return_scores=True)
    assert [i for i, _ in got] == [i for i, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5, rtol=0)
    for bad in ("False", None, 0.0, 2):
        with pytest.raises(ValueError):
            model.recommend(session, k=4, return_scores=bad)
        with pytest.raises(ValueError) as e:
            p.recommend(session, k=4, return_scores=bad)
        assert str(e.value) == f"return_scores must be True or False; got {bad!r}."


def test_a_recommender_of_lstm_cells_is_refused_in_one_sentence(tmp_path):
    """It said so in two sentences."""
    if not SESSIONS.is_file():
        pytest.skip(f"{SESSIONS} is absent; set GRUKIT_SHARED_DATA to the shared data folder")
    from grukit.data import read_events
    from grukit.tasks.recommend import GRU4Rec

    torch.manual_seed(0)
    model = GRU4Rec(hidden=4, epochs=1, n_sample=8, batch_size=8, cell="lstm").fit(
        read_events(str(SESSIONS)).iloc[:400])
    with pytest.raises(ValueError) as e:
        export(model, tmp_path / "rec.onnx")
    msg = str(e.value)
    assert msg == ("export_onnx writes the GRU4Rec step with a GRU cell, and this model has "
                   "cell='lstm'; train it with cell='gru' to export it.")
    assert not list(tmp_path.iterdir())
