"""The estimator contract's files: a folder of config.json + weights.safetensors that loads
bit for bit, replaces an earlier save in one step, and refuses damaged, edited, foreign or
newer files with one sentence."""

import json
import os
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from grukit.tasks import estimator as E


@dataclass
class ToyConfig:
    width: int = 3
    name: str = "toy"


class Toy(E.Estimator):
    config_class = ToyConfig

    def __init__(self, **config):
        self.config = ToyConfig(**config)

    def fit(self, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.net = torch.nn.Linear(self.config.width, 2)
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        self.mean_ = np.linspace(-1, 1, self.config.width)  # float64
        self.labels_ = ["a", "b"]
        self.fitted_ = True
        return self

    def predict(self, x):
        return self.net(torch.as_tensor(x - self.mean_, dtype=torch.float32)).detach()

    def _state(self):
        return {f"net.{k}": v for k, v in self.net.state_dict().items()} | \
            {"mean": self.mean_}, {"labels": self.labels_}

    def _restore(self, tensors, extras):
        self.net = torch.nn.Linear(self.config.width, 2)
        E.load_module_state(self.net, tensors, "net.")
        self.mean_ = tensors["mean"].numpy()
        self.labels_ = extras["labels"]


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    module = types.ModuleType("toy_estimator")
    module.Toy = Toy
    monkeypatch.setitem(sys.modules, "toy_estimator", module)
    monkeypatch.setitem(E.REGISTRY, "Toy", "toy_estimator")


def test_round_trip_is_bit_exact(tmp_path):
    model = Toy(width=4).fit()
    x = np.random.default_rng(0).normal(size=(5, 4))
    model.save(tmp_path / "m")
    assert sorted(os.listdir(tmp_path / "m")) == ["config.json", "weights.safetensors"]
    back = Toy.load(tmp_path / "m")
    assert back.get_config() == {"width": 4, "name": "toy"}
    assert back.mean_.dtype == np.float64 and np.array_equal(back.mean_, model.mean_)
    assert torch.equal(back.predict(x), model.predict(x))
    assert isinstance(E.load(tmp_path / "m"), Toy) and back.labels_ == ["a", "b"]


def test_saved_files_get_the_mode_open_would_give(tmp_path):
    # the weights were written 0600 (safetensors' own mode): unreadable to a server running
    # as another user, where config.json was readable
    mask = os.umask(0o022)
    try:
        Toy(width=2).fit().save(tmp_path / "m")
    finally:
        os.umask(mask)
    for name in ("config.json", "weights.safetensors"):
        assert os.stat(tmp_path / "m" / name).st_mode & 0o777 == 0o644, name
    assert os.stat(tmp_path / "m").st_mode & 0o777 == 0o755


def test_save_replaces_an_earlier_save_and_leaves_nothing_beside_it(tmp_path):
    Toy(width=2).fit(seed=1).save(tmp_path / "m")
    second = Toy(width=5).fit(seed=2)
    second.save(tmp_path / "m")
    assert os.listdir(tmp_path) == ["m"]
    assert Toy.load(tmp_path / "m").get_config()["width"] == 5


def test_save_refuses_untrained_file_and_foreign_folder(tmp_path):
    with pytest.raises(E.NotFittedError, match="not trained; call fit"):
        Toy().save(tmp_path / "m")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="it is a file"):
        Toy().fit().save(tmp_path / "file")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_text("x")
    with pytest.raises(ValueError, match="holds other files and no saved model"):
        Toy().fit().save(tmp_path / "photos")
    assert (tmp_path / "photos" / "cat.jpg").exists()


def _edit(path, change):
    cfg = path / "config.json"
    body = json.loads(cfg.read_text())
    change(body)
    cfg.write_text(json.dumps(body))


@pytest.mark.parametrize("damage, message", [
    (lambda p: _edit(p, lambda b: b["config"].update(width=9)), "does not match its checksum"),
    (lambda p: (p / "config.json").write_text("{not json"), "is damaged"),
    (lambda p: (p / "weights.safetensors").write_bytes(
        (p / "weights.safetensors").read_bytes()[:-3] + b"xyz"), "does not match its checksum"),
    (lambda p: (p / "weights.safetensors").unlink(), "weights.safetensors is missing"),
    (lambda p: _edit(p, lambda b: b.update(format="other")), "not a saved grukit task model"),
], ids=["edited-config", "not-json", "flipped-weights", "no-weights", "foreign"])
def test_damaged_files_are_refused(tmp_path, damage, message):
    Toy().fit().save(tmp_path / "m")
    damage(tmp_path / "m")
    with pytest.raises(ValueError, match=message):
        Toy.load(tmp_path / "m")


