"""grukit compare --task translate on a tiny synthetic parallel corpus (a word mapping in
reversed order): equal-params sizes the LSTM and the attention-free GRU to the GRU's count,
every run reports BLEU (beam and greedy), perplexities and decoding times, the gap is train
minus test BLEU, and bad data or models are one sentence."""

import gzip
import json
import random

import pytest

from grukit.cli import main
from grukit.tasks.compare import CompareConfig, compare, report, tasks
from grukit.tasks.compare import translate as plugin

WORDS = "ab cd ef gh ij kl mn op".split()


def _toy(n, seed):
    rng = random.Random(seed)
    src, tgt = [], []
    for _ in range(n):
        x = [rng.choice(WORDS) for _ in range(rng.randint(2, 5))]
        src.append(" ".join(x))
        tgt.append(" ".join(w.upper()[::-1] for w in reversed(x)))
    return src, tgt


def _write(path, lines, gz=False):
    text = "".join(f"{x}\n" for x in lines)
    if gz:
        with gzip.open(f"{path}.gz", "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("m30k")
    for split, n, seed in (("train", 400, 0), ("val", 30, 1), ("test_2016_flickr", 30, 2)):
        src, tgt = _toy(n, seed)
        _write(d / f"{split}.de", src, gz=split == "train")
        _write(d / f"{split}.en", tgt)
    return d


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(plugin, "SETTINGS", {"vocab_size": 40, "embed": 16, "dropout": 0.0,
                                             "label_smoothing": 0.0, "batch_tokens": 600,
                                             "lr": 5e-3})
    monkeypatch.setattr(plugin, "SPEED_SENTENCES", 5)


@pytest.fixture
def result(folder, tiny):
    cfg = CompareConfig(task="translate", data=str(folder),
                        models=("gru", "lstm", "gru-noattn"), seeds=1, hidden=24, epochs=2,
                        memory_steps=0)
    return compare(cfg, log=lambda *a: None)


def test_translate_is_a_registered_plugin():
    assert "translate" in tasks.NAMES and tasks.takes_max_seconds("translate")
    assert set(tasks.extra_models("translate")) >= {"gru-noattn", "lstm-noattn"}


def test_equal_params_matches_the_lstm_and_the_attention_free_gru_to_the_gru(result):
    runs = {r["model"]: r for r in result["runs"]}
    assert result["config"]["budget"] == "equal-params"
    gru = runs["gru"]["params"]
    assert runs["gru"]["hidden"] == 24
    assert runs["lstm"]["hidden"] < 24 < runs["gru-noattn"]["hidden"]
    for m in ("lstm", "gru-noattn"):  # within one unit's worth of parameters
        assert abs(runs[m]["params"] - gru) / gru < 0.03, (m, runs[m]["params"], gru)


def test_every_run_reports_bleu_perplexity_and_decoding_times(result):
    for r in result["runs"]:
        assert 0 <= r["test_metric"] <= 100 and 0 <= r["bleu_greedy"] <= 100
        assert r["gap"] == pytest.approx(r["train_metric"] - r["test_metric"])
        assert r["val_ppl"] > 1 and r["test_ppl"] > 1
        assert len(r["val_curve"]) == r["epochs"] == 2
        for key in ("greedy_1_ms", "beam_1_ms", "greedy_batch_ms", "beam_batch_ms"):
            assert r[key] > 0
        assert r["bleu_signature"].startswith("nrefs:1")
    labels = [row[0] for row in report.rows(result)]
    assert "test BLEU, greedy" in labels and "test perplexity" in labels
    assert "GRU no attention" in report.markdown(result)
    assert result["table"]["beam_batch_ms"]["lstm"]["n"] == 1


def test_max_seconds_ends_a_run_early(folder, tiny):
    task = tasks.prepare("translate", str(folder))
    rec, module = tasks.run(task, "gru", 24, 0, epochs=None, max_seconds=1e-6)
    assert module is None
    assert rec["epochs"] == 1 and rec["stop_reason"] == "max_seconds"


@pytest.mark.parametrize("models, data, match", [
    (("gru", "mingru"), None, "'mingru' not run by --task translate"),  # before training
    (("gru",), "nowhere", "is not a folder"),
    (("gru",), "EMPTY", "has no train.de"),
])
def test_bad_models_and_data_are_one_sentence(folder, tiny, tmp_path, models, data, match):
    data = str(folder) if data is None else str(tmp_path) if data == "EMPTY" else data
    with pytest.raises(ValueError, match=match):
        compare(CompareConfig(task="translate", data=data, models=models, seeds=1, epochs=1,
                              memory_steps=0), log=lambda *a: None)


def test_cli_runs_the_task_with_another_language_pair(folder, tiny, tmp_path, capsys):
    d = tmp_path / "pair"
    d.mkdir()
    for split, n, seed in (("train", 200, 3), ("val", 20, 4), ("test", 20, 5)):
        src, tgt = _toy(n, seed)
        _write(d / f"{split}.fr", src)
        _write(d / f"{split}.en", tgt)
    out = tmp_path / "out"
    assert main(["compare", "--task", "translate", "--data", f"{d}:fr-en", "--models",
                 "gru,lstm-noattn", "--seeds", "1", "--hidden", "16", "--epochs", "1",
                 "--memory-steps", "0", "--threads", "1", "--output", str(out)]) == 0
    assert "test BLEU, greedy" in capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    assert "fr→en: 200 train, 20 validation, 20 test pairs" in res["task"]["notes"]["data"]
    assert [r["model"] for r in res["runs"]] == ["gru", "lstm-noattn"]


@pytest.mark.parametrize("cell", ["mingru", "lngru"])
def test_a_cell_without_a_decoder_step_is_refused_before_any_training(cell, monkeypatch):
    """It was taken by the check and refused only at its own run, after the models before it
    had trained."""
    monkeypatch.setattr(tasks, "run", lambda *a, **k: pytest.fail("a model was trained"))
    with pytest.raises(ValueError, match=f"'{cell}' not run by --task translate"):
        compare(CompareConfig(task="translate", models=("gru", cell), seeds=1,
                              memory_steps=0))


def test_each_models_first_run_follows_an_untimed_epoch_that_changes_no_result(
        folder, tiny, monkeypatch):
    """First-call costs (2.8 s of an epoch of 64 Multi30K pairs) were charged to the first
    seed's first epoch and decodings of whichever model ran first."""
    from grukit.tasks.translate import Translator

    calls, real = [], Translator.fit

    def spy(self, src, *a, **k):
        calls.append((self.config.hidden, self.config.epochs, len(src)))
        return real(self, src, *a, **k)

    monkeypatch.setattr(Translator, "fit", spy)
    monkeypatch.setattr(plugin, "WARM_PAIRS", 32)
    task = tasks.prepare("translate", str(folder))
    same = ("params", "epochs", "train_curve", "val_curve", "test_metric", "train_metric",
            "bleu_greedy", "test_ppl")
    monkeypatch.setattr(tasks, "_WARM", {("translate", "gru")})  # as if warmed up
    cold = tasks.run(task, "gru", 16, 0, epochs=1)[0]
    assert calls == [(16, 1, 400)]
    monkeypatch.setattr(tasks, "_WARM", set())
    calls.clear()
    warm = tasks.run(task, "gru", 16, 0, epochs=1)[0]
    tasks.run(task, "gru", 16, 0, epochs=1)
    assert calls == [(16, 1, 32), (16, 1, 400), (16, 1, 400)]
    assert {k: warm[k] for k in same} == {k: cold[k] for k in same}
