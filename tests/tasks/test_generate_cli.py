"""``grukit generate``: train → save → sample → evaluate, --resume, and bad input in one
line with exit status 2."""

from __future__ import annotations

import json

import pytest

from grukit.cli import main

TEXT = ("ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and "
        "Juliet is the sun.\n\nJULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n") * 20
SMALL = ["--hidden", "16", "--layers", "1", "--seq-len", "16", "--batch-size", "4"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    (d / "play.txt").write_text(TEXT)
    code = main(["generate", "train", "--data", str(d / "play.txt"), *SMALL, "--steps", "8",
                 "--output", str(d / "run"), "--save", str(d / "model")])
    assert code == 0
    return d


def test_train_writes_metrics_sample_checkpoint_and_model(saved, capsys):
    metrics = json.loads((saved / "run" / "metrics.json").read_text())
    assert metrics["result"]["steps"] == 8 and "val_bits_per_char" in metrics["result"]
    assert (saved / "run" / "checkpoint.pt").is_file()
    assert (saved / "run" / "sample.txt").read_text()
    assert (saved / "model" / "config.json").is_file()


def test_sample_prints_the_prompt_and_its_continuation_seeded(saved, capsys):
    args = ["generate", "--model", str(saved / "model"), "--prompt", "ROMEO:", "--length",
            "30", "--seed", "4", "--top-k", "5"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert first.out.startswith("ROMEO:") and "tokens/s" in first.err
    assert main(args) == 0
    assert capsys.readouterr().out == first.out


def test_evaluate_prints_nats_bits_and_perplexity(saved, capsys):
    assert main(["generate", "evaluate", "--model", str(saved / "model"), "--data",
                 str(saved / "play.txt")]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"loss", "bits_per_char", "perplexity", "tokens"}


def test_resume_continues_from_the_checkpoint(saved, capsys):
    code = main(["generate", "train", "--data", str(saved / "play.txt"), *SMALL, "--steps",
                 "12", "--output", str(saved / "run"), "--resume"])
    assert code == 0
    metrics = json.loads((saved / "run" / "metrics.json").read_text())
    assert metrics["result"]["steps"] == 12
    assert [c["step"] for c in metrics["result"]["curve"]] == [8, 12]
    code = main(["generate", "train", "--data", str(saved / "play.txt"), "--hidden", "32",
                 "--output", str(saved / "run"), "--resume"])
    assert code == 2
    assert "started with other settings (hidden)" in capsys.readouterr().err


def test_resume_with_minutes_alone_keeps_the_runs_step_limit(tmp_path, capsys):
    # --minutes without --steps meant no step limit on a resume too: a run of --steps 4 went
    # on for the minutes given
    (tmp_path / "play.txt").write_text(TEXT)
    run = ["generate", "train", "--data", str(tmp_path / "play.txt"), *SMALL, "--output",
           str(tmp_path / "run")]
    assert main(run + ["--steps", "4"]) == 0
    assert main(run + ["--minutes", "0.02", "--resume"]) == 0
    result = json.loads((tmp_path / "run" / "metrics.json").read_text())["result"]
    assert result["steps"] == 4 and result["stop_reason"] == "max_steps=4"


def test_resume_on_another_text_is_refused(saved, capsys):
    # the same characters in another order: the vocabulary alone cannot tell
    (saved / "other.txt").write_text("".join(reversed(TEXT.splitlines(keepends=True))))
    before = (saved / "run" / "checkpoint.pt").read_bytes()
    code = main(["generate", "train", "--data", str(saved / "other.txt"), *SMALL, "--steps",
                 "16", "--output", str(saved / "run"), "--resume"])
    assert code == 2
    assert "written while training on another text" in capsys.readouterr().err
    assert (saved / "run" / "checkpoint.pt").read_bytes() == before


def test_a_new_run_into_the_folder_of_another_is_refused(saved, capsys):
    before = {p.name: p.read_bytes() for p in (saved / "run").iterdir()}
    code = main(["generate", "train", "--data", str(saved / "play.txt"), *SMALL, "--steps",
                 "2", "--output", str(saved / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert "holds a run already; continue it with --resume" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in (saved / "run").iterdir()} == before


def test_ctrl_c_before_the_first_checkpoint_does_not_offer_resume(tmp_path, monkeypatch,
                                                                   capsys):
    from grukit.tasks.generate import TextGenerator

    (tmp_path / "play.txt").write_text(TEXT)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(TextGenerator, "fit", interrupted)
    assert main(["generate", "train", "--data", str(tmp_path / "play.txt"), *SMALL, "--steps",
                 "2", "--output", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err
    assert "interrupted before any result" in err and "--resume" not in err, err


@pytest.mark.parametrize("args, message", [
    (["--prompt", "ROMEO€", "--length", "5"], "the prompt has 1 character(s) the model never "
                                              "saw in training: '€'"),
    (["--length", "0"], "--length must be 1 or more; got 0."),
    (["--hidden", "8"], "--hidden set(s) training; sample uses the saved model's settings"),
    (["--lr", "0"], "--lr set(s) training; sample uses the saved model's settings"),
    (["--prompt", "ROMEO", "--temperature", "-1"], "temperature must be a finite number ≥ 0"),
    (["--prompt", "ROMEO", "--top-p", "1.5"], "top_p must be a number in (0, 1]"),
], ids=["out-of-vocabulary", "length-0", "training-flag", "training-flag-zero", "temperature",
        "top-p"])
def test_bad_sampling_input_is_one_line_with_status_2(saved, capsys, args, message):
    assert main(["generate", "--model", str(saved / "model"), *args]) == 2
    out, err = capsys.readouterr()
    assert message in err and err.count("\n") == 1
    assert out == ""  # nothing on stdout, not even the prompt


def test_a_model_of_another_task_and_a_missing_model_are_one_line(saved, tmp_path, capsys):
    import torch

    from grukit.tasks.estimator import save_folder

    save_folder(str(tmp_path / "clf"), "TextClassifier", {}, {}, {"w": torch.zeros(1)})
    assert main(["generate", "--model", str(tmp_path / "clf"), "--prompt", "RO"]) == 2
    assert "holds a TextClassifier, not a TextGenerator" in capsys.readouterr().err
    assert main(["generate", "--prompt", "RO"]) == 2
    assert "sample needs --model DIR" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    (b"", "holds no text"), (b"\x00\x01\x02binary", "looks binary"),
], ids=["empty", "binary"])
def test_train_on_an_empty_or_binary_file_is_one_line(tmp_path, capsys, content, message):
    p = tmp_path / "data.txt"
    p.write_bytes(content)
    assert main(["generate", "train", "--data", str(p), *SMALL, "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_train_refuses_an_unknown_model_and_a_missing_data_flag(tmp_path, capsys):
    assert main(["generate", "train", "--model", "gpt2", "--data", "x.txt"]) == 2
    assert "--model must be one of gru, lstm, rnn, mingru, lngru, hybrid, transformer" in \
        capsys.readouterr().err
    assert main(["generate", "train"]) == 2
    assert "train needs --data" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--vocab-size", "300"], "--vocab-size applies only with --tokenizer bpe"),
    (["--model", "lstm", "--cell", "lstm"], "--cell applies only with --model hybrid"),
    (["--heads", "2"], "--heads applies only with --model hybrid or transformer"),
    (["--model", "transformer", "--attention-every", "2"],
     "--attention-every applies only with --model hybrid"),
], ids=["vocab-size", "cell", "heads", "attention-every"])
def test_train_refuses_a_flag_its_model_or_tokenizer_would_ignore(tmp_path, capsys, args,
                                                                  message):
    (tmp_path / "play.txt").write_text(TEXT)
    argv = ["generate", "train", "--data", str(tmp_path / "play.txt"), *SMALL, "--steps", "1",
            "--output", str(tmp_path / "run"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.parametrize("action, args, message", [
    ("train", ["--prompt", "ROMEO"], "--prompt is not used by train"),
    ("train", ["--temperature", "0.5", "--top-k", "3"],
     "--temperature, --top-k are not used by train"),
    ("evaluate", ["--length", "50"], "--length is not used by evaluate"),
    ("evaluate", ["--output", "x"], "--output is not used by evaluate"),
    ("sample", ["--data", "x.txt"], "--data is not used by sample"),
    ("sample", ["--output", "x"], "--output is not used by sample"),
], ids=["train-prompt", "train-sampling", "evaluate-length", "evaluate-output", "sample-data",
        "sample-output"])
def test_a_flag_the_action_does_not_use_is_refused(saved, tmp_path, capsys, action, args,
                                                   message):
    argv = ["generate", action]
    if action == "train":
        argv += ["--data", str(saved / "play.txt"), *SMALL, "--steps", "1"]
    else:
        argv += ["--model", str(saved / "model")]
        if action == "evaluate":
            argv += ["--data", str(saved / "play.txt")]
    capsys.readouterr()
    assert main(argv + args) == 2
    out, err = capsys.readouterr()
    assert message in err and err.count("\n") == 1 and out == ""


def test_a_text_without_a_newline_trains_saves_and_samples(tmp_path, capsys):
    # the sample after training started after a newline the vocabulary did not have
    (tmp_path / "line.txt").write_text("abcdefgh " * 120)
    assert main(["generate", "train", "--data", str(tmp_path / "line.txt"), *SMALL, "--steps",
                 "2", "--output", str(tmp_path / "run"), "--save", str(tmp_path / "m")]) == 0
    assert set((tmp_path / "run" / "sample.txt").read_text()) <= set("abcdefgh ")
    capsys.readouterr()
    assert main(["generate", "--model", str(tmp_path / "m"), "--length", "5"]) == 0
    assert len(capsys.readouterr().out) == 5
