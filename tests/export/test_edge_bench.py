"""``python -m grukit.export.bench`` runs end to end on a tiny model and prints every table
(its figures are timings: only their presence is checked)."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from grukit.export import bench  # noqa: E402


@pytest.fixture
def threads_kept():
    """bench.main sets torch's and numba's thread counts: give them back after the test."""
    import numba
    import torch

    kept = torch.get_num_threads(), numba.get_num_threads()
    yield
    torch.set_num_threads(kept[0])
    numba.set_num_threads(kept[1])


def test_bench_prints_every_block(capsys, threads_kept):
    assert bench.main(["--hidden", "4", "--steps", "5", "--repeat", "1", "--budget", "0.002",
                       "--no-compile"]) == 0
    out = capsys.readouterr().out
    for row in ("| step, batch 1, GRU(4) |", "| grukit Int8Stream int8 |",
                "| sequence T=5, batch 32 |", "| ONNX Runtime int8 (Dense; GRU stays fp32) |",
                "| model_int8.pt2 |", "| state_int8.safetensors |"):
        assert row in out, row


@pytest.mark.parametrize("argv, said", [
    (["--threads", "0"], "--threads must be at least 1; got 0."),
    (["--steps", "0"], "--steps must be at least 1; got 0."),
    (["--steps", "-5"], "--steps must be at least 1; got -5."),
    (["--repeat", "0"], "--repeat must be at least 1; got 0."),
    (["--budget", "0"], "--budget must be a positive number of seconds; got 0.0."),
    (["--budget", "inf"], "--budget must be a positive number of seconds; got inf."),
])
def test_bench_refuses_counts_below_one_in_one_line(argv, said, capsys, tmp_path):
    from grukit.tasks import edge_bench

    for main, args in ((bench.main, argv), (edge_bench.main, [str(tmp_path), *argv])):
        with pytest.raises(SystemExit):
            main(args)
        assert said in capsys.readouterr().err


@pytest.mark.parametrize("hidden", ["0", "-3"])
def test_bench_refuses_hidden_below_one_in_one_line(hidden, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--hidden", hidden])
    assert f"--hidden must be at least 1; got {hidden}." in capsys.readouterr().err


def test_task_bench_refuses_a_folder_without_a_model_in_one_line(capsys, tmp_path,
                                                                threads_kept):
    from grukit.tasks import edge_bench

    for folder, said in ((tmp_path / "none", "no saved model at"),
                         (tmp_path, "is not a saved grukit model: config.json is missing.")):
        with pytest.raises(SystemExit):
            edge_bench.main([str(folder)])
        assert said in capsys.readouterr().err


def test_bench_step_prints_every_row(capsys, threads_kept):
    from grukit.export import bench_step

    assert bench_step.main(["--cell", "lstm", "--hidden", "8", "--rounds", "1", "--number",
                            "2"]) == 0
    out = capsys.readouterr().out
    for stream in ("Stream fp32", "Int8Stream w8a8 (int8 x int8)",
                   "Int8Stream int8 weights x float"):
        for part in ("step()", "kernel call", "arithmetic"):
            assert f"{stream}: {part}" in out, (stream, part)


def test_bench_step_refuses_zero_rounds(capsys):
    from grukit.export import bench_step

    with pytest.raises(SystemExit):
        bench_step.main(["--rounds", "0"])
    assert "--rounds must be at least 1; got 0." in capsys.readouterr().err


def test_bench_times_a_saved_task_model_on_the_files_export_writes(capsys, threads_kept,
                                                                    tmp_path):
    """grukit.tasks.edge_bench DIR: a saved SequenceClassifier through every path; its ONNX
    graph computes what its network computes (the rows time the same function)."""
    import re

    import numpy as np

    from grukit.tasks.classify import SequenceClassifier

    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((int(n), 2)) for n in rng.integers(3, 9, 24)]
    labels = [int(s[:, 0].sum() > 0) for s in seqs]
    SequenceClassifier(model="gru", hidden=4, epochs=1, validation_split=0).fit(
        seqs, labels).save(tmp_path / "m")
    from grukit.tasks import edge_bench

    assert edge_bench.main([str(tmp_path / "m"), "--steps", "6", "--repeat", "1",
                            "--budget", "0.002", "--no-compile"]) == 0
    out = capsys.readouterr().out
    assert "SequenceClassifier from" in out and "input (batch, 6, 3)" in out
    diff = float(re.search(r"max \|difference\|: (\S+)", out).group(1))
    assert diff < 1e-5
    for row in ("| sequence T=6, batch 32 |", "| grukit torch.export (.pt2) |",
                "| grukit int8 (int8_estimator) |", "| ONNX Runtime int8 (grukit export --int8) |",
                "| model_int8.onnx |", "| state_int8.safetensors |"):
        assert row in out, row


def test_task_bench_of_a_cell_without_pt2_times_the_other_paths(tmp_path, threads_kept,
                                                                 capsys):
    """An RNN forecaster has no torch.export program: the bench stopped with to_pt2's
    traceback before timing anything; now it says so and times the rest."""
    import numpy as np

    from grukit.tasks import edge_bench
    from grukit.tasks.forecast import Forecaster

    Forecaster(model="rnn", hidden=3, horizon=2, epochs=1, lookback=6).fit(
        100 + np.sin(np.arange(60) / 3)).save(tmp_path / "f")
    assert edge_bench.main([str(tmp_path / "f"), "--steps", "4", "--repeat", "1",
                            "--budget", "0.002", "--no-compile"]) == 0
    out = capsys.readouterr().out
    assert "no torch.export rows: to_pt2: this RNN" in out
    assert "| ONNX Runtime int8 (grukit export --int8) |" in out and "(.pt2)" not in out
    assert "| model.onnx |" in out and "model.pt2" not in out


def test_bench_refuses_a_task_model_that_reads_token_ids(tmp_path, threads_kept, capsys):
    from grukit.tasks import edge_bench
    from grukit.tasks.classify import TextClassifier

    texts = ["good phone", "bad phone", "great", "awful"] * 4
    TextClassifier(model="gru", embed_dim=4, hidden=4, epochs=1, vocab_size=50,
                   validation_split=0).fit(texts, [1, 0, 1, 0] * 4).save(tmp_path / "t")
    with pytest.raises(SystemExit):
        edge_bench.main([str(tmp_path / "t"), "--no-compile"])
    assert "whose network reads token ids" in capsys.readouterr().err


def test_memory_rows_feed_the_graph_its_own_input_name_and_keep_failed_rows(tmp_path,
                                                                            monkeypatch):
    """A forecaster's graph reads ``x``: its ONNX Runtime rows fed ``input``, failed, and
    were dropped from the --memory table without a word."""
    from grukit.export import quantize_onnx, to_onnx
    from grukit.layers import GRU, Dense
    from grukit.models import Sequential

    model = Sequential([GRU(3, input_shape=(None, 2)), Dense(1)])
    model.build()
    to_onnx(model, tmp_path / "model.onnx", names={"input": "x", "output": "y"})
    quantize_onnx(tmp_path / "model.onnx", tmp_path / "model_int8.onnx")
    onnx_rows = {k: v for k, v in bench._BODIES.items() if "ort." in v}
    monkeypatch.setattr(bench, "_BODIES", bench._BODIES | {"broken": "import no_such_module_"})
    rows = dict(bench.peak_rows(5, tmp_path, width=2))
    assert set(rows) == set(onnx_rows) | {"broken"}  # no row for the pt2 files not written
    assert all(isinstance(rows[k], int) and rows[k] > 0 for k in onnx_rows), rows
    assert rows["broken"].startswith("failed: ") and "no_such_module_" in rows["broken"]


def test_int8_state_file_holds_every_weight_of_the_network(tmp_path):
    """state_int8.safetensors (the int8 state's size row) held the recurrent weights alone:
    torch's dynamically quantized Dense keeps its weight and bias packed in a tuple, which
    the file skipped, so the row understated the int8 state."""
    import numpy as np
    from safetensors import safe_open

    from grukit.tasks import edge_bench
    from grukit.tasks.classify import SequenceClassifier

    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((int(n), 2)) for n in rng.integers(3, 9, 12)]
    est = SequenceClassifier(model="gru", hidden=4, epochs=1, validation_split=0).fit(
        seqs, [int(s[:, 0].sum() > 0) for s in seqs])
    edge_bench.export_files(est, tmp_path)
    with safe_open(str(tmp_path / "state_int8.safetensors"), "pt") as f:
        kept = set(f.keys())
    lost = [k for k in est.model.state_dict()
            if k not in kept and f"{k}_int8" not in kept]
    assert not lost, lost


def test_an_ensembles_state_and_int8_rows_cover_every_network(tmp_path):
    """A forecaster ensemble's state files held the first network alone (and its int8 row
    timed it alone), while the fp32 and ONNX rows run all of them and their median."""
    import numpy as np
    from safetensors import safe_open

    from grukit.tasks import edge_bench
    from grukit.tasks.forecast import Forecaster

    y = np.sin(np.arange(60) / 3.0)
    est = Forecaster(hidden=3, horizon=2, epochs=1, lookback=6, ensemble=2).fit(y)
    edge_bench.export_files(est, tmp_path)
    for name in ("state.safetensors", "state_int8.safetensors"):
        with safe_open(str(tmp_path / name), "pt") as f:
            keys = list(f.keys())
        nets = {k.split(".")[1] for k in keys if k.startswith("nets.")}  # "nets.<j>.…"
        assert nets == {"0", "1"} and all(k.startswith("nets.") for k in keys), (name, keys)
