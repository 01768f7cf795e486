"""``grukit classify``: --save and ``classify predict``, the output folder checked before
any work, folds written as they finish, Ctrl-C in one line and --resume."""

import errno
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

from grukit.cli import main
from grukit.tasks.classify import TextClassifier

POS = ["good", "great", "lovely", "excellent"]
NEG = ["bad", "awful", "poor", "terrible"]
FILL = ["the", "phone", "was", "food", "quite", "really"]


def _rows(n, seed=0, noise=0.0):
    """(text, label) rows; ``noise`` of the labels flipped so that folds score differently."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        words = list(rng.choice(FILL, size=int(rng.integers(2, 6))))
        words.insert(1, rng.choice(POS if i % 2 else NEG))
        label = "pos" if (i % 2) != (rng.random() < noise) else "neg"
        rows.append((" ".join(words), label))
    return rows


def _csv(path, rows, header="text,label"):
    path.write_text(header + "\n" + "".join(f"{t},{y}\n" for t, y in rows))
    return path


def test_save_then_predict_writes_predictions_csv(tmp_path, capsys):
    data = _csv(tmp_path / "train.csv", _rows(60))
    new = tmp_path / "new.csv"
    new.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, (t, _) in
                                         enumerate(_rows(7, seed=4))))
    assert main(["classify", "--data", str(data), "--epochs", "2", "--hidden", "8",
                 "--save", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    out = tmp_path / "pred"
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data", str(new),
                 "--output", str(out)]) == 0
    lines = (out / "predictions.csv").read_text().splitlines()
    assert lines[0] == "index,prediction,p_neg,p_pos" and len(lines) == 8
    texts = [t for t, _ in _rows(7, seed=4)]
    clf = TextClassifier.load(str(tmp_path / "m"))
    rows = [ln.split(",") for ln in lines[1:]]
    assert [r[0] for r in rows] == [str(i) for i in range(7)]
    assert [r[1] for r in rows] == clf.predict(texts).tolist()
    assert np.allclose([[float(v) for v in r[2:]] for r in rows], clf.predict_proba(texts),
                       atol=1e-6)
    assert not (out / "metrics.json").exists()  # no label column: nothing to score


def test_predict_scores_a_file_with_labels(tmp_path, capsys):
    data = _csv(tmp_path / "train.csv", _rows(60))
    assert main(["classify", "--data", str(data), "--epochs", "2", "--hidden", "8",
                 "--save", str(tmp_path / "m")]) == 0
    test = _csv(tmp_path / "test.csv", _rows(20, seed=9))
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data", str(test),
                 "--output", str(tmp_path / "p")]) == 0
    m = json.loads((tmp_path / "p" / "metrics.json").read_text())
    texts, labels = zip(*_rows(20, seed=9), strict=True)
    want = TextClassifier.load(str(tmp_path / "m")).evaluate(list(texts), list(labels))
    assert m["accuracy"] == want["accuracy"] and m["n"] == 20
    # without --output the CSV goes to stdout
    capsys.readouterr()
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data",
                 str(test)]) == 0
    assert capsys.readouterr().out.startswith("index,prediction,p_neg,p_pos\n0,")
    # a label cell left empty: predicted unscored, and told why
    gap = tmp_path / "gap.csv"
    gap.write_text(test.read_text().replace(",pos\n", ",\n", 1))
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data", str(gap),
                 "--output", str(tmp_path / "g")]) == 0
    err = capsys.readouterr().err
    assert "predictions are not scored" in err and \
        "gap.csv: the label column 'label' is empty on 1 row" in err
    assert not (tmp_path / "g" / "metrics.json").exists()
    # scores again into the same folder: replaced; into a training run's folder: refused
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data", str(test),
                 "--output", str(tmp_path / "p")]) == 0
    run = tmp_path / "p"
    (run / "metrics.json").write_text('{"protocol": "stratified 80/20", "accuracy": 0.9}')
    capsys.readouterr()
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data", str(test),
                 "--output", str(run)]) == 2
    assert "holds a metrics.json that predict did not write" in capsys.readouterr().err
    assert json.loads((run / "metrics.json").read_text())["accuracy"] == 0.9
    # predictions without labels leave no earlier predict's scores beside them
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data", str(test),
                 "--output", str(tmp_path / "q")]) == 0
    (tmp_path / "plain.csv").write_text("text\ngood phone\n")
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data",
                 str(tmp_path / "plain.csv"), "--output", str(tmp_path / "q")]) == 0
    assert sorted(os.listdir(tmp_path / "q")) == ["predictions.csv"]
    # a column named like labels that holds none of the classes: predicted unscored, with a
    # warning (it refused the whole file); given with --label-column, refused in one sentence
    other = _csv(tmp_path / "other.csv", [("good phone", "electronics"), ("bad food", "food")],
                 header="text,category")
    capsys.readouterr()
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data", str(other),
                 "--output", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err.strip()
    assert err == ("grukit classify: warning: other.csv, column 'category': label(s) "
                   "['electronics', 'food'] (2 row(s)) never occurred in training (the model "
                   "knows ['neg', 'pos']): the column holds no class of the model, so the "
                   "predictions are not scored.")
    assert sorted(os.listdir(tmp_path / "o")) == ["predictions.csv"]
    assert len((tmp_path / "o" / "predictions.csv").read_text().splitlines()) == 3
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data", str(other),
                 "--label-column", "category", "--output", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("grukit classify: error: other.csv, column 'category': label(s) "
                          "['electronics', 'food']") and err.endswith(
        "drop those rows, or leave out --label-column to predict without scores.")
    assert not (tmp_path / "o2").exists()  # refused: the folder it made is gone


@pytest.mark.parametrize("action", ["train", "predict"])
def test_output_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, action):
    data = _csv(tmp_path / "d.csv", _rows(30))
    (tmp_path / "taken").write_text("x")
    argv = (["classify", "--data", str(data)] if action == "train" else
            ["classify", "predict", "--model", str(tmp_path / "nothing"), "--data", str(data)])
    assert main(argv + ["--output", str(tmp_path / "taken")]) == 2
    out, err = capsys.readouterr()
    assert err.strip() == (f"grukit classify: error: --output {str(tmp_path / 'taken')!r} is "
                           f"a file; give a folder (it is created if missing).")
    assert out == ""  # nothing read, nothing trained, no model looked for


@pytest.mark.parametrize("action, name", [("train", "metrics.json"), ("train", "confusion.png"),
                                          ("predict", "predictions.csv")])
def test_a_folder_where_a_result_file_goes_is_refused_before_any_work(tmp_path, capsys,
                                                                       action, name):
    # it failed after training or predicting: "o/tmpXXXX.tmp: Is a directory"
    data = _csv(tmp_path / "d.csv", _rows(30))
    (tmp_path / "o" / name).mkdir(parents=True)
    argv = (["classify", "--data", str(data)] if action == "train" else
            ["classify", "predict", "--model", str(tmp_path / "nothing"), "--data", str(data)])
    assert main(argv + ["--output", str(tmp_path / "o")]) == 2
    out, err = capsys.readouterr()
    assert err.strip() == (f"grukit classify: error: --output {str(tmp_path / 'o')!r} holds a "
                           f"folder named {name!r}, where the run writes its file {name}; move "
                           f"that folder or give another --output.")
    assert out == ""  # nothing read, nothing trained, no model looked for
    if action == "train":  # a file 'folds' failed after the first fold: 'File exists'
        (tmp_path / "o" / name).rmdir()
        (tmp_path / "o" / "folds").write_text("x")
        assert main(argv + ["--output", str(tmp_path / "o"), "--folds", "2"]) == 2
        assert "holds a file named 'folds', where the run keeps each fold's results" in \
            capsys.readouterr().err


def test_read_only_output_and_save_are_refused_before_training(tmp_path, capsys, monkeypatch):
    data = _csv(tmp_path / "d.csv", _rows(30))

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    for flag in ("--output", "--save"):
        assert main(["classify", "--data", str(data), flag, str(tmp_path / "ro")]) == 2
        out, err = capsys.readouterr()
        assert err.strip() == (f"grukit classify: error: {flag} {str(tmp_path / 'ro')!r} "
                               f"cannot be written (Read-only file system); give a folder you "
                               f"can write to.")
        assert out == ""
    other = tmp_path / "notes"
    other.mkdir()
    (other / "a.txt").write_text("keep")
    monkeypatch.undo()
    assert main(["classify", "--data", str(data), "--save", str(other)]) == 2
    assert "holds other files and no saved model" in capsys.readouterr().err


def test_predict_refuses_training_options_and_other_models(tmp_path, capsys):
    data = _csv(tmp_path / "d.csv", _rows(30))
    assert main(["classify", "predict", "--model", str(tmp_path), "--data", str(data),
                 "--epochs", "3", "--folds", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "grukit classify: error: --folds, --epochs set(s) training; predict uses the saved "
        "model's settings, so drop them.")
    assert main(["classify", "predict", "--model", str(tmp_path / "none"), "--data",
                 str(data)]) == 2
    assert "no saved model at" in capsys.readouterr().err
    assert main(["classify", "--model", str(tmp_path), "--data", str(data)]) == 2
    assert "a saved model is used with `grukit classify predict" in capsys.readouterr().err
    # predictions written into the model's folder were lost when a model was saved there
    model = tmp_path / "m"
    for out, where in ((model, ""), (model / "pred", "in ")):
        assert main(["classify", "predict", "--model", str(model), "--data", str(data),
                     "--output", str(out)]) == 2
        assert capsys.readouterr().err.strip() == (
            f"grukit classify: error: --output {str(out)!r} is {where}the --model folder "
            f"{str(model)!r}, which saving a model there replaces whole; give the predictions "
            f"a folder of their own.")
    assert not model.exists()


def _metrics(out):
    m = json.loads((Path(out) / "metrics.json").read_text())
    return (m["accuracy"], m["macro_f1"], m["confusion_matrix"],
            [(f["accuracy"], f["macro_f1"], f["epochs"]) for f in m["per_fold"]],
            m["baseline"]["accuracy"])


def test_folds_are_written_as_they_finish_and_resume_skips_them(tmp_path, capsys):
    data = _csv(tmp_path / "d.csv", _rows(60, noise=0.3))
    argv = ["classify", "--data", str(data), "--folds", "3", "--epochs", "2", "--hidden", "8"]
    assert main(argv + ["--output", str(tmp_path / "a")]) == 0
    names = sorted(os.listdir(tmp_path / "a" / "folds"))
    assert names == ["fold-01.json", "fold-02.json", "fold-03.json"]
    # drop a fold: --resume trains only that one and the numbers are the same
    os.remove(tmp_path / "a" / "folds" / "fold-02.json")
    before = (tmp_path / "a" / "folds" / "fold-01.json").read_text()
    capsys.readouterr()
    assert main(argv + ["--output", str(tmp_path / "a"), "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "resuming: 2 of 3 folds already in" in printed
    assert "fold 2:" in printed and "fold 1:" not in printed and "fold 3:" not in printed
    assert (tmp_path / "a" / "folds" / "fold-01.json").read_text() == before
    assert main(argv + ["--output", str(tmp_path / "b")]) == 0
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    # fold files of other settings are not mixed in
    assert main(argv[:-1] + ["4", "--output", str(tmp_path / "a"), "--resume"]) == 2
    assert "was written by a run with other data, folds or settings" in capsys.readouterr().err
    assert main(["classify", "--data", str(data), "--resume", "--output", str(tmp_path)]) == 2
    assert "--resume continues a cross-validation" in capsys.readouterr().err


def test_ctrl_c_prints_one_line_exits_130_and_resume_matches(tmp_path, interrupt_cli):
    data = _csv(tmp_path / "d.csv", _rows(600, noise=0.3))
    out = tmp_path / "run"
    argv = ["classify", "--data", str(data), "--folds", "3", "--epochs", "30", "--hidden", "8"]
    line = interrupt_cli(argv + ["--output", out], out / "folds" / "fold-01.json")
    assert re.fullmatch(rf"grukit classify: interrupted after fold [12] of 3; partial results "
                        rf"in {re.escape(str(out))}; rerun with --resume to continue", line), \
        line
    assert not (out / "metrics.json").exists()
    assert main(argv + ["--output", str(out), "--resume"]) == 0
    assert main(argv + ["--output", str(tmp_path / "whole")]) == 0
    assert _metrics(out) == _metrics(tmp_path / "whole")


def test_cross_validation_results_are_written_before_the_model_for_save_trains(
        tmp_path, capsys, monkeypatch):
    data = _csv(tmp_path / "d.csv", _rows(20))
    fit, calls = TextClassifier.fit, []

    def stopped_on_the_third_fit(self, *a, **k):  # folds 1 and 2, then the model for --save
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return fit(self, *a, **k)

    monkeypatch.setattr(TextClassifier, "fit", stopped_on_the_third_fit)
    out = tmp_path / "run"
    assert main(["classify", "--data", str(data), "--folds", "2", "--epochs", "1", "--hidden",
                 "4", "--output", str(out), "--save", str(tmp_path / "m")]) == 130
    assert "interrupted after metrics.json; partial results in" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["folds"] == 2
    assert not (tmp_path / "m").exists() or not os.listdir(tmp_path / "m")


def test_a_failure_after_training_keeps_the_model_saved_for_save(tmp_path, capsys,
                                                                  monkeypatch):
    """One split: the plot failing after training (a disk full, a broken font) used to lose
    the trained model, which was saved last."""
    from grukit.tasks.classify import plot

    def broken(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(plot, "plot_confusion", broken)
    data = _csv(tmp_path / "d.csv", _rows(40))
    assert main(["classify", "--data", str(data), "--epochs", "1", "--hidden", "4",
                 "--output", str(tmp_path / "run"), "--save", str(tmp_path / "m")]) != 0
    assert "No space left on device" in capsys.readouterr().err
    loaded = TextClassifier.load(str(tmp_path / "m"))
    assert set(loaded.classes_) == {"neg", "pos"}
    assert loaded.predict(["the good phone"]).shape == (1,)
