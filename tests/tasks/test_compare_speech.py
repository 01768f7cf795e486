"""grukit compare --task speech on a tiny folder of synthetic 'words' (a tone of its own pitch
per label, FSDD-style names): every row filled for a streaming model, the streaming rows left
empty for a bidirectional one, widths at equal parameters, bad --data in one sentence."""

from __future__ import annotations

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("librosa")

from grukit.tasks.compare import CompareConfig, compare, report, tasks  # noqa: E402

PITCH = {"0": 300.0, "1": 900.0}


def _word(label: str, take: int, sr: int = 8000) -> np.ndarray:
    rng = np.random.default_rng(take)
    t = np.arange(int((0.15 + 0.02 * (take % 3)) * sr)) / sr
    tone = 0.4 * np.sin(2 * np.pi * PITCH[label] * (1 + 0.02 * (take % 4)) * t) * \
        np.hanning(len(t))
    sil = np.zeros(int(0.05 * sr))
    y = np.concatenate([sil, tone, sil])
    return y + 0.002 * rng.standard_normal(len(y))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("tones")
    for s_i, s in enumerate(("ann", "bob")):
        for lab in PITCH:
            for i in range(8):  # takes 0-4: the official test split; 5-7 train
                sf.write(d / f"{lab}_{s}_{i}.wav", _word(lab, i + 10 * s_i), 8000,
                         subtype="PCM_16")
    return d


@pytest.fixture(scope="module")
def result(folder):
    cfg = CompareConfig(task="speech", data=str(folder), models=("gru", "bigru"), seeds=1,
                        hidden=8, epochs=3, memory_steps=0, latency_batch=(2, 10))
    return compare(cfg, log=lambda *_: None)


def test_speech_is_a_registered_compare_task():
    assert "speech" in tasks.NAMES and "speech: a folder of wav files" in tasks.data_help()
    assert tasks.extra_models("speech") == {"bigru": "BiGRU", "bilstm": "BiLSTM"}


def test_every_row_for_the_gru_and_no_streaming_rows_for_the_bigru(result):
    runs = {r["model"]: r for r in result["runs"]}
    assert result["task"]["name"].startswith("speech:") and result["task"]["metric"] == \
        "accuracy"
    gru, bigru = runs["gru"], runs["bigru"]
    i = 39  # 13 MFCC + Δ + ΔΔ
    assert gru["params"] > 3 * (i * 8 + 8 * 8 + 16)  # the GRU layer and more (pooling, head)
    assert bigru["params"] > 2 * 3 * (i * 8 + 8 * 8 + 16)
    for r in (gru, bigru):
        assert r["epochs"] == 3 and r["seconds_per_epoch"] > 0
        assert 0.0 <= r["test_metric"] <= 1.0 and 0.0 <= r["train_metric"] <= 1.0
        assert r["gap"] == pytest.approx(r["train_metric"] - r["test_metric"])
    assert gru["step_us"] > 0 and gru["torch_step_us"] > 0 and gru["batch_ms"] > 0
    assert gru["frame_us"] == pytest.approx(gru["frame_features_us"] + gru["frame_model_us"])
    assert 0 < gru["frame_us"] < 10_000  # within the real-time budget of a 10 ms frame
    for key in ("step_us", "torch_step_us", "batch_ms", "frame_us"):
        assert key not in bigru, key
    assert result["table"]["frame_us"]["bigru"]["n"] == 0
    labels = [row[0] for row in report.rows(result)]
    assert any("10 ms frame" in label for label in labels)
    assert "BiGRU" in report.markdown(result)


def test_a_bidirectional_model_is_sized_to_the_gru_at_equal_params(folder):
    from grukit import count_params
    from grukit import layers as gl
    from grukit.models import Sequential
    from grukit.tasks.compare import sizing
    from grukit.tasks.compare.speech import _bi_count

    task = tasks.prepare("speech", str(folder))
    w = task.widths(("gru", "lstm", "bigru", "bilstm"), "equal-params", 32)
    assert task.keras  # the speech classifier is built of grukit.layers layers
    assert task.pooled  # and pools with attention before its head
    target = sizing.count("gru", task.inputs, 32, task.outputs, keras=True, pooled=True)
    assert w["gru"] == 32 and w["lstm"] < 32 and w["bilstm"] < w["bigru"] < 32
    for m in ("bigru", "bilstm"):  # the closest width: one more or one less is further off
        best = abs(_bi_count(m, task.inputs, w[m], task.outputs, True, True) - target)
        for h in (w[m] - 1, w[m] + 1):
            assert abs(_bi_count(m, task.inputs, h, task.outputs, True, True) - target) >= best
    bi = Sequential([gl.Bidirectional(gl.LSTM(5), input_shape=(None, task.inputs)),
                     gl.Dense(task.outputs)])  # the count is the layers' own
    assert _bi_count("bilstm", task.inputs, 5, task.outputs, True) == count_params(bi)
    assert task.widths(("gru", "bigru"), "equal-hidden", 16) == {"gru": 16, "bigru": 16}


def test_bad_data_is_one_sentence(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no such folder"):
        tasks.prepare("speech", str(tmp_path / "nowhere"))
    (tmp_path / "a.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="do not match the name pattern"):
        tasks.prepare("speech", str(tmp_path))
    monkeypatch.delenv("GRUKIT_SHARED_DATA", raising=False)
    with pytest.raises(ValueError, match="needs --data"):
        tasks.prepare("speech", None)
