"""``Sequential.fit`` on the one training loop (``loop.train_loop``: callbacks, NaN guard,
resumable checkpoints): seeded epoch order, and DistributedDataParallel when launched under
``torchrun``.

Epoch e visits the samples in ``randperm(n)`` drawn from a generator seeded with
``seed + e`` (the order ``DistributedSampler`` uses), so a resumed run, or a ``torchrun`` run
whose ranks each take a slice of every global batch, sees exactly the batches of an
uninterrupted single-process run with the same seed. Under ``torchrun`` process r of N takes
samples r, r + N, r + 2N, ... of each global batch: every sample once an epoch, shares that
differ by one at most (none padded with repeated samples, as ``DistributedSampler`` pads
them), a process whose share of a batch is empty stepping on a sample weighed 0.
"""

from __future__ import annotations

import itertools
import numbers
import os
import warnings
import weakref

import torch
import torch.distributed as dist

from . import jit
from .callbacks import History, is_main_process
from .loop import BadBatch, Step, _outside_grukit, restore, train_loop
from .saving import read_checkpoint
from .training import (
    METRICS,
    keras_update,
    labelled,
    masked,
    positions,
    weighted,
)

_GROUPS = itertools.count()  # the process groups fit has started in this process


def _distributed() -> tuple[int, int, bool]:
    """(rank, world size, whether fit started the process group) under torchrun.

    Each group fit starts keeps its keys in the launcher's store under a prefix of its own
    (the k-th fit of every process, the same k): a group started after another was
    destroyed read the first one's addresses there and failed to connect ('Gloo
    connectFullMesh failed ... Connection refused') when a process came before another
    had written its new ones."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    started = not dist.is_initialized()
    if started:
        store, rank, world = next(dist.rendezvous("env://"))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo",
                                store=dist.PrefixStore(f"grukit.fit/{next(_GROUPS)}", store),
                                rank=rank, world_size=world)
    return dist.get_rank(), dist.get_world_size(), started


def _device(rank: int) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) %
                            torch.cuda.device_count())
    return torch.device("cpu")


def run_fit(model, x, y, *, batch_size, epochs, verbose, callbacks, validation_data, shuffle,
            seed, resume_from, weights=None, initial_epoch=0, validation_batch_size=None,
            validation_freq=1, steps_per_epoch=None) -> History:
    from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

    world = max(int(os.environ.get("WORLD_SIZE", "1")), 1)  # the group starts once the
    # arguments are checked: a refused fit leaves no process group behind
    # logged on the training batches: the built-in metrics and the user's Keras-style
    # functions, whose epoch value is the mean of its batches' (a torch metric module, an
    # AUC say, need not be: it is logged for validation)
    builtin = {id(fn) for fn in METRICS.values()}  # by the function: "Accuracy", "mae_1"
    train_metrics = {name: fn for name, fn in model.metric_fns.items()
                     if id(fn) in builtin or hasattr(fn, "each")}
    # Keras metric objects (keras.metrics.AUC()): updated batch by batch, reset each epoch
    keras_metrics = {name: fn.state for name, fn in model.metric_fns.items()
                     if getattr(fn, "state", None) is not None}
    # compile's weighted_metrics: each batch's Σ w·v / Σ w with its Σ w (a Keras metric
    # object's update_state takes the weights, its state kept over the epoch)
    weighted_fns = getattr(model, "weighted_fns", {})
    weighted_metrics = {name: fn for name, fn in weighted_fns.items()
                        if getattr(fn, "state", None) is None}
    weighted_states = {name: fn.state for name, fn in weighted_fns.items()
                       if getattr(fn, "state", None) is not None}
    epoch_of_state = [None]  # the epoch the Keras metrics' state belongs to
    loader = x if isinstance(x, DataLoader) else None
    own = loader is not None and own_order(loader)  # iterated as given, as Keras does
    # an IterableDataset's loader: no length, its passes iterated as given
    endless = loader is not None and isinstance(loader.dataset, IterableDataset)
    if endless and world > 1:
        raise ValueError(f"an {type(loader.dataset).__name__} (an IterableDataset) cannot be "
                         f"split across processes by fit (its samples have no index); pass "
                         f"a map-style Dataset (with __len__ and __getitem__), or train in "
                         f"one process.")
    if own and world > 1:
        raise ValueError("a DataLoader with a sampler of its own cannot be split across "
                         "processes by fit; pass its Dataset (fit's DistributedSampler then "
                         "splits it) or train in one process.")
    if loader is not None:  # its dataset and batch size; the order is fit's own
        dataset, batch_size = loader.dataset, loader.batch_size or batch_size
    else:
        dataset = x if isinstance(x, Dataset) else \
            TensorDataset(x, y) if weights is None else TensorDataset(x, y, weights)
    if (keras_metrics or weighted_states) and world > 1:
        raise ValueError(f"the Keras metric object(s) "
                         f"{sorted(keras_metrics | weighted_states)} keep each "
                         f"process's own state, which fit cannot add up across the {world} "
                         f"processes; compile with a metric of grukit's own ('mae', "
                         f"'accuracy') or a function instead.")
    if seed is not None:  # np.int64(7) too: the sampler's torch generator takes an int
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be a whole number (or None to draw one); got "
                            f"{seed!r}.")
        seed = int(seed)
    rank, world, started = _distributed()
    device = _device(rank)
    model.to(device)
    # how the epochs are cut into batches: a mid-epoch checkpoint goes on at its batch
    # number, which names the same samples only under the same plan
    plan = {"batch_size": batch_size, "samples": None if endless else len(dataset),
            "shuffle": bool(shuffle)}
    if own:  # the loader's sampler orders the epochs: fit's shuffle has no say
        plan["shuffle"] = "the DataLoader's sampler"
    if steps_per_epoch is not None:
        plan["steps_per_epoch"] = steps_per_epoch
    start_epoch, skip, progress, callback_states = initial_epoch, 0, None, None
    origin = initial_epoch  # with steps_per_epoch: the epoch whose first batch began a pass
    if resume_from is not None:
        state = read_checkpoint(resume_from)
        _check_plan(resume_from, state, plan, seed)
        restore(model, model.optimizer, resume_from, state)
        start_epoch, skip, progress = state["epoch"], state["batch"], state.get("progress")
        callback_states = state.get("callbacks")
        seed = state.get("seed", seed)
        origin = state.get("steps_origin", start_epoch)
    model._steps_origin = None if steps_per_epoch is None else origin
    per_pass = None if endless else _steps(loader, len(dataset), batch_size)  # batches
    # in one pass over the data (unknown for an IterableDataset)
    if seed is None:
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
    if world > 1:  # every process cuts its share from rank 0's epoch orders: a seed drawn
        # from a generator seeded per process (torch.manual_seed(rank)) gave each process
        # another order, so that some samples were trained on twice an epoch, others never
        sent = torch.tensor([seed], dtype=torch.int64,
                            device=device if dist.get_backend() == "nccl" else "cpu")
        dist.broadcast(sent, src=0)
        seed = int(sent.item())
        _same_in_every_process(started, device, {
            "samples": len(dataset), "batch_size": batch_size, "epochs": epochs,
            "start epoch": start_epoch, "start batch": skip, "shuffle": float(bool(shuffle)),
            "validation_freq": 0 if validation_data is None else validation_freq,
            "data": _fingerprint(x, y, weights) if isinstance(x, torch.Tensor) else
            _dataset_fingerprint(dataset)})
    model._seed, model._plan = seed, plan
    model._resumed = resume_from is not None  # a save_best_only ModelCheckpoint keeps its best
    train_model = model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    dtype = None if p is None else p.dtype  # floating batches are cast to it, as Keras
    # arrays were checked for NaN/Inf whole by Sequential.fit; a Dataset's batches are not
    check = not isinstance(x, torch.Tensor)

    run = forward_parts
    if getattr(model, "jit_compile", False):
        if model._jit_step is None:  # kept on the model: the next fit reuses its graphs
            # one static graph per batch size (the full batches, the last one): a dynamic
            # batch would leave oneDNN's LSTM workspace of unknown size, a graph break
            model._jit_step = jit.step(forward_parts)
        run = model._jit_step

    live = {}  # an own-order loader's pass under way: its iterator and batches taken

    def batches(epoch):
        first = skip if epoch == start_epoch else 0
        if endless:
            return endless_batches(loader, live, model, epoch, steps_per_epoch, first)
        order, begin, end = epoch, 0, None  # the whole pass of this epoch's seed
        if steps_per_epoch is not None:
            passes, begin, count = _window(epoch - origin, steps_per_epoch, per_pass)
            order, end = origin + passes, begin + count
            if count < steps_per_epoch and is_main_process():
                warnings.warn(f"Your input ran out of data; interrupting training: epoch "
                              f"{epoch + 1} has {count} of steps_per_epoch="
                              f"{steps_per_epoch} batches, the rest of a pass over the data "
                              f"({per_pass} batches); make the data hold at least "
                              f"steps_per_epoch batches, or lower it.", UserWarning,
                              stacklevel=_outside_grukit())
        if own and steps_per_epoch is not None:  # Keras' one iterator a pass: the pass's
            return _carried(loader, live, order, begin + first, end)  # epochs go on in it
        if own:
            return itertools.islice(loader, begin + first, end)
        shares, empty = _shares(len(dataset), batch_size, world, rank, shuffle, seed, order,
                                drop_last=loader is not None and loader.drop_last)
        shares, empty = shares[begin:end], empty[begin:end]
        out = _tensor_batches(x, y, weights, shares, first) if not check else \
            _loader_batches(dataset, shares, first, loader)
        return out if world == 1 else zip(out, empty[first:], strict=True)

    def step(batch):
        empty = False  # this process's share of the global batch holds no sample
        if world > 1:
            batch, empty = batch
        # a weight per sample where fit got weights or a Dataset yields them
        xb, yb, wb = labelled(batch, "fit")
        wb = None if wb is None else wb.to(device).float().reshape(-1)
        if wb is not None:
            model._need_named_loss()
        xb = xb.to(device, dtype) if dtype is not None and xb.is_floating_point() \
            else xb.to(device)
        yb = yb.to(device)
        bad = check and (_nonfinite(xb, "x") or _nonfinite(yb, "y"))  # an Inf in x can
        if bad and world == 1:  # leave the loss finite and poison the weights through the
            raise BadBatch(bad)  # gradients; under torchrun every process learns it first
        loss, penalty, pred, lengths = run(train_model, model.loss_fn, xb, yb, wb,
                                           model.loss_each)
        size = 0 if empty else len(xb)
        total = None
        if world > 1:  # every process joins, its share empty or not
            count = 0 if empty else positions(pred.detach(), yb, lengths)
            loss, total = _share(loss, penalty, count, size, bad, world)
        elif isinstance(penalty, torch.Tensor):  # the regularizers' (0.0 without any)
            loss = loss + penalty
        metrics = None
        if train_metrics:  # as Keras: each metric's mean over the epoch's values
            with torch.no_grad():
                pred = pred.detach()
                n = positions(pred, yb, lengths)
                metrics = {name: (0.0, 0) if empty else _mean_count(fn, pred, yb, lengths, n)
                           for name, fn in train_metrics.items()}
        if weighted_metrics:
            with torch.no_grad():
                metrics = (metrics or {}) | {
                    name: (0.0, 0) if empty else fn(pred.detach(), yb, lengths, wb)
                    for name, fn in weighted_metrics.items()}
        if keras_metrics or weighted_states:  # as Keras: the result over the epoch so far
            if epoch_of_state[0] != model._epoch:
                for state in (keras_metrics | weighted_states).values():
                    state.reset_state()
                epoch_of_state[0] = model._epoch
            with torch.no_grad():
                metrics = (metrics or {}) | {
                    name: (keras_update(state, pred.detach(), yb, lengths), None)
                    for name, state in keras_metrics.items()} | {
                    name: (keras_update(state, pred.detach(), yb, lengths, wb), None)
                    for name, state in weighted_states.items()}
        value = loss.item() if total is None else total / max(size, 1)
        return Step(loss, value, size, total, metrics=metrics)

    def validate(epoch):
        xv, yv, wv = (*validation_data, None, None)[:3]
        val = model.evaluate(xv, yv, batch_size=validation_batch_size or batch_size,
                             return_dict=True, sample_weight=wv)
        return {f"val_{k}": v for k, v in val.items()}

    # the epochs validated (Keras' validation_freq): a callback watching a val_ quantity
    # passes over the others
    model._validation_every = None if validation_data is None else validation_freq
    history = train_loop(model, model.optimizer, step, batches, epochs=epochs,
                         callbacks=callbacks, verbose=verbose, start_epoch=start_epoch,
                         skip=skip, steps=steps_per_epoch or per_pass,
                         validate=None if validation_data is None else validate,
                         validate_every=validation_freq,
                         running=True, progress=progress, callback_states=callback_states,
                         distributed=world > 1)
    if world > 1:
        wrapper = weakref.ref(train_model)
        train_model = None  # the steps' closure held it; training is over
        _leave(wrapper, started)
    return history


def _fingerprint(*tensors: torch.Tensor | None, rows: int = 4096) -> float:
    """Σ_i (i + 1) · Σ_j t[i, j] over the rows i of each tensor, in float64, ``rows`` rows at
    a time: the same number in processes given the same samples in the same order, another
    one (but by chance) for another shard or another order of them."""
    out = 0.0
    for t in tensors:
        if t is None:
            continue
        for start in range(0, len(t), rows):
            part = t[start:start + rows].reshape(min(rows, len(t) - start), -1)  # (r, ...)
            sums = part.double().sum(1)  # (r,)
            place = torch.arange(start + 1, start + 1 + len(sums), dtype=torch.float64,
                                 device=sums.device)  # (r,)
            out += float((sums * place).sum())
    return out


def _dataset_fingerprint(dataset, picks: int = 64) -> float:
    """Σ_i Σ_j (i + 1) · (j + 1) · Σ dataset[i][j] over ``picks`` evenly spaced samples i (the
    first and the last among them) and the numeric parts j of each, in float64: a Dataset's
    ``_fingerprint`` without reading all of it, so that processes given shards of equal size
    (a ``Subset`` each) differ. A part that two reads of the same sample give differently (a
    random augmentation) counts 0; torch's, NumPy's and Python's random states are left as
    they were."""
    import random

    import numpy as np

    n = len(dataset)
    places = sorted(set(torch.linspace(0, n - 1, min(picks, n)).round().long().tolist()))
    states = random.getstate(), np.random.get_state()
    out = 0.0
    try:
        with torch.random.fork_rng(devices=[]):
            for i in places:
                first, again = _parts(dataset[i]), _parts(dataset[i])
                for j, (a, b) in enumerate(zip(first, again, strict=False)):
                    if a is not None and b is not None and a.shape == b.shape \
                            and torch.equal(a, b):
                        out += (i + 1) * (j + 1) * float(torch.nan_to_num(a).sum())
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
    return out


def _parts(item) -> list[torch.Tensor | None]:
    """The parts of one Dataset sample (x, y[, weight]; a dict's values) as float64 tensors,
    None for a part that holds no numbers (text, say)."""
    parts = list(item.values()) if isinstance(item, dict) else \
        list(item) if isinstance(item, (tuple, list)) else [item]
    out = []
    for part in parts:
        try:
            t = torch.as_tensor(part)
        except (TypeError, ValueError, RuntimeError):
            out.append(None)
            continue
        if t.is_complex():
            t = t.real
        out.append(t.detach().to("cpu", torch.float64))
    return out


def _same_in_every_process(started: bool, device: torch.device,
                           values: dict[str, float]) -> None:
    """Refuse, in every process at once, a fit whose processes were given different data
    (each its own shard: fit splits each batch itself, so each would train on a part of its
    shard and the processes step out of turn) or different settings; the group fit started
    is ended first. One all-reduce of (v, −v) with MAX gives each value's largest and
    smallest."""
    v = torch.tensor(list(values.values()), dtype=torch.float64)  # (k,)
    both = torch.cat([v, -v]).to(device if dist.get_backend() == "nccl" else "cpu")  # (2k,)
    dist.all_reduce(both, op=dist.ReduceOp.MAX)
    hi, lo = both[:len(v)].tolist(), (-both[len(v):]).tolist()
    odd = [(k, a, b) for k, a, b in zip(values, lo, hi, strict=True)
           if b - a > 1e-9 * max(abs(a), abs(b), 1.0)]
    if not odd:
        return
    if started:
        dist.destroy_process_group()
    name, a, b = odd[0]
    if name == "samples":
        raise ValueError(f"under torchrun fit takes the whole training set in every process "
                         f"and splits each batch across them itself, but the processes were "
                         f"given {a:.0f} to {b:.0f} samples; pass every process the same x "
                         f"and y (not a shard of its own).")
    if name == "data":
        raise ValueError("under torchrun fit takes the whole training set in every process "
                         "and splits each batch across them itself, but the processes were "
                         "given different samples (or the same in another order); pass every "
                         "process the same x and y, in the same order (not a shard of its "
                         "own).")
    raise ValueError(f"the processes called fit with different {name}s ({a:g} to {b:g}); "
                     f"call fit with the same arguments (and resume_from file) in every "
                     f"process.")


def _check_plan(path: str, state: dict, plan: dict, seed) -> None:
    """Refuse, in one sentence and before anything changes, a resume whose batches would not
    be those of the interrupted run: another ``seed`` than the checkpoint's, or, from the
    middle of an epoch, another batch size, number of samples or ``shuffle``."""
    saved_seed = state.get("seed")
    if seed is not None and saved_seed is not None and seed != saved_seed:
        raise ValueError(f"{path!r} goes on with the epoch orders of seed={saved_seed}, but "
                         f"fit was given seed={seed}; leave seed out (or pass {saved_seed}) "
                         f"to resume, or start a new run without resume_from.")
    saved = state.get("plan")
    if not state["batch"] or saved is None or saved == plan:
        return
    diff = ", ".join(f"{k}={saved[k]!r} there, {plan[k]!r} here" for k in plan
                     if saved.get(k) != plan[k])
    raise ValueError(f"{path!r} was written after batch {state['batch']} of an epoch cut "
                     f"another way ({diff}), so its next batch would not hold the samples "
                     f"the interrupted run had left; resume with the same data, batch_size "
                     f"and shuffle, or from a checkpoint written at an epoch's end.")


def _leave(wrapper: weakref.ref, started: bool) -> None:
    """End a distributed fit: the ranks meet, the DDP wrapper goes, then the group if fit
    started it. The order matters: the wrapper's reducer holds a reference to the group, and
    whoever drops the group's last reference runs gloo's teardown, which joins its worker
    threads. A reducer does that holding the GIL, and a worker still freeing the tensors of
    its last collective may be waiting for the GIL: the process then hangs on its way out of
    fit. Freed here while the group is still registered (``wrapper`` is a weak reference; fit
    dropped its own), the wrapper leaves the group's end to ``destroy_process_group``, or to
    the caller who started the group."""
    import gc

    if started:  # ranks leave together: none tears down the group under another
        dist.barrier()
    group = dist.group.WORLD  # the group outlives the wrapper
    if wrapper() is not None:
        gc.collect()  # a wrapper in a reference cycle
    if started:
        dist.destroy_process_group()
    del group


def forward_loss(module, loss_fn, xb, yb, wb=None, each=None):
    """The training step's forward: (``loss_fn(module(xb), yb)`` plus the regularization
    penalty, a scalar; the predictions; the lengths the layers hand on); see
    ``forward_parts``."""
    loss, penalty, pred, lengths = forward_parts(module, loss_fn, xb, yb, wb, each)
    if isinstance(penalty, torch.Tensor):  # the regularizers' (0.0 without any)
        loss = loss + penalty
    return loss, pred, lengths


def forward_parts(module, loss_fn, xb, yb, wb=None, each=None):
    """The training step's forward: (``loss_fn(module(xb), yb)``, a scalar; the penalty of
    the regularizers, a scalar or 0.0; the predictions; the lengths the layers hand on).
    Per-time-step outputs of a masked model count only the steps inside each sequence
    (``training.masked``), as Keras; with sample weights ``wb`` (B,) the loss is
    ``training.weighted`` over ``each``, the loss's per-position form. The model is an
    argument, not a closure, so that the compiled step of a copied model trains the copy."""
    pred, lengths = module(xb, return_lengths=True)
    loss = masked(loss_fn, pred, yb, lengths) if wb is None else \
        weighted(each, pred, yb, lengths, wb)
    # the weight regularizers' penalty and the activity penalties of this batch (their sum
    # over its samples / its samples): DDP's module is the model
    penalty = getattr(module, "module", module).regularization_loss()
    return loss, penalty, pred, lengths


def _share(loss: torch.Tensor, penalty, count: int, size: int, bad: str | None | bool,
           world: int) -> tuple[torch.Tensor, float]:
    """A process's part of a global batch's loss: (the loss to step on, its part of the batch's
    loss total); one all-reduce, which every process joins, its share empty or not. A NaN/Inf
    in x or y of any process's share (``bad``, this process's) raises ``BadBatch`` in all.

    ``loss`` is the mean over the ``count`` values (valid steps, samples) of this process's
    ``size`` samples, ``penalty`` the regularizers' (the weights', the same in every process,
    plus the activity penalties' mean over the ``size`` samples); with Σ over the processes,
    C = Σ count and B = Σ size (the global batch), the loss stepped on is

        loss · count · world / C + penalty · size · world / B

    so that DDP's mean of the processes' gradients is that of the global batch's mean over
    all its values, plus its penalty, as one process takes them (the shares, unequal in
    samples or in valid steps, are summed, not averaged); an empty share (count and size 0)
    adds a zero gradient. Its part of the batch's total, that loss · B / world, sums to the
    one-process batch loss · B.
    """
    device = loss.device if dist.get_backend() == "nccl" else torch.device("cpu")
    sums = torch.tensor([float(count), float(size), float(bool(bad))], dtype=torch.float64,
                        device=device)  # (3,)
    dist.all_reduce(sums)
    total, samples, bads = sums.tolist()
    if bads:
        raise BadBatch(bad or "x or y of another process's share holds NaN/Inf value(s)")
    if not total:  # no valid step in the whole batch: the shares weigh by their samples
        count, total = size, samples
    part = loss * (count * world / total) + penalty * (size * world / samples)
    return part, (part.detach().item() * samples / world if size else 0.0)


def _mean_count(fn, pred, yb, lengths, n: int) -> tuple[float, int]:
    """A metric's batch value and how many values it averages: a built-in's over the ``n``
    positions; a user's function's over the values it returns, as Keras' mean metric counts
    them (one per sample, or once per batch for a number per batch)."""
    if not hasattr(fn, "each"):
        return float(masked(fn, pred, yb, lengths)), n
    v = torch.as_tensor(masked(fn.each, pred, yb, lengths))
    return float(v.float().mean()), max(v.numel(), 1)


def _shares(n: int, size: int, world: int, rank: int, shuffle: bool, seed: int, epoch: int,
            drop_last: bool = False) -> tuple[list[torch.Tensor], list[bool]]:
    """Process ``rank``'s sample indices in each global batch of ``epoch``, and whether its
    share of that batch is empty.

    The epoch's order is ``randperm(n)`` from a generator seeded with ``seed + epoch`` (the
    order ``DistributedSampler`` draws; 0 .. n − 1 without ``shuffle``), cut into global
    batches of ``size`` (the last one smaller, dropped with ``drop_last``); process r of
    ``world`` takes positions r, r + world, ... of each. A share of no sample holds the
    batch's first sample instead, which the step weighs 0: the process still joins every
    collective of the step."""
    if shuffle:
        g = torch.Generator()
        g.manual_seed(seed + epoch)
        order = torch.randperm(n, generator=g)  # (n,)
    else:
        order = torch.arange(n)  # (n,)
    cut = order.split(size)  # global batches: (size,) each, the last one ≤ size
    if drop_last and n % size:
        cut = cut[:-1]
    shares = [b[rank::world] for b in cut]  # (⌈len(b) / world⌉,) or one fewer
    empty = [len(s) == 0 for s in shares]
    return [b[:1] if e else s for b, s, e in zip(cut, shares, empty, strict=True)], empty


def _tensor_batches(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None,
                    shares: list[torch.Tensor], skip: int):
    """(x batch, y batch[, w batch]) from batch ``skip`` on, one per index tensor of
    ``shares``, gathered with one index per batch: the batches a DataLoader would collate
    sample by sample, without its per-sample work."""
    # the one draw from torch's RNG a DataLoader makes per epoch (its workers' base seed),
    # made here too so that the dropout masks that follow stay those of a DataLoader run;
    # resumed mid-epoch (skip), the checkpoint's RNG state already follows it: kept as it is
    kept = torch.get_rng_state() if skip else None
    torch.empty((), dtype=torch.int64).random_()
    if kept is not None:
        torch.set_rng_state(kept)
    for idx in shares[skip:]:  # idx: (batch,); batches before `skip` ran before the
        if w is None:  # resumed checkpoint
            yield x.index_select(0, idx), y.index_select(0, idx)
        else:
            yield x.index_select(0, idx), y.index_select(0, idx), w.index_select(0, idx)


def own_order(loader) -> bool:
    """Whether a DataLoader orders its batches itself (a sampler of its own, e.g.
    ``WeightedRandomSampler``, a ``batch_sampler``, or no batching), so that ``fit``
    iterates it as given, as Keras does; one made with ``batch_size`` and ``shuffle`` only
    is batched in fit's seeded order (its collate_fn and drop_last kept)."""
    from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler

    if loader.batch_size is None or type(loader.batch_sampler) is not BatchSampler:
        return True
    s = loader.sampler
    return not (type(s) is SequentialSampler or type(s) is RandomSampler
                and not s.replacement and s._num_samples is None)


