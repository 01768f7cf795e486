"""The split-H GRU and LSTM kernels (several programs per batch block meeting at barriers)
against the reference: outputs and every gradient.

Under the interpreter, which runs a grid's programs one after another, the kernels run
phase by phase and step by step (a launch boundary stands for each barrier), and in one
launch through the barriers where a batch block has one program; on CUDA always in one
launch, the barriers between programs included.
"""

import pytest
import torch

pytest.importorskip("triton", reason="triton is not installed (pip install triton)")

from triton_cases import (  # noqa: E402
    CUDA,
    DEVICE,
    compare,
    grads,
    gru_case,
    lstm_case,
    make,
    needs_cuda,
    use_interpreter,
)

from grukit import ops  # noqa: E402
from grukit.ops import TritonSettings, _triton, triton_settings  # noqa: E402

_interpreter = pytest.fixture(scope="module", autouse=True)(use_interpreter)

# H = 20 in two programs of 16 units (the second mostly padding); B = 17, H = 40: two batch
# blocks of three programs each, H padded to 64 for the products.
CASES = [((3, 4, 2, 20), [4, 1, 0]),
         ((17, 3, 3, 40), [3, 1, 2, 3, 0, 3, 3, 1, 2, 3, 3, 2, 3, 1, 3, 3, 2])]


def _split(exact_sum: bool, **changes) -> TritonSettings:
    """The split-H kernels wherever they fit (CPU tensors too), with ``changes``."""
    return TritonSettings(split=True, split_sum=exact_sum, **changes)


def _grid(shape, settings=None):
    x = torch.zeros(shape[0], shape[1], shape[2], device=DEVICE)
    plan = _triton.split_plan(x, shape[3], 3, settings)
    assert plan is not None
    return plan.grid


@pytest.mark.parametrize("exact_sum", [False, True], ids=["dot", "mul_sum"])
@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "B{}-T{}-I{}-H{}".format(*c[0]))
def test_split_h_gru_matches_reference(case, reset_after, exact_sum):
    shape, lengths = case
    with triton_settings(_split(exact_sum)):
        assert _grid(shape)[1] > 1  # several programs share each batch block
        compare(*gru_case(shape, lengths, reset_after))