def _resigned(path, change):
    """Edit config.json and recompute its checksum, as a newer grukit would write it."""
    import hashlib

    def both(body):
        change(body)
        body.pop("sha256")
        body["sha256"] = hashlib.sha256(E._canonical(body)).hexdigest()
    _edit(path, both)


def test_newer_format_unknown_class_and_unknown_setting_are_named(tmp_path):
    path = tmp_path / "m"
    Toy().fit().save(path)
    _resigned(path, lambda b: b.update(format_version=E.FORMAT_VERSION + 1, grukit="9.0"))
    with pytest.raises(ValueError, match=r"written by grukit 9\.0 in format 2.*upgrade grukit"):
        Toy.load(path)
    Toy().fit().save(path)
    _resigned(path, lambda b: b.update({"class": "os.system"}))
    with pytest.raises(ValueError, match="unknown model class 'os.system'"):
        E.load(path)
    Toy().fit().save(path)
    _resigned(path, lambda b: b["config"].update(depth=3))
    with pytest.raises(ValueError, match=r"settings \['depth'\] that this grukit's Toy"):
        Toy.load(path)


def test_tensors_that_do_not_fit_the_settings_are_refused(tmp_path):
    path = tmp_path / "m"
    Toy(width=3).fit().save(path)
    _resigned(path, lambda b: b["config"].update(width=4))
    with pytest.raises(ValueError, match=r"does not fit its own settings \(weight is \(2, 3\) "
                                         r"there, \(2, 4\)"):
        Toy.load(path)


def test_missing_path_and_a_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved model at"):
        E.load(tmp_path / "nothing")
    (tmp_path / "f.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="is a file; a saved grukit model is a folder"):
        E.load(tmp_path / "f.safetensors")


def test_load_of_another_class_names_both(tmp_path, monkeypatch):
    class Other(Toy):
        pass

    monkeypatch.setattr(sys.modules["toy_estimator"], "Other", Other, raising=False)
    Toy().fit().save(tmp_path / "m")
    with pytest.raises(ValueError, match="holds a Toy, not a Other"):
        Other.load(tmp_path / "m")


def test_prepare_save_refuses_the_output_folder_and_an_unwritable_parent(tmp_path,
                                                                         monkeypatch):
    from grukit._runs import UsageError

    out = tmp_path / "out"
    out.mkdir()
    for save in (out, tmp_path, tmp_path / "out" / ".."):  # the folder, or one holding it
        with pytest.raises(UsageError, match="would hold the results of --output"):
            E.prepare_save(str(save), output=str(out))
    assert E.prepare_save(str(out / "model"), output=str(out)) == str(out / "model")

    def refuse(*args, **kwargs):  # the place beside the folder, where the model is written
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(E.tempfile, "mkdtemp", refuse)
    with pytest.raises(UsageError, match=r"the model is written beside it in .* and moved "
                                         r"in, and that folder cannot be written \(Permission "
                                         r"denied\)"):
        E.prepare_save(str(tmp_path / "new"))


def test_save_over_a_model_folder_with_other_files_refuses_and_deletes_nothing(tmp_path):
    from grukit._runs import UsageError

    Toy(width=2).fit(seed=1).save(tmp_path / "m")
    (tmp_path / "m" / "predictions.csv").write_text("index,prediction\n0,a\n")
    with pytest.raises(ValueError, match=r"holds predictions\.csv, which saving would delete"):
        Toy(width=5).fit(seed=2).save(tmp_path / "m")
    with pytest.raises(UsageError, match=r"holds a saved model and predictions\.csv"):
        E.prepare_save(str(tmp_path / "m"))
    assert (tmp_path / "m" / "predictions.csv").exists()
    assert Toy.load(tmp_path / "m").get_config()["width"] == 2  # the old model, unchanged
