"""GRU4Rec save/load: recommendations and evaluation equal to the last bit after loading,
item ids keep their type, and damaged, foreign or missing folders are refused."""

import json

import numpy as np
import pytest

from grukit.data.sessions import Sessions
from grukit.tasks.estimator import load
from grukit.tasks.recommend import GRU4Rec

FAST = dict(hidden=8, epochs=2, n_sample=8, batch_size=8)


def _data(vocab, n_sessions=120, seed=0):
    rng = np.random.default_rng(seed)
    n = len(vocab)
    nxt = rng.permutation(n)
    lists = []
    for _ in range(n_sessions):
        seq = [int(rng.integers(n))]
        for _ in range(int(rng.integers(1, 5))):
            seq.append(int(nxt[seq[-1]]))
        lists.append(seq)
    items = np.concatenate([np.asarray(s, np.int64) for s in lists])
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in lists])]).astype(np.int64)
    return Sessions(items, offsets, vocab)


@pytest.mark.parametrize("vocab", [np.arange(1000, 1020), np.array([f"sku-{i}" for i in range(20)],
                                                                   dtype=object)],
                         ids=["int-ids", "text-ids"])
def test_round_trip_is_bit_exact_and_keeps_the_id_type(tmp_path, vocab):
    train = _data(vocab)
    test = _data(vocab, 30, seed=1)
    model = GRU4Rec(**FAST, tied=False, layers=2).fit(train)
    session = [vocab[3].item() if hasattr(vocab[3], "item") else vocab[3], vocab[7]]
    before = model.recommend(session, k=5, return_scores=True)
    scores_before = model.evaluate(test)
    model.save(str(tmp_path / "m"))
    same = GRU4Rec.load(str(tmp_path / "m"))
    after = same.recommend(session, k=5, return_scores=True)
    assert after == before  # ids and float scores, bit for bit
    assert type(after[0][0]) is type(vocab.tolist()[0])  # int stays int, text stays text
    assert same.evaluate(test) == scores_before
    assert same.get_config() == model.get_config()
    assert same.history_.history == model.history_.history
    assert same.popular(3) == model.popular(3)
    assert isinstance(load(str(tmp_path / "m")), GRU4Rec)


def test_fit_returns_self_and_keeps_the_epoch_log():
    model = GRU4Rec(**FAST)
    assert model.fit(_data(np.arange(20))) is model
    assert len(model.history_.history["loss"]) == 2 and model.history_.epoch == [0, 1]


def test_load_refuses_other_classes_tampered_files_and_missing_folders(tmp_path):
    from grukit.tasks.forecast import Forecaster

    model = GRU4Rec(**FAST).fit(_data(np.arange(20)))
    path = tmp_path / "m"
    model.save(str(path))
    with pytest.raises(ValueError, match=r"holds a GRU4Rec, not a Forecaster; load it with "
                                         r"GRU4Rec.load"):
        Forecaster.load(str(path))
    with pytest.raises(FileNotFoundError, match="no saved model at"):
        GRU4Rec.load(str(tmp_path / "nowhere"))
    body = json.loads((path / "config.json").read_text())
    body["extras"]["n_items"] = 21
    (path / "config.json").write_text(json.dumps(body))
    with pytest.raises(ValueError, match="does not match its checksum"):
        GRU4Rec.load(str(path))
    model.save(str(path))
    weights = path / "weights.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 1
    weights.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="weights.safetensors' does not match its checksum"):
        GRU4Rec.load(str(path))


def test_unfitted_model_cannot_be_saved(tmp_path):
    with pytest.raises(RuntimeError, match="GRU4Rec is not trained; call fit"):
        GRU4Rec().save(str(tmp_path / "m"))


def test_lstm_cell_round_trip_is_bit_exact(tmp_path):
    vocab = np.arange(1000, 1020)
    train, test = _data(vocab), _data(vocab, 30, seed=1)
    model = GRU4Rec(**FAST, cell="lstm").fit(train)
    before = model.evaluate(test)
    model.save(str(tmp_path / "m"))
    same = GRU4Rec.load(str(tmp_path / "m"))
    assert same.config.cell == "lstm" and same.evaluate(test) == before


def test_numpy_whole_number_settings_train_and_save(tmp_path):
    settings = {k: np.int64(v) for k, v in (FAST | {"seed": 3, "layers": 1}).items()}
    model = GRU4Rec(**settings)
    assert all(type(v) is int for k, v in model.get_config().items() if k in settings)
    model.fit(_data(np.arange(20), n_sessions=40)).save(str(tmp_path / "m"))
    assert GRU4Rec.load(str(tmp_path / "m")).get_config() == model.get_config()
