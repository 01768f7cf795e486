"""grukit compare --task generate on a tiny text: equal-params sizes every language model
(the Transformer and the hybrid too) to the GRU's count, every run reports validation
nats/char, the train loss for the gap, a curve of validation loss against training time,
generation speed and state memory at batch 1, and bad data is one sentence."""

import math
import random

import pytest
import torch

from conftest import SHARED_DATA
from grukit.cli import main
from grukit.tasks.compare import CompareConfig, compare, report, tasks
from grukit.tasks.compare import generate as plugin

WORDS = "the cat sat on a mat and dog ran to sun".split()


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    rng = random.Random(0)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) for _ in range(220)]
    path = tmp_path_factory.mktemp("text") / "tiny.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _shrink(mp):
    """Short blocks, short generation, a fast schedule (no long warm-up) and one thread (a
    tiny model on a shared machine)."""
    mp.setattr(plugin, "BLOCK_STEPS", 3)
    mp.setattr(plugin, "EVAL_TOKENS", 256)
    mp.setattr(plugin, "GENERATED", (10, 100))
    mp.setattr(plugin, "CELL_SETTINGS", plugin.CELL_SETTINGS | FAST)
    mp.setattr(plugin, "SETTINGS", {m: s | FAST for m, s in plugin.SETTINGS.items()})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    return threads


FAST = {"lr": 1e-2, "warmup": 2}


@pytest.fixture
def small(monkeypatch):
    threads = _shrink(monkeypatch)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def result(text_file):
    mp = pytest.MonkeyPatch()
    threads = _shrink(mp)
    try:
        cfg = CompareConfig(task="generate", data=str(text_file),
                            models=("gru", "transformer", "hybrid"), seeds=1, hidden=16,
                            epochs=3, memory_steps=0)
        return compare(cfg, log=lambda *a: None)
    finally:
        mp.undo()
        torch.set_num_threads(threads)


def test_generate_is_a_registered_task_with_its_models():
    assert "generate" in tasks.NAMES
    assert tasks.extra_models("generate") == {"transformer": "Transformer", "hybrid": "hybrid"}
    assert tasks.takes_max_seconds("generate")


def test_equal_params_sizes_each_language_model_to_the_grus_count(result):
    runs = {r["model"]: r for r in result["runs"]}
    target = runs["gru"]["params"]
    for m in ("transformer", "hybrid"):
        w = runs[m]["hidden"]
        assert w % 8 == 0  # 4 heads of an even size
        assert runs[m]["params"] == plugin.lm_params(m, w, runs[m]["vocab"])
        # no other allowed width is closer to the GRU's count
        for other in (w - 8, w + 8):
            if other > 0:
                assert abs(runs[m]["params"] - target) <= \
                    abs(plugin.lm_params(m, other, runs[m]["vocab"]) - target)


def test_each_run_reports_loss_gap_curve_and_generation_rows(result):
    for r in result["runs"]:
        assert 0 < r["test_metric"] < math.log(r["vocab"])  # learnt more than a uniform guess
        assert r["gap"] == pytest.approx(r["test_metric"] - r["train_metric"])
        secs = [s for s, _ in r["curve"]]
        assert secs == sorted(secs) and len(secs) == r["epochs"] == len(r["val_curve"])
        assert sum(r["epoch_seconds"]) == pytest.approx(secs[-1])
        assert r["steps"] == r["block_steps"] * r["epochs"] == 9  # --epochs: blocks of steps
        assert r["stop_reason"] == "max_epochs"
        assert r["gen_ms_per_token"] == pytest.approx(1e3 / r["gen_tokens_per_second"])
    state = {r["model"]: r["state_bytes"] for r in result["runs"]}
    assert state["gru"][10] == state["gru"][100] == 2 * 16 * 4  # 2 layers of H floats
    assert state["transformer"][100] > state["transformer"][10]  # the cache grows
    latency = {r["model"]: "step_us" in r for r in result["runs"]}
    assert latency == {"gru": True, "transformer": False, "hybrid": False}


def test_report_has_the_generation_rows(result):
    labels = [row[0] for row in report.rows(result)]
    assert "generation at batch 1 (ms per token)" in labels
    assert "state after 100 generated tokens (bytes)" in labels
    assert "Transformer" in report.markdown(result)


def test_max_seconds_is_each_runs_training_budget(text_file, small):
    task = tasks.prepare("generate", str(text_file))
    rec, rnn = plugin.run(task, "hybrid", 8, 0, epochs=None, max_seconds=0.3)
    assert rec["stop_reason"] == "max_seconds"
    assert rec["train_seconds"] >= 0.3 and rec["curve"][-1][0] == rec["train_seconds"]
    assert rnn is None  # no single recurrent module stands for the hybrid
    assert rec["last_epoch_partial"] == (rec["steps"] % plugin.BLOCK_STEPS != 0)


def test_a_block_the_time_limit_cut_short_is_marked_partial(text_file, small):
    """Its time is not a block's, so compare's s / epoch leaves it out beside whole ones."""
    task = tasks.prepare("generate", str(text_file))
    rec, _ = plugin.run(task, "gru", 8, 0, epochs=None, max_seconds=1e-6)
    assert rec["steps"] < plugin.BLOCK_STEPS and rec["last_epoch_partial"]
    rec, _ = plugin.run(task, "gru", 8, 0, epochs=1, max_seconds=None)
    assert rec["steps"] == plugin.BLOCK_STEPS and not rec["last_epoch_partial"]


def test_bad_data_is_one_sentence(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^--data: .*empty"):
        tasks.prepare("generate", str(empty))
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\0\1\2" * 50)
    with pytest.raises(ValueError, match=r"^--data: .*binary"):
        tasks.prepare("generate", str(binary))
    monkeypatch.delenv("GRUKIT_SHARED_DATA", raising=False)
    with pytest.raises(ValueError, match="needs --data"):
        tasks.prepare("generate", None)
    assert main(["compare", "--task", "generate", "--data", str(empty), "--seeds", "1",
                 "--memory-steps", "0", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data" in err[0]


def test_tinyshakespeare_is_the_default(monkeypatch):
    path = SHARED_DATA / "text" / "tinyshakespeare.txt"
    if not path.is_file():
        pytest.skip(f"{path} is absent (set GRUKIT_SHARED_DATA)")
    monkeypatch.setenv("GRUKIT_SHARED_DATA", str(SHARED_DATA))
    task = tasks.prepare("generate", None)
    assert task.name == "generate:tinyshakespeare.txt" and task.inputs == 65
    assert task.budget == "equal-params"
