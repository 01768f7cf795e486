"""grukit.cells: the one list of cells, its parameter shapes and counts against the real
modules, its names against torch.nn and Keras, and lookups that name the valid choices."""

from __future__ import annotations

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
    for values in itertools.product(*(grid[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


def _cases():
    for spec in cells.all_specs():
        for opts in _option_grid(spec):
            for s in SETTINGS:
                for proj in ((0, 2) if spec.projection else (0,)):
                    tag = "-".join(f"{k}={v}" for k, v in (opts | s).items())
                    yield pytest.param(spec, opts, s, proj, id=f"{spec.name}-{tag}-proj{proj}")


def test_names_are_the_four_cells_in_order():
    assert cells.names() == ("gru", "lstm", "rnn", "mingru")
    assert [s.name for s in cells.all_specs()] == list(cells.names())


def test_get_returns_the_spec_and_refuses_unknown_names_listing_valid_ones():
    assert cells.get("lstm") is cells.LSTM
    with pytest.raises(ValueError, match=r"unknown cell 'lstn'; choose one of gru, lstm, rnn, "
                                         r"mingru\."):
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
    assert [s.keras for s in cells.all_specs()] == ["GRU", "LSTM", "SimpleRNN", None]
    assert [s.torch for s in cells.all_specs()] == ["GRU", "LSTM", "RNN", None]
    assert [s.onnx for s in cells.all_specs()] == ["GRU", "LSTM", "RNN", None]
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
    assert [s.recurrent for s in cells.all_specs()] == [True, True, True, False]


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
