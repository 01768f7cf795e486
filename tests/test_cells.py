"""grukit.cells: the one list of cells, its parameter shapes and counts against the real
modules, its names against torch.nn and Keras, and lookups that name the valid choices."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from grukit import cells, layers
from grukit import nn as gnn
from grukit.tasks.compare import sizing

# every option a cell's parameters depend on, crossed with bias, depth and directions
SETTINGS = [dict(bias=b, num_layers=n, bidirectional=d)
            for b, n, d in itertools.product((True, False), (1, 2), (False, True))]


def _option_grid(spec):
    grid = {"reset_after": (True, False), "nonlinearity": ("tanh", "relu"),
            "mode": ("parallel", "sequential")}
    keys = sorted(spec.options)
    for values in itertools.product(*(grid.get(k, (spec.options[k],)) for k in keys)):
        yield dict(zip(keys, values, strict=True))


def _cases():
    for spec in cells.all_specs():
        for opts in _option_grid(spec):
            for s in SETTINGS:
                for proj in ((0, 2) if spec.projection else (0,)):
                    tag = "-".join(f"{k}={v}" for k, v in (opts | s).items())
                    yield pytest.param(spec, opts, s, proj, id=f"{spec.name}-{tag}-proj{proj}")


def test_names_start_with_the_four_cells_in_order():
    assert cells.names()[:4] == ("gru", "lstm", "rnn", "mingru")
    assert [s.name for s in cells.all_specs()] == list(cells.names())
    assert len(set(cells.names())) == len(cells.names())


def test_get_returns_the_spec_and_refuses_unknown_names_listing_valid_ones():
    assert cells.get("lstm") is cells.LSTM
    with pytest.raises(ValueError, match=r"unknown cell 'lstn'; choose one of gru, lstm, rnn, "
                                         r"mingru"):
        cells.get("lstn")
    with pytest.raises(ValueError, match="unknown cell 3"):
        cells.get(3)


@pytest.mark.parametrize(("spec", "opts", "setting", "proj"), list(_cases()))
def test_count_equals_the_parameters_of_the_real_module(spec, opts, setting, proj):
    extra = {"proj_size": proj} if proj else {}
    module = spec.module_class()(3, 5, **setting, **extra, **opts)
    real = sum(p.numel() for p in module.parameters())
    assert spec.count(3, 5, proj=proj, **setting, **opts) == real


@pytest.mark.parametrize("spec", cells.all_specs(), ids=cells.names())
def test_param_shapes_are_the_registered_shapes_of_layer_0(spec):
    module = spec.module_class()(3, 5)
    got = {n: tuple(p.shape) for n, p in module.layer_params(0, 0).items() if p is not None}
    assert got == spec.param_shapes(3, 5)
    assert module._gates == spec.gates == len(spec.gate_order)


@pytest.mark.parametrize("spec", cells.all_specs(), ids=cells.names())
def test_sizing_count_is_the_spec_count_plus_the_head(spec):
    assert sizing.count(spec.name, 7, 11, 4) == spec.count(7, 11) + 11 * 4 + 4


def test_sizing_count_keeps_the_published_formulas():
    i, h = 88, 46
    assert sizing.count("gru", i, h, 0) == 3 * (i * h + h * h + 2 * h)
    assert sizing.count("lstm", i, h, 0) == 4 * (i * h + h * h + 2 * h)
    assert sizing.count("rnn", i, h, 0) == i * h + h * h + 2 * h
    assert sizing.count("mingru", i, h, 0) == 2 * (i * h + h)


@pytest.mark.parametrize("spec", [s for s in cells.all_specs() if s.torch],
                         ids=lambda s: s.name)
def test_torch_names_are_torch_classes_with_the_same_parameter_names(spec):
    ours, theirs = spec.module_class()(3, 5, 2), getattr(torch.nn, spec.torch)(3, 5, 2)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours_cell = spec.cell_class()(3, 5)
    theirs_cell = getattr(torch.nn, spec.torch_cell)(3, 5)
    assert [n for n, _ in ours_cell.named_parameters()] == \
        [n for n, _ in theirs_cell.named_parameters()]


def test_keras_torch_and_onnx_names():
    four = [cells.get(n) for n in ("gru", "lstm", "rnn", "mingru")]
    assert [s.keras for s in four] == ["GRU", "LSTM", "SimpleRNN", None]
    assert [s.torch for s in four] == ["GRU", "LSTM", "RNN", None]
    assert [s.onnx for s in four] == ["GRU", "LSTM", "RNN", None]
    assert cells.by_keras("SimpleRNN") is cells.RNN and cells.by_keras("Dense") is None
    assert cells.by_torch("LSTM") is cells.LSTM and cells.by_onnx("GRU") is cells.GRU


@pytest.mark.parametrize("spec", cells.all_specs(), ids=cells.names())
def test_classes_resolve_to_grukit_modules_and_layers(spec):
    assert issubclass(spec.module_class(), gnn._base.RecurrentBase)
    assert spec.module_class().spec is spec
    assert spec.layer_class() is getattr(layers, spec.layer)
    assert spec.layer_class().spec is spec


def test_state_names_and_recurrent_flags():
    assert cells.LSTM.states == ("h", "c") and cells.GRU.states == ("h",)
    assert [cells.get(n).recurrent for n in ("gru", "lstm", "rnn", "mingru")] == \
        [True, True, True, False]


def test_unknown_option_and_projection_are_refused_in_one_sentence():
    with pytest.raises(ValueError, match=r"LSTM has no option reset_after; its options are "
                                         r"none\."):
        cells.LSTM.count(3, 5, reset_after=False)
    with pytest.raises(ValueError, match="GRU has no projection; proj_size applies to LSTM"):
        cells.GRU.count(3, 5, proj=2)


def test_build_applies_the_baseline_settings():
    lstm = cells.LSTM.build(3, 4)
    assert torch.all(lstm.bias_ih_l0[4:8] == 1.0) and torch.all(lstm.bias_hh_l0[4:8] == 0.0)
    assert not cells.GRU.build(3, 4, reset_after=False).reset_after


def test_specs_are_frozen():
    with pytest.raises(AttributeError):
        cells.GRU.gates = 4
    with pytest.raises(TypeError):
        cells.GRU.options["reset_after"] = False


# -- a new cell needs its spec, its op and its nn module; layers and converters follow -------
TOY = dataclasses.replace(
    cells.GRU, name="toygru", display="ToyGRU", module=f"{__name__}.ToyGRU", layer="ToyGRU",
    params=cells.GRU.params + (cells.Param("ln_gain", lambda d: (3 * d.hidden,)),),
    keras=None, keras_order=None, keras_options={}, torch=None, torch_cell=None, onnx=None,
    cell_module=None, doc="a GRU with an extra gain, for this test")


class ToyGRU(gnn.RecurrentBase):
    spec = TOY

    def __init__(self, *args, reset_after: bool = True, **kwargs):
        self.reset_after = reset_after
        super().__init__(*args, **kwargs)

    def _run_layer(self, x, params, state, lengths, reverse, **masks):
        from grukit import ops

        y, h = ops.gru(x, params["weight_ih"] * params["ln_gain"][:, None], params["weight_hh"],
                       params["bias_ih"], params["bias_hh"], h0=state[0], lengths=lengths,
                       reset_after=self.reset_after, reverse=reverse, **masks)
        return y, (h,)


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(cells, "_SPECS", cells._SPECS + (TOY,))
    monkeypatch.setattr(cells, "_BY_NAME", cells._BY_NAME | {"toygru": TOY})
    return TOY


def test_a_new_cell_is_picked_up_from_its_spec(toy):
    from grukit import convert
    from grukit.layers import Bidirectional, from_config

    assert cells.names()[-1] == "toygru" and cells.get("toygru") is toy
    module = toy.build(3, 4, num_layers=2, bidirectional=True)
    assert "ln_gain_l1_reverse" in dict(module.named_parameters())
    assert toy.count(3, 4, num_layers=2, bidirectional=True) == \
        sum(p.numel() for p in module.parameters())
    layer_cls = toy.layer_class()
    assert layer_cls.__name__ == "ToyGRU" and layer_cls.spec is toy
    layer = layer_cls(5, return_sequences=True, recurrent_dropout=0.2, reset_after=False)
    assert layer(torch.randn(2, 6, 3))[0].shape == (2, 6, 5)
    assert not layer.rnn.reset_after and "bias_hh_l0" not in dict(layer.rnn.named_parameters())
    again = from_config(layer.get_config())
    assert type(again) is layer_cls and again.get_config() == layer.get_config()
    assert Bidirectional(layer_cls(5))(torch.randn(2, 6, 3))[0].shape == (2, 10)
    with pytest.raises(ValueError, match="Keras has no ToyGRU layer"):
        convert.to_keras(module)
