"""``grukit recommend``: --save and ``recommend predict``, the output folder checked before
any work, each model's result written as it finishes, Ctrl-C in one line and --resume."""

import errno
import io
import json
import re
import tempfile

import numpy as np
import pandas as pd
import pytest

from grukit.cli import main
from grukit.tasks.recommend import GRU4Rec

FAST = ["--epochs", "2", "--hidden", "8", "--n-sample", "16", "--batch-size", "16"]


def _events(path, n_sessions=300, n_items=30, days=10, seed=0):
    """A TSV of sessions whose items follow a fixed successor, spread over ``days`` days."""
    rng = np.random.default_rng(seed)
    nxt = rng.permutation(n_items)
    lines = ["SessionId\tItemId\tTime"]
    for s in range(n_sessions):
        t = int(s / n_sessions * days * 86400)
        seq = [int(rng.integers(n_items))]
        for _ in range(int(rng.integers(1, 5))):
            seq.append(int(nxt[seq[-1]]))
        lines += [f"{s}\t{i}\t{t + j}" for j, i in enumerate(seq)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _numbers(out):
    body = json.loads((out / "metrics.json").read_text())
    return {m: {k: v for k, v in body[m].items() if k != "train_seconds"}
            for m in ("most_popular", "item_knn", "gru4rec")}


def test_save_then_predict_writes_recommendations(tmp_path, capsys):
    data = _events(tmp_path / "ev.tsv")
    assert main(["recommend", "--data", str(data), "--test-days", "2", *FAST,
                 "--save", str(tmp_path / "m"), "--output", str(tmp_path / "o")]) == 0
    new = tmp_path / "new.csv"
    new.write_text("SessionId,ItemId\n7,3\n7,999\n8,999\n9,5\n9,7.0\n")  # no time column
    assert main(["recommend", "predict", "--model", str(tmp_path / "m"), "--data", str(new),
                 "--k", "4", "--output", str(tmp_path / "p")]) == 0
    printed = capsys.readouterr().out
    assert f"no time column known in {new} (name it with --time-column): each session's " \
           f"events are taken in the file's order" in printed  # Timestamp was passed over
    assert "2 events on items the model never saw skipped" in printed
    assert "1 session(s) hold no item the model knows and get no recommendation: 8" in printed
    table = pd.read_csv(tmp_path / "p" / "recommendations.csv")
    assert list(table.columns) == ["session", "rank", "item", "score"]
    assert table["session"].tolist() == [7] * 4 + [9] * 4
    assert table["rank"].tolist() == [1, 2, 3, 4] * 2
    model = GRU4Rec.load(str(tmp_path / "m"))
    want = model.recommend([5, 7], k=4, return_scores=True)
    got = table[table["session"] == 9]
    assert got["item"].tolist() == [i for i, _ in want]
    np.testing.assert_allclose(got["score"], [s for _, s in want], rtol=1e-6)
    assert not list((tmp_path / "p").glob("*.tmp"))
    # without --output the table goes to stdout, the counts to stderr
    assert main(["recommend", "predict", "--model", str(tmp_path / "m"), "--data", str(new),
                 "--k", "2"]) == 0
    assert capsys.readouterr().out.startswith("session,rank,item,score\n7,1,")
    # events read_events leaves out are counted, not dropped silently
    odd = tmp_path / "odd.csv"
    odd.write_text("SessionId,ItemId,Time\n7,3,1\n7,NA,2\n7,,3\n7,3,1\n")
    assert main(["recommend", "predict", "--model", str(tmp_path / "m"), "--data", str(odd),
                 "--k", "2"]) == 0
    assert "2 event(s) with a missing session, item or time and 1 repeated event(s) (same " \
           "session, item and time) dropped while reading" in capsys.readouterr().err


def test_predict_defaults_to_every_item_of_a_catalogue_under_20(tmp_path, capsys):
    data = _events(tmp_path / "ev.tsv", n_items=12)
    assert main(["recommend", "--data", str(data), "--test-days", "2", *FAST,
                 "--save", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    assert main(["recommend", "predict", "--model", str(tmp_path / "m"), "--data",
                 str(data)]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert (table.groupby("session").size() == 12).all()


def test_predict_refusals(tmp_path, capsys):
    data = _events(tmp_path / "ev.tsv")
    assert main(["recommend", "--data", str(data), "--test-days", "2", *FAST,
                 "--save", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    cases = [
        (["--model", str(tmp_path / "m"), "--data", str(data), "--k", "0"],
         "--k must be 1 or more; got 0."),
        (["--model", str(tmp_path / "m"), "--data", str(data), "--k", "31"],
         "--k 31 is more than the 30 items the model knows"),
        (["--model", str(tmp_path / "m"), "--data", str(data), "--epochs", "3"],
         "--epochs set(s) training; predict uses the saved model's settings"),
        (["--model", str(tmp_path / "m"), "--data", str(data), "--day-column", "Time"],
         "--day-column set(s) training"),  # read, and never used
        # a value that reads as false (0, --no-tied) passed as if not given
        (["--model", str(tmp_path / "m"), "--data", str(data), "--seed", "0"],
         "--seed set(s) training"),
        (["--model", str(tmp_path / "m"), "--data", str(data), "--no-tied"],
         "--tied set(s) training"),
        (["--model", str(tmp_path / "m"), "--data", str(data), "--n-sample", "0",
          "--learning-rate", "0"], "--n-sample, --learning-rate set(s) training"),
        (["--data", str(data)], "predict needs --model DIR"),
        (["--model", str(tmp_path / "nowhere"), "--data", str(data)], "no saved model at"),
        (["--model", str(tmp_path / "m"), "--data", str(data), "--output", str(tmp_path / "m")],
         "lies in the model folder"),
    ]
    for argv, message in cases:
        assert main(["recommend", "predict", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_output_that_is_a_file_or_read_only_is_refused_before_reading(tmp_path, monkeypatch,
                                                                         capsys):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    missing = tmp_path / "absent.tsv"  # never read: the output is checked first
    assert main(["recommend", "--data", str(missing), "--output", str(a_file)]) == 2
    assert f"--output '{a_file}' is a file" in capsys.readouterr().err
    assert main(["recommend", "predict", "--model", str(tmp_path), "--data", str(missing),
                 "--output", str(a_file)]) == 2
    assert f"--output '{a_file}' is a file" in capsys.readouterr().err

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert main(["recommend", "--data", str(missing), "--output",
                 str(tmp_path / "ro")]) == 2
    err = capsys.readouterr().err
    assert "cannot be written (Read-only file system)" in err and "absent" not in err


def test_each_model_is_written_as_it_finishes_and_resume_skips_it(tmp_path, capsys):
    data = _events(tmp_path / "ev.tsv")
    argv = ["recommend", "--data", str(data), "--test-days", "2", *FAST]
    assert main(argv + ["--output", str(tmp_path / "a")]) == 0
    whole = _numbers(tmp_path / "a")
    # a run stopped after the baselines: gru4rec missing from metrics.json
    body = json.loads((tmp_path / "a" / "metrics.json").read_text())
    del body["gru4rec"]
    (tmp_path / "a" / "metrics.json").write_text(json.dumps(body))
    capsys.readouterr()
    assert main(argv + ["--output", str(tmp_path / "a"), "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "resuming: most_popular, item_knn already in" in printed
    assert "Epoch 1/2 - loss: " in printed
    assert _numbers(tmp_path / "a") == whole
    # nothing left to do: nothing is trained again
    assert main(argv + ["--output", str(tmp_path / "a"), "--resume"]) == 0
    assert "Epoch 1/2" not in capsys.readouterr().out
    # results of other settings are not mixed in
    assert main(argv[:-1] + ["32", "--output", str(tmp_path / "a"), "--resume"]) == 2
    assert "was written by a run with other data or settings" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 2
    assert "--resume continues a run" in capsys.readouterr().err


def test_ctrl_c_prints_one_line_exits_130_and_resume_matches(tmp_path, interrupt_cli):
    data = _events(tmp_path / "ev.tsv", n_sessions=400)
    out = tmp_path / "run"
    argv = ["recommend", "--data", str(data), "--test-days", "2", "--epochs", "4", "--hidden",
            "8", "--n-sample", "16"]
    first = out / "metrics.json"
    line = interrupt_cli(argv + ["--output", out], first)
    assert re.fullmatch(rf"grukit recommend: interrupted after (most_popular \(1|item_knn \(2) "
                        rf"of 3 models\); partial results in {re.escape(str(out))}; rerun with "
                        rf"--resume to continue", line), line
    assert "gru4rec" not in json.loads(first.read_text())
    assert main(argv + ["--output", str(out), "--resume"]) == 0
    assert main(argv + ["--output", str(tmp_path / "whole")]) == 0
    assert _numbers(out) == _numbers(tmp_path / "whole")


@pytest.mark.parametrize("flag,value,message", [
    ("--epochs", "0", "--epochs must be 1 or more; got 0."),
    ("--epochs", "-2", "--epochs must be 1 or more; got -2."),
    ("--batch-size", "0", "--batch-size must be 1 or more; got 0."),
    ("--n-sample", "-1", "--n-sample must be 0 or more; got -1."),
    ("--hidden", "0", "--hidden must be 1 or more; got 0."),
    ("--test-days", "0", "--test-days must be 1 or more; got 0."),
    ("--test-days", "-3", "--test-days must be 1 or more; got -3."),
    ("--learning-rate", "0", "--learning-rate must be a finite number above 0; got 0.0."),
    ("--k", "5", "--k is for `grukit recommend predict`"),
])
def test_settings_out_of_range_are_refused_before_any_work(tmp_path, capsys, flag, value,
                                                           message):
    missing = tmp_path / "absent.tsv"  # never read
    assert main(["recommend", "--data", str(missing), flag, value, "--output",
                 str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == f"grukit recommend: error: {message}\n" or \
        (message in err and err.count("\n") == 1), err
    assert not (tmp_path / "o").exists()


def test_n_sample_zero_trains_on_in_batch_negatives(tmp_path):
    data = _events(tmp_path / "ev.tsv")
    assert main(["recommend", "--data", str(data), "--test-days", "2", "--epochs", "2",
                 "--hidden", "8", "--n-sample", "0", "--batch-size", "16", "--output",
                 str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["config"]["n_sample"] == 0


def test_data_choices_are_usage_errors(tmp_path, capsys):
    data = _events(tmp_path / "ev.tsv")
    for argv, message in [
        (["--data", str(data), "--train", str(data)], "give --data (with --test-days) or"),
        (["--train", str(data)], "give --train and --test, or --data and --test-days."),
        (["--train", str(data), "--test", str(data), "--test-days", "3"],
         "--test-days splits --data by time"),
        (["--data", str(data), "--save", ""], "--save is empty; give a folder for the model."),
        (["--train", str(data), "--test", str(data), "--day-column", "Time"],
         "--day-column gives the days that split --data; with --train and --test the times "
         "only order each session's events, so drop it."),
    ]:
        assert main(["recommend", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("grukit recommend: error: ") and message in err, err


@pytest.mark.parametrize("text_in", ["test", "train"])
def test_a_test_file_whose_item_column_reads_as_text_matches_numeric_training_ids(
        tmp_path, capsys, text_in):
    data = _events(tmp_path / "ev.tsv", n_sessions=120)
    lines = data.read_text().splitlines()
    train, test = lines[:361], [lines[0]] + lines[361:]  # whole sessions (at most 5 events)
    while test[1].split("\t")[0] == train[-1].split("\t")[0]:
        train.append(test.pop(1))
    extra = f"{test[1].split()[0]}\tabc\t{test[1].split()[2]}"  # makes its file's ids text
    (train if text_in == "train" else test).append(extra)
    (tmp_path / "tr.tsv").write_text("\n".join(train) + "\n")
    (tmp_path / "te.tsv").write_text("\n".join(test) + "\n")
    assert main(["recommend", "--train", str(tmp_path / "tr.tsv"), "--test",
                 str(tmp_path / "te.tsv"), *FAST, "--epochs", "1",
                 "--output", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "metrics.json").read_text())["data"]["test"]
    seen = {line.split("\t")[1] for line in train[1:]}
    unseen = sum(line.split("\t")[1] not in seen for line in test[1:])  # "abc" in the test
    assert report["dropped_unseen_item_events"] == unseen < 5, report
    assert report["events"] > 30


def test_a_save_that_fails_after_training_keeps_the_results(tmp_path, capsys, monkeypatch):
    data = _events(tmp_path / "ev.tsv", n_sessions=150)
    argv = ["recommend", "--data", str(data), "--test-days", "2", *FAST,
            "--output", str(tmp_path / "o"), "--save", str(tmp_path / "m")]

    def disk_full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    # m: a model of the same settings trained on other data
    other = GRU4Rec(epochs=2, hidden=8, n_sample=16, batch_size=16).fit(
        pd.DataFrame({"session": np.repeat(np.arange(16), 2), "item": np.arange(32) % 5}))
    other.save(str(tmp_path / "m"))
    old = other.popularity_
    with monkeypatch.context() as m:
        m.setattr(GRU4Rec, "save", disk_full)
        assert main(argv) == 2
    assert "No space left on device" in capsys.readouterr().err
    kept = _numbers(tmp_path / "o")  # gru4rec's results are written before the save
    assert main(argv + ["--resume"]) == 0  # trains again, only to save the model
    assert "saved the model to" in capsys.readouterr().out
    assert _numbers(tmp_path / "o") == kept
    assert not np.array_equal(GRU4Rec.load(str(tmp_path / "m")).popularity_, old)
    assert main(argv + ["--resume"]) == 0  # now saved by this run: nothing trained again
    assert "Epoch 1/" not in capsys.readouterr().out
    # another run of the same settings replaced m since: it was taken as this run's model
    other.save(str(tmp_path / "m"))
    assert main(argv + ["--resume"]) == 0
    assert "saved the model to" in capsys.readouterr().out
    assert not np.array_equal(GRU4Rec.load(str(tmp_path / "m")).popularity_, old)


def test_train_and_test_files_with_millisecond_times_give_the_results_of_seconds(tmp_path):
    """--train/--test is not split by days: times only order each session's events, so
    Unix milliseconds read as the same seconds do (they were refused, asking for a
    --day-column the run never uses); rows out of time order are put in order."""
    lines = _events(tmp_path / "ev.tsv", n_sessions=60).read_text().splitlines()
    head, rows = lines[0], [line.split("\t") for line in lines[1:]]
    cut = next(i for i, r in enumerate(rows) if int(r[0]) >= 40)  # sessions 40.. as test

    def write(name, part, scale):
        body = [f"{s}\t{i}\t{(1462000000 + int(t)) * scale}" for s, i, t in part]
        (tmp_path / name).write_text("\n".join([head, *body[::-1]]) + "\n")  # latest first
        return str(tmp_path / name)

    for scale, out in ((1, "s"), (1000, "ms")):
        assert main(["recommend", "--train", write(f"tr{scale}.tsv", rows[:cut], scale),
                     "--test", write(f"te{scale}.tsv", rows[cut:], scale), *FAST,
                     "--epochs", "1", "--output", str(tmp_path / out)]) == 0
    assert _numbers(tmp_path / "ms") == _numbers(tmp_path / "s")
    assert json.loads((tmp_path / "ms" / "metrics.json").read_text())["data"]["test"][
        "events"] > 30


def test_text_item_ids_written_with_leading_zeros_are_found_in_test_and_predict_files(
        tmp_path, capsys):
    """A training item column of text ("007", "abc") keeps "007"; a test or predict file
    whose item column is all numbers read it as 7, which no text id is: every test event
    was dropped as unseen, and predict skipped them."""
    rows = "".join(f"{s},007,{s * 10}\n{s},{'abc' if s % 2 else '012'},{s * 10 + 1}\n"
                   for s in range(40))
    (tmp_path / "tr.csv").write_text("SessionId,ItemId,Time\n" + rows)
    (tmp_path / "te.csv").write_text("SessionId,ItemId,Time\n1,007,1\n1,012,2\n2,012,1\n"
                                     "2,007,3\n")
    (tmp_path / "p.csv").write_text("SessionId,ItemId,Time\n1,007,1\n2,012,1\n")
    assert main(["recommend", "--train", str(tmp_path / "tr.csv"), "--test",
                 str(tmp_path / "te.csv"), "--epochs", "1", "--hidden", "4", "--batch-size",
                 "2", "--n-sample", "2", "--save", str(tmp_path / "m")]) == 0
    assert "'events': 4, 'sessions': 2, 'dropped_unseen_item_events': 0" in \
        capsys.readouterr().out
    assert main(["recommend", "predict", "--model", str(tmp_path / "m"), "--data",
                 str(tmp_path / "p.csv"), "--k", "2"]) == 0
    out, err = capsys.readouterr()
    assert "0 events on items the model never saw skipped" in err
    assert out.splitlines()[0] == "session,rank,item,score" and len(out.splitlines()) == 5


def test_predict_does_not_read_a_day_column_it_never_uses(tmp_path, capsys):
    events = pd.DataFrame({"session": [1, 1, 2, 2] * 10, "item": [5, 6, 6, 7] * 10,
                           "time": range(40)})
    GRU4Rec(hidden=4, epochs=1, n_sample=2, batch_size=2).fit(events).save(tmp_path / "m")
    data = tmp_path / "d.csv"  # Diginetica's layout, one day unreadable: it was refused
    data.write_text("session_id;user_id;item_id;timeframe;eventdate\n1;;5;300;2016-05-09\n"
                    "1;;6;100;someday\n")
    assert main(["recommend", "predict", "--model", str(tmp_path / "m"), "--data", str(data),
                 "--k", "2"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert table["session"].tolist() == [1, 1] and table["rank"].tolist() == [1, 2]