@pytest.mark.parametrize("exact_sum", [False, True], ids=["dot", "mul_sum"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "B{}-T{}-I{}-H{}".format(*c[0]))
def test_split_h_lstm_matches_reference(case, exact_sum):
    shape, lengths = case
    with triton_settings(_split(exact_sum)):
        assert _grid(shape)[1] > 1
        compare(*lstm_case(shape, lengths))


def test_split_h_lstm_one_launch_through_the_barriers():
    with triton_settings(_split(True)):
        assert _grid((18, 4, 3, 12)) == (2, 1)
        compare(*lstm_case((18, 4, 3, 12), [4, 2, 0] + [3] * 15))


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_split_h_one_launch_through_the_barriers(caplog, reset_after):
    """H = 12: one program per batch block, so under the interpreter too the kernels run all
    steps in one launch and pass every barrier (counters, flag and all; logged at DEBUG)."""
    shape = (18, 4, 3, 12)
    settings = _split(False)
    plan = _triton.split_plan(torch.zeros(shape[:3], device=DEVICE), 12, 3, settings)
    assert plan.grid == (2, 1) and plan.one_launch
    with triton_settings(settings), caplog.at_level("DEBUG", logger=_triton.log.name):
        compare(*gru_case(shape, [4, 2, 0] + [3] * 15, reset_after, use_h0=False))
    counters = [r.args[1] for r in caplog.records if "barrier counters" in r.msg]
    assert len(counters) == 2  # forward and backward each launched once
    nbar = 1 if reset_after else 2  # barriers a step, in forward and in backward alike
    for sync in counters:  # every step's arrivals in both counters, no flag
        assert sync == [4 * nbar, 4 * nbar, 0]


@pytest.mark.parametrize("model", ["reset_after", "reset_before", "lstm"])
def test_split_h_streamed_weights(model):
    """Weights read every step in chunks of 16 of K (H = 40 padded to 64: four chunks, the
    last one all padding), by 3 programs a batch block of B = 17."""
    settings = _split(model == "reset_before", split_stream=True, split_kc=16, split_bh=16)
    shape, lengths = CASES[1]
    plan = _triton.split_plan(torch.zeros(17, 3, 3, device=DEVICE), 40,
                              4 if model == "lstm" else 3, settings)
    meta = plan.launch
    assert plan.grid[1] > 1 and (meta["STREAM"], meta["KC"], meta["HP"]) == (True, 16, 64)
    with triton_settings(settings):
        compare(*(lstm_case(shape, lengths) if model == "lstm" else
                  gru_case(shape, lengths, model == "reset_after")))


@pytest.mark.parametrize("model", ["reset_after", "reset_before", "lstm"])
def test_split_h_streamed_weights_in_one_launch(model):
    """H = 24 (padded to 32, two chunks of 16) and one program a batch block: all steps in
    one launch, the next step's inputs read while the barrier waits."""
    settings = _split(False, split_stream=True, split_kc=16, split_max_programs=2,
                      split_bh=32)
    shape, lengths = (18, 4, 3, 24), [4, 2, 0] + [3] * 15
    plan = _triton.split_plan(torch.zeros(18, 4, 3, device=DEVICE), 24,
                              4 if model == "lstm" else 3, settings)
    assert plan.grid == (2, 1) and plan.launch["STREAM"] and plan.launch["NBJ"] == 1
    with triton_settings(settings):
        compare(*(lstm_case(shape, lengths) if model == "lstm" else
                  gru_case(shape, lengths, model == "reset_after")))


@pytest.mark.parametrize("model", ["reset_after", "reset_before", "lstm"])
def test_split_h_several_batch_blocks_a_program(model):
    """At most 2 programs for B = 40 (3 blocks of 16, the last one half padding) and H = 40:
    one group of 2 programs of 32 units, each serving the 3 batch blocks in turn."""
    settings = _split(model == "lstm", split_max_programs=2)
    shape, lengths = (40, 3, 2, 40), [3, 1, 0, 2] * 10
    x = torch.zeros(40, 3, 2, device=DEVICE)
    plan = _triton.split_plan(x, 40, 4 if model == "lstm" else 3, settings)
    assert plan.grid == (1, 2) and (plan.launch["BH"], plan.launch["NBJ"]) == (32, 3)
    with triton_settings(settings):
        compare(*(lstm_case(shape, lengths) if model == "lstm" else
                  gru_case(shape, lengths, model == "reset_after")))


@pytest.mark.parametrize("model", ["reset_after", "reset_before", "lstm"])
def test_split_h_several_batch_blocks_in_one_launch(model):
    """H = 12, at most 2 programs for 3 batch blocks: grid (2, 1), so one launch through the
    barriers with two blocks a program and the state handed over through memory."""
    settings = _split(False, split_max_programs=2)
    shape, lengths = (40, 3, 2, 12), [3, 1, 0, 2] * 10
    plan = _triton.split_plan(torch.zeros(40, 3, 2, device=DEVICE), 12, 3, settings)
    assert plan.grid == (2, 1) and plan.launch["NBJ"] == 2 and plan.one_launch
    with triton_settings(settings):
        compare(*(lstm_case(shape, lengths) if model == "lstm" else
                  gru_case(shape, lengths, model == "reset_after")))


@pytest.mark.parametrize("op", ["gru", "gru_reset_before", "lstm"])
def test_split_h_reverse_no_bias_and_inference(op):
    """reverse with lengths and no biases; the no-grad forward (no gates saved) equal to the
    training one. The settings go to the backend functions themselves."""
    from grukit.ops.gru.triton import gru_triton
    from grukit.ops.lstm.triton import lstm_triton

    settings = _split(False)
    gates = 4 if op == "lstm" else 3
    p = make((5, 4, 2, 20), gates)
    assert _grid((5, 4, 2, 20), settings)[1] == 2
    f = ops.lstm if op == "lstm" else ops.gru
    kw = {} if op == "lstm" else dict(reset_after=op == "gru")

    def fn(backend):
        if backend == "triton":  # the backend function, settings passed to it
            lens = torch.tensor([4, 1, 0, 3, 2])
            zero = torch.zeros(5, 20, device=DEVICE)
            if op == "lstm":
                y, s = lstm_triton(p["x"], p["w_ih"], p["w_hh"], None, None, h0=(zero, zero),
                                   lengths=lens, weight_hr=None, reverse=True,
                                   settings=settings)
            else:
                y, s = gru_triton(p["x"], p["w_ih"], p["w_hh"], None, None, h0=zero,
                                  lengths=lens, reverse=True, settings=settings, **kw)
        else:
            y, s = f(p["x"], p["w_ih"], p["w_hh"], lengths=[4, 1, 0, 3, 2], reverse=True,
                     backend=backend, **kw)
        return (y, s) if op != "lstm" else (y, *s)

    compare(fn, [p["x"], p["w_ih"], p["w_hh"]])
    with torch.no_grad():
        inf = fn("triton")
    train = [o.detach() for o in fn("triton")]
    for a, b in zip(train, inf, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


@pytest.mark.skipif(CUDA, reason="on a GPU both programs run at once and the barrier opens; "
                    "test_barrier_gives_up_once_then_at_once covers the give-up there")
def test_split_h_barrier_that_never_opens_raises():
    """Two programs per batch block in one launch under the interpreter: the first waits for
    the second, which runs only after it; the wait gives up and the call raises."""
    fn, _ = gru_case((3, 2, 2, 20), None, True)
    with torch.no_grad(), triton_settings(_split(False, split_one_launch=True, spin_limit=3)), \
            pytest.raises(RuntimeError, match="did not all reach a step barrier within 3 polls"):
        fn("triton")


def test_split_plan_rules():
    x = torch.zeros(64, 5, 3)
    assert _triton.split_plan(x, 256, 3) is None  # CPU tensors: only when forced
    on = TritonSettings(split=True)

    def plan(x, hidden, gates, settings=on):
        p = _triton.split_plan(x, hidden, gates, settings)
        return p if p is None else (p.grid, p.launch)

    grid, meta = plan(x, 256, 3)
    assert grid == (4, 16) and (meta["BB"], meta["BH"], meta["HP"]) == (16, 16, 256)
    grid, meta = plan(torch.zeros(16 * 9, 5, 3), 256, 3)  # 9 × 16 > 132 SMs
    assert grid == (9, 8) and meta["BH"] == 32  # so 32 units a program
    grid, meta = plan(torch.zeros(16 * 4, 5, 3), 500, 3)
    assert grid == (4, 32) and (meta["BH"], meta["HP"]) == (16, 512)
    assert meta["NBJ"] == 1
    # 5 × 32 programs > 132 SMs, and 32 units of 3 × 512 fp32 weights > split_w_bytes: so
    # 4 groups of 32 programs at most, each serving two of the 5 batch blocks
    grid, meta = plan(torch.zeros(16 * 5, 5, 3), 500, 3)
    assert grid == (3, 32) and (meta["BH"], meta["NBJ"]) == (16, 2)
    assert plan(torch.zeros(16 * 65, 5, 3), 500, 3) is None  # NBJ 17 > 16
    # HP 1024 > split_max_hp, and 4 × 512 × 16 fp32 > split_w_bytes: weights streamed, BH
    # for the least traffic a step (1024: two groups read W, 64 programs read the state)
    grid, meta = plan(x, 1024, 3)
    assert grid == (2, 64) and (meta["STREAM"], meta["NBJ"], meta["KC"]) == (True, 2, 64)
    assert plan(x, 512, 4)[1]["STREAM"]
    assert not plan(x, 512, 3)[1]["STREAM"]
    assert plan(x, 1024, 3, on.replace(split_stream=False)) is None
    assert plan(x, 20, 3, on.replace(split=False)) is None


def _calm(case, scale=0.125):
    """A case with W_hh scaled down: make()'s W_hh (std 0.5) at H = 256 gives a recurrence
    so unstable that fp32 rounding in another order (the CPU's reference against fp64)
    grows to 5e-4 in y and 0.4 in the gradients over 9 steps, and TF32's to O(1); at 1/8
    (std 0.0625, near torch's init) fp32 stays within a fifth of compare()'s tolerance
    and TF32 within half of 2e-2 (emulated on the CPU)."""
    fn, tensors = case
    with torch.no_grad():
        tensors[2].mul_(scale)  # w_hh, which fn reads
    return fn, tensors


@needs_cuda
@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("tf32", [False, True], ids=["fp32", "tf32"])
def test_split_h_by_default_on_cuda(reset_after, tf32):
    """B = 40, H = 256 on CUDA: backend="triton" takes the split-H kernels by itself (exact
    fp32 by multiply + sum, or TF32 dots). TF32 is checked against the exact reference."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        assert _grid((40, 9, 5, 256))[1] == 16
        fn, tensors = _calm(gru_case((40, 9, 5, 256), [9, 3, 0] + [7] * 37, reset_after))
        if tf32:
            torch.backends.cuda.matmul.allow_tf32 = False
            ref = grads(lambda: fn("reference"), tensors)
            torch.backends.cuda.matmul.allow_tf32 = True
            got = grads(lambda: fn("triton"), tensors)
            for a, b in zip(ref[0] + ref[1], got[0] + got[1], strict=True):
                torch.testing.assert_close(b, a, rtol=2e-2, atol=2e-2)
        else:
            compare(fn, tensors)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


@needs_cuda
def test_split_h_lstm_by_default_on_cuda():
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        assert _grid((40, 9, 5, 256))[1] == 16
        compare(*_calm(lstm_case((40, 9, 5, 256), [9, 3, 0] + [7] * 37)))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def test_barrier_gives_up_once_then_at_once():
    """grid_barrier returns its poll budget, 0 after a wait gave up (flag raised), so later
    barriers of a grid that cannot meet fail at once instead of waiting a limit each."""
    from triton_barrier_kernel import three_barriers

    cnt = torch.zeros(2, dtype=torch.int32, device=DEVICE)
    err = torch.zeros(1, dtype=torch.int32, device=DEVICE)
    out = torch.full((3,), -1, dtype=torch.int32, device=DEVICE)
    three_barriers[(1,)](cnt, err, out, 7)
    assert out.tolist() == [7, 0, 0] and err.item() == 1 and cnt.tolist() == [1, 2]


@pytest.mark.parametrize(("change", "message"), [
    (dict(split_kc=24), "split_kc must be a power of two from 16 to 512"),
    (dict(split_bh=8), "split_bh must be a power of two from 16 to 512"),
    (dict(num_warps=3), "num_warps must be a power of two from 1 to 32"),
    (dict(block_b=8), "block_b must be a power of two from 16 to 128"),
    (dict(split=1), "split must be True or False or None"),
    (dict(split_prefetch=None), "split_prefetch must be True or False."),
    (dict(split_w_bytes=0), "split_w_bytes must be at least 1"),
    (dict(spin_limit=2.5), "spin_limit must be an integer."),
    (dict(split_max_programs=True), "split_max_programs must be an integer or None"),
    (dict(splitt=True), "no setting 'splitt'; the settings are "),
])
def test_settings_are_checked_when_built(change, message):
    """Bad values fail when the settings are made, in one sentence naming the setting."""
    with pytest.raises(ValueError, match=message) as err:
        TritonSettings().replace(**change)
    assert str(err.value).count(". ") == 0 and str(err.value).endswith(".")
    if "splitt" not in change:
        with pytest.raises(ValueError, match=message):
            TritonSettings(**change)


def test_settings_are_frozen_and_scoped():
    """Settings cannot change in place; triton_settings holds for its block only (and nests);
    each thread sees its own; a backend function refuses anything but TritonSettings."""
    import dataclasses
    import threading

    s = TritonSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.split = True
    assert _triton.current_settings() == TritonSettings()
    with triton_settings(split=True) as outer:
        assert outer.split is True and _triton.current_settings() is outer
        with triton_settings(split_kc=16) as inner:
            assert (inner.split, inner.split_kc) == (True, 16)
            seen = []
            t = threading.Thread(target=lambda: seen.append(_triton.current_settings()))
            t.start()
            t.join()
            assert seen == [TritonSettings()]  # another thread: the defaults
        assert _triton.current_settings() is outer
    assert _triton.current_settings() == TritonSettings()
    with pytest.raises(TypeError, match="settings is a dict; pass a TritonSettings"):
        _triton.plan(torch.zeros(2, 3, 4), 8, 3, {"split": True})


def test_backward_keeps_the_plan_of_forward():
    """The plan is chosen in forward and kept on the autograd context: settings that change
    between forward and backward do not change which kernels backward launches."""
    fn, tensors = gru_case((3, 2, 2, 20), [2, 1, 2], True)
    ref = grads(lambda: fn("reference"), tensors)
    out = fn("triton")  # the defaults: a program per batch block
    assert out[0].grad_fn.plan.kind == "rows"
    # split-H in one launch with a 3-poll budget: under the interpreter its barriers would
    # give up and raise, were backward to plan again
    with triton_settings(_split(False, split_one_launch=True, spin_limit=3)):
        got = grads(lambda: out, tensors)
    for a, b in zip(ref[0] + ref[1], got[0] + got[1], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=2e-5)


def test_sequences_past_int32_offsets_are_declined():
    x = torch.zeros(1, 2**31 // (5 * 1024) + 1, 1, device=DEVICE).expand(2, -1, -1)
    reason = _triton.why_not(x, h0=torch.zeros(2, 1024, device=DEVICE))
    assert reason is not None and "int32 offsets" in reason
