"""``grukit export MODEL_DIR --format onnx [--output FILE]``: a saved task model becomes an
ONNX file with its manifest; bad output places and formats get one line and exit 2 before
any work."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from grukit.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small forecaster saved as a task folder (statsmodels' nile series)."""
    datasets = pytest.importorskip("statsmodels.datasets", reason="statsmodels is absent")
    from grukit.tasks.forecast import Forecaster

    try:
        nile = datasets.nile.load_pandas().data["volume"].to_numpy(np.float64)
    except Exception as e:  # a broken install without its bundled files
        pytest.skip(f"statsmodels' nile data set cannot be read: {e}")
    f = Forecaster(hidden=6, horizon=3, epochs=2).fit(nile[:80])
    folder = tmp_path_factory.mktemp("models") / "nile"
    f.save(str(folder))
    return f, folder


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("grukit export: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_export_writes_model_dir_onnx_and_its_manifest(saved, capsys):
    f, folder = saved
    assert main(["export", str(folder)]) == 0
    onnx_path = folder.parent / "nile.onnx"
    manifest = json.loads((folder.parent / "nile.manifest.json").read_text())
    assert manifest["task"] == "Forecaster" and manifest["model"] == "nile.onnx"
    lookback = manifest["forecast"]["lookback"]
    assert manifest["inputs"] == [{"name": "x", "dtype": "float",
                                   "shape": ["batch", "time", 2]}]
    assert manifest["outputs"] == [{"name": "y", "dtype": "float", "shape": ["batch", 3]}]
    assert "nile.onnx" in capsys.readouterr().out
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = f.inputs(f.last[0])  # (1, lookback, 2)
    assert x.shape[1] == lookback
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], f.net.predict(x), atol=1e-5,
                               rtol=0)


