"""The training checkpoint of ``grukit generate train --output DIR`` (``--resume``): weights,
optimizer state, where training stopped, the carried state, the RNG and the SHA-256 of the
text trained on (a resume on another text is refused), written atomically
with ``torch.save`` of tensors and plain containers only, read with
``torch.load(weights_only=True)`` (no pickle of code)."""

from __future__ import annotations

import dataclasses
import json

import torch

from ..._io import atomic_write
from .train import TrainState

FORMAT = "grukit.generate.checkpoint/1"


def write_checkpoint(path: str, gen, state: TrainState, optimizer, carried) -> None:
    body = {"format": FORMAT, "config": json.dumps(gen.get_config()),
            "vocab": gen.vocab_.to_json(), "text_sha256": gen.text_sha256_,
            "model": {k: v.detach().cpu() for k, v in gen.network_.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "state": json.dumps(dataclasses.asdict(state)),
            "carried": carried, "rng": torch.get_rng_state()}
    atomic_write(path, lambda tmp: torch.save(body, tmp))


def read_checkpoint(path: str) -> dict:
    """What ``TextGenerator.fit(resume=...)`` takes; one sentence for a file that is not a
    checkpoint of this command."""
    try:
        body = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # a damaged or foreign file: torch raises many kinds
        raise ValueError(f"{path!r} is not a readable checkpoint of grukit generate "
                         f"({type(err).__name__}); start without --resume.") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a checkpoint of grukit generate; start without "
                         f"--resume.")
    body["config"] = json.loads(body["config"])
    body["state"] = TrainState(**json.loads(body["state"]))
    return body