def _carried(loader, live: dict, order: int, begin: int, end: int):
    """Batches ``begin .. end - 1`` of pass ``order`` over a DataLoader that orders its own
    batches, as Keras 3 takes them with ``steps_per_epoch``: one iterator a pass, each
    epoch going on where the one before stopped (a new ``iter(loader)`` an epoch drew a
    new order for each, so that a pass trained some samples twice and others never).
    ``live`` keeps the pass under way: {"order", "iterator", "at" (batches taken)}; a pass
    begun elsewhere (a resumed run) starts a new iterator and passes over ``begin``."""
    if live.get("order") != order or live.get("at") != begin:
        live.update(order=order, iterator=iter(loader), at=0)
        for _ in itertools.islice(live["iterator"], begin):
            live["at"] += 1
    for _ in range(end - begin):
        try:
            batch = next(live["iterator"])
        except StopIteration:
            return
        live["at"] += 1
        yield batch


def endless_batches(loader, live: dict, model, epoch: int, steps: int | None, first: int):
    """Batches ``first .. steps - 1`` of ``epoch`` over a DataLoader of an IterableDataset
    (no length), as Keras 3 takes an iterable: with ``steps`` None an epoch is a whole
    pass (a new ``iter(loader)``, from batch ``first`` on); with ``steps_per_epoch`` one
    iterator carried across the epochs, epoch e taking batches
    (e − o)·steps .. (e − o + 1)·steps − 1 of the pass begun at epoch o
    (``model._steps_origin``, which a checkpoint keeps). An
    epoch that meets the end of the pass ends there, shorter, with Keras' warning, and the
    next epoch begins a new pass (``iter(loader)`` again); one that meets it at its first
    batch begins the new pass at once (Keras 3 logs an epoch of no batch). ``live`` keeps
    the pass under way: {"origin", "iterator", "at" (batches taken)}; a pass begun
    elsewhere (a resumed run) starts a new iterator and passes over the batches before."""
    if steps is None:  # without steps_per_epoch: an epoch is one pass, as Keras takes it
        taken, batches = 0, iter(loader)
        passed = sum(1 for _ in itertools.islice(batches, first))  # a resumed epoch's
        if passed < first:  # trained batches: a pass of fewer is other data
            raise ValueError(f"the {type(loader.dataset).__name__} yielded {passed} batches "
                             f"at epoch {epoch + 1}, where the checkpoint resumed from had "
                             f"trained on {first}; resume with the data the interrupted run "
                             f"had.")
        for batch in batches:
            taken += 1
            yield batch
        if not taken and not first:
            raise ValueError(f"the {type(loader.dataset).__name__} yielded no batch at epoch "
                             f"{epoch + 1}; give fit data that yields at least one (x, y) "
                             f"sample a pass.")
        return
    begin = (epoch - model._steps_origin) * steps + first

    def restart(origin: int, skip: int):
        live.update(origin=origin, iterator=iter(loader), at=0)
        for _ in itertools.islice(live["iterator"], skip):
            live["at"] += 1
        if live["at"] < skip:  # the batches a checkpoint's pass had: a shorter one is other data
            raise ValueError(f"the {type(loader.dataset).__name__} yielded {live['at']} "
                             f"batches a pass, where the run resumed from had taken {skip} of "
                             f"this one by epoch {epoch + 1}; resume with the data the "
                             f"interrupted run had.")

    if live.get("origin") != model._steps_origin or live.get("at") != begin:
        restart(model._steps_origin, begin)
    for taken in range(first, steps):
        try:
            batch = next(live["iterator"])
        except StopIteration:
            if taken == 0 and live["at"] > 0:  # the pass ended with the epoch before
                model._steps_origin = epoch
                restart(epoch, 0)
                batch = next(live["iterator"], None)
            else:
                batch = None
            if batch is None and live["at"] == 0:
                raise ValueError(f"the {type(loader.dataset).__name__} yielded no batch at "
                                 f"epoch {epoch + 1}; give fit data that yields at least "
                                 f"one (x, y) sample a pass.") from None
            if batch is None:
                if is_main_process():
                    warnings.warn(f"Your input ran out of data; interrupting training: "
                                  f"epoch {epoch + 1} has {taken} of steps_per_epoch={steps} "
                                  f"batches, the rest of a pass over the "
                                  f"{type(loader.dataset).__name__}; the next epoch begins a "
                                  f"new pass. Make it yield at least steps_per_epoch batches "
                                  f"a pass, or lower steps_per_epoch.", UserWarning,
                                  stacklevel=_outside_grukit())
                model._steps_origin = epoch + 1
                live.clear()
                return
        live["at"] += 1
        yield batch


