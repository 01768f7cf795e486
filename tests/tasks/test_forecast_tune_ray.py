"""The Ray Tune backend of Forecaster.tune, against a local Ray instance: the best trial's
score is what the same settings score on the same validation folds in this process."""

import signal

import numpy as np
import pytest

from grukit.tasks.forecast.checks import as_list
from grukit.tasks.forecast.tune import SPACE, tune, validation_score

ray = pytest.importorskip("ray", reason="the ray extra (pip install 'grukit[ray]') is absent")
pytest.importorskip("ray.tune.search.optuna")
pytest.importorskip("optuna")

FIXED = {"epochs": 2, "hidden": 8, "layers": 1, "hybrid": False, "lookback": 12}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


def _series():
    t = np.arange(96)
    return np.sin(2 * np.pi * t / 12) + 0.02 * t + 5.0


def test_ray_backend_best_trial_scores_as_in_this_process(local_ray, tmp_path):
    y = _series()
    before = signal.getsignal(signal.SIGINT)
    settings, summary = tune(y, 12, 2, horizon=6, folds=1, fixed=FIXED, backend="ray",
                             storage=str(tmp_path / "ray"), study_name="t")
    assert signal.getsignal(signal.SIGINT) is before  # Ray Tune's own handler is not left
    assert summary["backend"] == "ray" and summary["trials"] == 2
    assert summary["completed"] >= 1 and summary["folds"] == 1
    assert settings["hidden"] == 8 and settings["epochs"] == 2 and settings["horizon"] == 6
    assert SPACE["learning_rate"][0] <= settings["learning_rate"] <= SPACE["learning_rate"][1]
    ys, covs, _ = as_list(y, None)
    again = validation_score(settings, ys, covs, 12, 1, origins=summary["origins"],
                             step=summary["step"])
    assert np.isfinite(again)
    assert summary["best_value"] == pytest.approx(again, rel=1e-5)
    assert (tmp_path / "ray" / "t").is_dir()  # the experiment is kept where it was asked
    # Ray's restore keeps the count a search was started with: asked for another, the run
    # printed and reported the new count while running the old one
    with pytest.raises(ValueError, match=r"was started for 2 trials, and Ray's restore keeps "
                                         r"that count; ask for 2 to go on with it"):
        tune(y, 12, 3, horizon=6, folds=1, fixed=FIXED, backend="ray",
             storage=str(tmp_path / "ray"), study_name="t")
    _, again_summary = tune(y, 12, 2, horizon=6, folds=1, fixed=FIXED, backend="ray",
                            storage=str(tmp_path / "ray"), study_name="t")
    assert again_summary["best_value"] == summary["best_value"]  # the same, finished search


def test_unknown_backend_is_one_sentence():
    with pytest.raises(ValueError, match="backend must be one of optuna, ray; got 'dask'"):
        tune(_series(), 12, 2, horizon=6, backend="dask")


def test_a_file_as_the_ray_storage_is_one_sentence_before_ray_starts(tmp_path, monkeypatch):
    """It failed after starting Ray with '...: File exists'."""
    from grukit.tasks.forecast import tune_ray

    monkeypatch.setattr(tune_ray, "_ray", lambda: pytest.fail("Ray was started"))
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match=r"^storage '.*f' is a file; the ray backend keeps "
                                         r"its search in a folder"):
        tune(_series(), 12, 2, horizon=6, folds=1, fixed=FIXED, backend="ray",
             storage=str(tmp_path / "f"))
