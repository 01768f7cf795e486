"""grukit translate's flags given with a value that reads as false (0, --joint-vocab off) are
given values: train keeps them (--dropout 0 trained with dropout 0.3, the default), and the
other actions refuse them as training flags (they were accepted and ignored)."""

import argparse

import pytest

from grukit.cli import main
from grukit.tasks.translate import cli as tc


def _args(*argv):
    p = argparse.ArgumentParser()
    tc.add_parser(p.add_subparsers())
    return p.parse_args(["translate", *argv])


def test_train_keeps_settings_given_as_zero():
    got = tc._settings(_args("train", "--dropout", "0", "--label-smoothing", "0", "--seed", "0"))
    assert got == {"dropout": 0.0, "label_smoothing": 0.0, "seed": 0}
    assert tc._settings(_args("train")) == {}  # nothing given: the Translator's defaults


@pytest.mark.parametrize("flag", [["--epochs", "0"], ["--dropout", "0"], ["--seed", "0"]],
                         ids=["epochs", "dropout", "seed"])
def test_other_actions_refuse_a_training_flag_given_as_zero(flag, tmp_path, capsys):
    assert main(["translate", "evaluate", "--model", str(tmp_path / "m"), *flag]) == 2
    assert f"{flag[0]} set(s) training" in capsys.readouterr().err


def test_clock_without_minutes_is_refused():
    # --clock says what --minutes counts: alone it was accepted and did nothing
    from grukit._runs import UsageError

    with pytest.raises(UsageError, match="--clock says what --minutes counts"):
        tc._settings(_args("train", "--clock", "cpu"))
    got = tc._settings(_args("train", "--clock", "cpu", "--minutes", "0.5"))
    assert got["clock"] == "cpu" and got["max_seconds"] == 30.0