def _window(epochs_before: int, steps: int, per_pass: int) -> tuple[int, int, int]:
    """(pass, its first batch, batches) of the epoch that comes ``epochs_before`` epochs
    after a pass began, as Keras 3's epoch iterator cuts finite data by ``steps_per_epoch``:
    each epoch takes the next ``steps`` batches of the pass, fewer where the pass ends
    first, and the epoch after a pass's last batch begins the next pass: a pass is
    ⌈per_pass / steps⌉ epochs, so (closed form; a count epoch by epoch took O(epochs) for
    each epoch, seconds per epoch after some ten thousand of them)

        pass = e // ⌈per_pass / steps⌉      first = (e mod ⌈per_pass / steps⌉) · steps"""
    if per_pass <= 0:  # no batches: every epoch an empty pass
        return epochs_before, 0, 0
    passes, j = divmod(epochs_before, -(-per_pass // steps))
    return passes, j * steps, min(steps, per_pass - j * steps)


def _steps(loader, n: int, size: int) -> int:
    """Batches per epoch: the loader's own count where it orders them, else ⌈n / size⌉
    (⌊n / size⌋ with the loader's drop_last)."""
    if loader is not None and own_order(loader):
        return len(loader)
    return n // size if loader is not None and loader.drop_last else -(-n // size)


# DataLoader's arguments that say how it batches: the rest (collate_fn, workers, their
# worker_init_fn, generator, pin_memory, timeout, ...) carry over to a loader made like it
_BATCHING = ("self", "dataset", "batch_size", "shuffle", "sampler", "batch_sampler",
             "drop_last")


class Part(torch.utils.data.Subset):
    """The samples ``indices`` of a DataLoader's ``dataset`` that fit trains on
    (``validation_split``'s first share): fit loads them from ``dataset`` itself, so that the
    loader's worker_init_fn sees the Dataset it was given (``get_worker_info().dataset``)."""


def loader_like(loader, dataset, **batching):
    """A DataLoader over ``dataset`` batched as ``batching`` says (``batch_size=``,
    ``drop_last=``, or ``batch_sampler=``) with every other argument ``loader`` was given:
    its collate_fn, workers and their worker_init_fn, generator, pin_memory, timeout,
    prefetch_factor, persistent_workers, ... (a loader made with a few of them named lost
    the others: a worker_init_fn that sets up the data in each worker, say)."""
    import inspect

    from torch.utils.data import DataLoader

    kept = {k: getattr(loader, k) for k in inspect.signature(DataLoader.__init__).parameters
            if k not in _BATCHING and hasattr(loader, k)}
    return DataLoader(dataset, **kept, **batching)


def _loader_batches(dataset, shares: list[torch.Tensor], skip: int, like=None):
    """Batches from batch ``skip`` on, one per index tensor of ``shares``, from a DataLoader
    over ``dataset``; with every other argument of the DataLoader ``like`` (the one fit was
    given: its collate_fn, workers, ...; see ``loader_like``) where there is one (its
    drop_last is in ``shares``)."""
    from torch.utils.data import DataLoader

    kept = torch.get_rng_state() if skip else None
    if isinstance(dataset, Part):  # loaded from the Dataset the loader was given
        index = torch.as_tensor(dataset.indices)  # (len(dataset),)
        shares, dataset = [index[idx] for idx in shares], dataset.dataset
    batch_sampler = [idx.tolist() for idx in shares]
    batches = iter(DataLoader(dataset, batch_sampler=batch_sampler) if like is None else
                   loader_like(like, dataset, batch_sampler=batch_sampler))  # draws once
    if kept is not None:  # resumed mid-epoch: the checkpoint's RNG state follows that draw
        torch.set_rng_state(kept)
    for step, batch in enumerate(batches):
        if step >= skip:
            yield batch


def _nonfinite(t: torch.Tensor, name: str) -> str | None:
    """'x holds 3 NaN/Inf value(s)' when a floating batch does, else None."""
    if not t.is_floating_point():
        return None
    n = int((~torch.isfinite(t)).sum())
    return f"{name} holds {n} NaN/Inf value(s)" if n else None
