"""The training loop behind ``Sequential.fit``: seeded epoch order, callbacks, NaN guard,
resumable checkpoints, and DistributedDataParallel when launched under ``torchrun``.

Epoch e visits the samples in ``randperm(n)`` drawn from a generator seeded with
``seed + e`` (the order ``DistributedSampler`` uses), so a resumed run, or a ``torchrun`` run
whose ranks each take a slice of every global batch, sees exactly the batches of an
uninterrupted single-process run with the same seed.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import warnings

import torch
import torch.distributed as dist

from .callbacks import Callback, History, ProgressBar, is_main_process
from .saving import read_checkpoint


def _distributed() -> tuple[int, int, bool]:
    """(rank, world size, whether fit started the process group) under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    started = not dist.is_initialized()
    if started:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size(), started


def _device(rank: int) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) %
                            torch.cuda.device_count())
    return torch.device("cpu")


def run_fit(model, x, y, *, batch_size, epochs, verbose, callbacks, validation_data, shuffle,
            seed, resume_from) -> History:
    from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

    rank, world, started = _distributed()
    device = _device(rank)
    model.to(device)
    if isinstance(x, DataLoader):  # its dataset and batch size; the order is fit's own
        dataset, batch_size = x.dataset, x.batch_size or batch_size
    else:
        dataset = x if isinstance(x, Dataset) else TensorDataset(x, y)
    if batch_size % world:
        raise ValueError(f"batch_size={batch_size} must divide by the {world} processes: each "
                         f"takes batch_size / world_size samples of every global batch.")
    if seed is None:
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
    start_epoch, skip = 0, 0
    if resume_from is not None:
        state = read_checkpoint(resume_from)
        if json.loads(state["config"]) != model.get_config():
            raise ValueError(f"{resume_from!r} was written by another architecture; resume it "
                             f"with the model it was saved from.")
        saved_opt, own_opt = state.get("optimizer_class"), type(model.optimizer).__name__
        if saved_opt is not None and saved_opt != own_opt:
            raise ValueError(f"{resume_from!r} was written with the {saved_opt} optimizer but "
                             f"the model is compiled with {own_opt}; compile it with "
                             f"{saved_opt} to resume, or start a new run without resume_from.")
        # older checkpoints name no class: settings of another kind on both sides (SGD's
        # momentum, Adam's betas) mean another optimizer; a torch release adding one does not
        saved_keys = {k for g in state["optimizer"].get("param_groups", []) for k in g}
        own_keys = {k for g in model.optimizer.param_groups for k in g}
        if saved_opt is None and saved_keys - own_keys and own_keys - saved_keys:
            raise ValueError(f"{resume_from!r} holds the state of another optimizer (settings "
                             f"{sorted(saved_keys - own_keys - {'params'})[:4]} unknown to the "
                             f"model's {own_opt}); compile the model with the optimizer of the "
                             f"run that wrote it.")
        model.load_state_dict(state["model"])
        model.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start_epoch, skip = state["epoch"], state["batch"]
        seed = state.get("seed", seed)
    model._seed = seed
    train_model = model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    history = History()
    main = is_main_process()
    verbose = (1 if sys.stdout.isatty() else 2) if verbose == "auto" else verbose
    verbose = verbose if main else 0
    local_batch = batch_size // world
    steps = -(-len(dataset) // batch_size)
    cbs = [history] + list(callbacks or [])
    if verbose == 1 and sys.stdout.isatty():
        cbs.append(ProgressBar(epochs, steps))
    for cb in cbs:
        cb.model = model
    model.stop_training = False
    for cb in cbs:
        cb.on_train_begin()
    batch_cbs = [cb for cb in cbs if type(cb).on_batch_end is not Callback.on_batch_end]
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    dtype = None if p is None else p.dtype  # floating batches are cast to it, as Keras
    # arrays were checked for NaN/Inf whole by Sequential.fit; a Dataset's batches are not
    check = not isinstance(x, torch.Tensor)
    for epoch in range(start_epoch, epochs):
        model._epoch = epoch
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=shuffle,
                                     seed=seed, drop_last=False)
        sampler.set_epoch(epoch)
        if world == 1 and not check:
            batches = _tensor_batches(x, y, sampler, local_batch,
                                      skip if epoch == start_epoch else 0)
        else:
            batches = _loader_batches(dataset, sampler, local_batch,
                                      skip if epoch == start_epoch else 0)
        for cb in cbs:
            cb.on_epoch_begin(epoch)
        good = copy.deepcopy(model.state_dict())  # restored if the loss goes NaN
        model.train()
        total, seen, nan_at = 0.0, 0, None
        for step, xb, yb in batches:
            xb = xb.to(device, dtype) if dtype is not None and xb.is_floating_point() \
                else xb.to(device)
            yb = yb.to(device)
            bad = check and (_nonfinite(xb, "x") or _nonfinite(yb, "y"))  # an Inf in x can
            if bad:  # leave the loss finite and poison the weights through the gradients
                nan_at = (step, float("nan"), bad)
                break
            loss = model.loss_fn(train_model(xb), yb)
            value = loss.item()
            if not math.isfinite(value):
                nan_at = (step, value, None)
                break
            model.optimizer.zero_grad()
            loss.backward()
            model.optimizer.step()
            total, seen = total + value * len(xb), seen + len(xb)
            for cb in batch_cbs:
                cb.on_batch_end(step, {"loss": value})
        if nan_at is not None:
            model.load_state_dict(good)
            if nan_at[2]:  # the data, not the training, is at fault
                raise ValueError(f"{nan_at[2]} in batch {nan_at[0] + 1} of epoch {epoch + 1}; "
                                 f"impute or drop them first (training stopped there, the "
                                 f"weights from the start of this epoch kept).")
            warnings.warn(f"loss became {nan_at[1]} at epoch {epoch + 1}, batch {nan_at[0] + 1};"
                          f" training stopped and the weights from the start of this epoch were "
                          f"kept. Lower the learning rate or check the data.", RuntimeWarning,
                          stacklevel=3)
            break
        logs = {"loss": total / max(seen, 1)}
        if validation_data is not None:
            val = model.evaluate(*validation_data, batch_size=batch_size, return_dict=True)
            logs |= {f"val_{k}": v for k, v in val.items()}
        for cb in cbs:
            cb.on_epoch_end(epoch, logs)
        if verbose == 2:
            print(f"Epoch {epoch + 1}/{epochs} - " +
                  " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if model.stop_training:
            break
    for cb in cbs:
        cb.on_train_end()
    if started:  # ranks leave together: none tears down the group under another
        dist.barrier()
        dist.destroy_process_group()
    return history


def _tensor_batches(x: torch.Tensor, y: torch.Tensor, sampler, size: int, skip: int):
    """(step, x batch, y batch) in the sampler's order, gathered with one index per batch:
    the batches a DataLoader would collate sample by sample, without its per-sample work."""
    # the one draw from torch's RNG a DataLoader makes per epoch (its workers' base seed),
    # made here too so that the dropout masks that follow stay those of a DataLoader run
    torch.empty((), dtype=torch.int64).random_()
    order = torch.tensor(list(sampler), dtype=torch.long)  # (n,)
    for step, idx in enumerate(order.split(size)):  # idx: (size,)
        if step >= skip:  # batches before `skip` were done before the resumed checkpoint
            yield step, x.index_select(0, idx), y.index_select(0, idx)


def _loader_batches(dataset, sampler, size: int, skip: int):
    """(step, x batch, y batch) from a DataLoader over ``dataset`` in the sampler's order."""
    from torch.utils.data import DataLoader

    for step, (xb, yb) in enumerate(DataLoader(dataset, batch_size=size, sampler=sampler)):
        if step >= skip:
            yield step, xb, yb


def _nonfinite(t: torch.Tensor, name: str) -> str | None:
    """'x holds 3 NaN/Inf value(s)' when a floating batch does, else None."""
    if not t.is_floating_point():
        return None
    n = int((~torch.isfinite(t)).sum())
    return f"{name} holds {n} NaN/Inf value(s)" if n else None