def test_export_output_in_a_new_folder(saved, tmp_path):
    _, folder = saved
    out = tmp_path / "deploy" / "model.onnx"
    assert main(["export", str(folder), "--format", "onnx", "--output", str(out)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.manifest.json",
                                                             "model.onnx"]


def test_exported_files_get_the_mode_open_would_give(saved, tmp_path):
    """Graph, program and manifests are readable by the group and others under umask 022, as
    any file open() writes (they were 0600, the temporary file's mode: a server running as
    another user could not read them)."""
    _, folder = saved
    old = os.umask(0o022)
    try:
        for argv in (["--output", str(tmp_path / "m.onnx")],
                     ["--int8", "--output", str(tmp_path / "q.onnx")],
                     ["--format", "pt2", "--output", str(tmp_path / "m.pt2")]):
            assert main(["export", str(folder), *argv]) == 0
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert sorted(modes) == ["m.manifest.json", "m.onnx", "m.pt2", "m.pt2-manifest.json",
                             "q.manifest.json", "q.onnx"]
    assert set(modes.values()) == {0o644}, modes


def test_output_over_a_file_of_the_saved_model_is_refused_and_the_model_kept(saved, tmp_path,
                                                                            capsys):
    """--output MODEL_DIR/weights.safetensors replaced the model's weights with the graph
    (the model no longer loaded)."""
    import shutil

    from grukit.tasks.estimator import load

    f, folder = saved
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    for name, fmt in (("weights.safetensors", "onnx"), ("config.json", "onnx"),
                      ("weights.safetensors", "pt2")):
        assert main(["export", str(copy), "--format", fmt, "--output", str(copy / name)]) == 2
        assert "is a file of the saved model" in _one_line_error(capsys)
    # a graph named *.json was written, then read back by onnx as ONNX JSON: a traceback
    assert main(["export", str(copy), "--output", str(tmp_path / "m.json")]) == 2
    assert "name it *.onnx" in _one_line_error(capsys)
    assert sorted(p.name for p in copy.iterdir()) == ["config.json", "weights.safetensors"]
    np.testing.assert_array_equal(load(str(copy)).predict(), f.predict())


def test_a_name_the_export_writes_taken_by_a_folder_is_refused_before_any_file(saved,
                                                                              tmp_path,
                                                                              capsys):
    _, folder = saved
    (tmp_path / "m.manifest.json").mkdir()
    assert main(["export", str(folder), "--output", str(tmp_path / "m.onnx")]) == 2
    err = _one_line_error(capsys)
    assert "m.manifest.json', which the export writes, is a folder" in err and ".tmp" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["m.manifest.json"]


def test_a_failed_export_leaves_the_earlier_export_as_it_was(saved, tmp_path, monkeypatch):
    """A new graph was written before int8 quantization (or anything after it) failed,
    beside the earlier export's manifest: the runtime served the new network with the old
    model's scaling."""
    from grukit.export import int8
    from grukit.export.runtime import Predictor
    from grukit.tasks.export import export
    from grukit.tasks.forecast import Forecaster

    f, _ = saved
    export(f, tmp_path / "m.onnx")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    other = Forecaster(hidden=3, horizon=3, epochs=1, seed=1).fit(np.sin(np.arange(60.0)))

    def fail(*args, **kwargs):
        raise RuntimeError("quantization failed")

    monkeypatch.setattr(int8, "quantize_onnx", fail)
    with pytest.raises(RuntimeError, match="quantization failed"):
        export(other, tmp_path / "m.onnx", int8=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no leftovers
    np.testing.assert_allclose(Predictor(tmp_path / "m.onnx").predict(), f.predict(),
                               atol=1e-4, rtol=0)


@pytest.mark.parametrize("where", ["a-folder", "under-a-file", "read-only-folder"])
def test_bad_output_gets_one_line_and_exit_2_before_work(saved, where, tmp_path, capsys):
    _, folder = saved
    (tmp_path / "file.txt").write_text("x")
    out = {"a-folder": tmp_path, "under-a-file": tmp_path / "file.txt" / "m.onnx",
           "read-only-folder": tmp_path / "ro" / "m.onnx"}[where]
    if where == "read-only-folder":
        out.parent.mkdir()
        out.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if where == "read-only-folder" and os.access(out.parent, os.W_OK):
            pytest.skip("this user (root) can write to a read-only folder")
        assert main(["export", str(folder), "--output", str(out)]) == 2
        err = _one_line_error(capsys)
        assert {"a-folder": "is a folder", "under-a-file": "is a file",
                "read-only-folder": "cannot be written"}[where] in err
        assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(
            ["file.txt"] + (["ro"] if where == "read-only-folder" else []))
    finally:
        if where == "read-only-folder":
            out.parent.chmod(stat.S_IRWXU)


def test_pt2_writes_a_program_equal_to_the_model(saved, tmp_path, capsys):
    import torch

    from grukit.export import load_pt2

    f, folder = saved
    assert main(["export", str(folder), "--format", "pt2", "--output",
                 str(tmp_path / "m.pt2")]) == 0
    assert "grukit.export.load_pt2('m.pt2')" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "m.pt2-manifest.json").read_text())
    assert manifest["format"] == "grukit.pt2-manifest" and manifest["model"] == "m.pt2"
    x = f.inputs(f.last[0])
    with torch.no_grad():
        got = load_pt2(tmp_path / "m.pt2").module()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, f.net.predict(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", ["missing", "not-a-model"])
def test_model_dir_that_is_no_saved_model_gets_one_line(case, tmp_path, capsys):
    folder = tmp_path / "nothing"
    if case == "not-a-model":
        folder.mkdir()
        (folder / "notes.txt").write_text("x")
    assert main(["export", str(folder), "--output", str(tmp_path / "m.onnx")]) == 2
    err = _one_line_error(capsys)
    assert ("no saved model at" if case == "missing" else "is not a saved grukit model") in err
    assert not (tmp_path / "m.onnx").exists()


def test_export_as_a_command_in_a_subprocess(saved, tmp_path):
    _, folder = saved
    out = tmp_path / "cmd.onnx"
    run = subprocess.run([sys.executable, "-m", "grukit", "export", str(folder), "--output",
                          str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert out.is_file() and (tmp_path / "cmd.manifest.json").is_file()
    bad = subprocess.run([sys.executable, "-m", "grukit", "export", str(folder), "--output",
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr


def test_onnx_and_pt2_of_one_stem_keep_their_own_manifests(saved, tmp_path):
    pytest.importorskip("onnxruntime")
    from grukit.export.runtime import Predictor

    _, folder = saved
    assert main(["export", str(folder), "--output", str(tmp_path / "m.onnx")]) == 0
    assert main(["export", str(folder), "--format", "pt2", "--output",
                 str(tmp_path / "m.pt2")]) == 0
    onnx_manifest = json.loads((tmp_path / "m.manifest.json").read_text())
    pt2_manifest = json.loads((tmp_path / "m.pt2-manifest.json").read_text())
    assert onnx_manifest["format"] == "grukit.onnx-manifest"
    assert pt2_manifest["format"] == "grukit.pt2-manifest"
    assert Predictor(str(tmp_path / "m.onnx")).task == onnx_manifest["task"]


def test_a_sequential_model_file_is_told_how_to_export(tmp_path, capsys):
    from grukit.layers import GRU, Dense
    from grukit.models import Sequential

    path = tmp_path / "m.safetensors"
    Sequential([GRU(3, input_shape=(4, 1)), Dense(1)]).save(path)
    assert main(["export", str(path)]) == 2
    assert "grukit.export.to_onnx(model" in capsys.readouterr().err
    (tmp_path / "x.txt").write_text("hi")
    assert main(["export", str(tmp_path / "x.txt")]) == 2
    assert "is a file; a saved grukit model is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "x.txt"]


def test_an_empty_output_is_refused_not_read_as_the_default(saved, capsys, tmp_path):
    """`--output ""` wrote the graph beside the model folder, as if no --output were given."""
    import shutil

    folder = tmp_path / "nile"  # a copy: other tests export beside the shared one
    shutil.copytree(saved[1], folder)
    assert main(["export", str(folder), "--output", ""]) == 2
    assert "--output is empty; give a file path such as model.onnx." in capsys.readouterr().err
    assert not os.path.exists(f"{os.path.abspath(folder)}.onnx")


def test_a_file_named_for_the_other_format_is_refused_before_any_file(saved, tmp_path,
                                                                      capsys):
    """`--output m.pt2` without `--format pt2` wrote an ONNX graph named m.pt2 (load_pt2
    then failed in zipfile), and `--format pt2 --output m.onnx` a program that Predictor
    found no manifest for."""
    _, folder = saved
    for fmt, name, other in (("onnx", "m.pt2", "pt2"), ("onnx", "m.PT2", "pt2"),
                             ("pt2", "m.onnx", "onnx")):
        assert main(["export", str(folder), "--format", fmt, "--output",
                     str(tmp_path / name)]) == 2
        err = _one_line_error(capsys)
        assert f"--format {other}" in err and f"*.{fmt}" in err, err
    assert not list(tmp_path.iterdir())
