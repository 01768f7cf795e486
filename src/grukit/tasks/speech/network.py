"""The speech network's own layer: SpecAugment masking while training (identity otherwise),
placed between the input stage and the recurrent layer of ``classify``'s network."""

from __future__ import annotations

import torch
from torch import Tensor

from ...layers import Layer


class SpecAugment(Layer):
    """Training-time SpecAugment (Park et al. 2019, without time warping) on standardised
    features (B, T, D): per example, ``freq_masks`` bands of up to ``freq_width`` feature
    columns and ``time_masks`` spans of up to ``time_width`` frames set to 0 (the training
    mean). In eval mode (prediction, streaming) it passes its input through unchanged.
    Draws from torch's global CPU generator, which ``fit`` seeds, whatever device ``x`` is
    on."""

    def __init__(self, freq_masks: int = 2, freq_width: int = 4, time_masks: int = 2,
                 time_width: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.freq_masks, self.freq_width = int(freq_masks), int(freq_width)
        self.time_masks, self.time_width = int(time_masks), int(time_width)

    def call(self, x: Tensor, lengths: Tensor | None):
        if not self.training:
            return x, lengths
        b, t, d = x.shape
        keep = torch.ones(b, t, d, dtype=torch.bool, device=x.device)  # (B, T, D)
        cols = torch.arange(d, device=x.device)  # (D,)
        steps = torch.arange(t, device=x.device)  # (T,)
        dev = x.device  # draws on the CPU generator, masks where x is
        for _ in range(self.freq_masks):
            w = torch.randint(0, self.freq_width + 1, (b, 1)).to(dev)  # (B, 1)
            f0 = (torch.rand(b, 1).to(dev) * (d - w + 1).clamp(min=1)).long()  # (B, 1)
            keep &= ~((cols >= f0) & (cols < f0 + w))[:, None, :]
        for _ in range(self.time_masks):
            w = torch.randint(0, self.time_width + 1, (b, 1)).to(dev)  # (B, 1)
            n = lengths.reshape(b, 1).to(dev) if lengths is not None else \
                torch.full((b, 1), t, device=dev)  # (B, 1)
            w = torch.minimum(w, n // 4)  # at most a quarter of the recording
            t0 = (torch.rand(b, 1).to(dev) * (n - w + 1).clamp(min=1)).long()  # (B, 1)
            keep &= ~((steps >= t0) & (steps < t0 + w))[:, :, None]
        return x * keep.to(x.dtype), lengths

    def onnx_graph(self, g, x: str, lengths: str | None):
        """Inference is the identity."""
        return x, lengths

    def _config(self):
        return {"freq_masks": self.freq_masks, "freq_width": self.freq_width,
                "time_masks": self.time_masks, "time_width": self.time_width}


class CropPadding(Layer):
    """(B, T, D) -> (B, T', D) with T' the longest of the batch's ``lengths``: a training
    batch is padded to the longest recording of the whole set, and the recurrent layer need
    not step through padding no example of this batch has (its result is the same)."""

    def call(self, x: Tensor, lengths: Tensor | None):
        # traced (torch.export, compile): identity, as in ONNX; the crop's size is data
        if lengths is None or x.shape[1] == 0 or torch.compiler.is_compiling():
            return x, lengths
        return x[:, :max(int(lengths.max()), 1)], lengths

    def onnx_graph(self, g, x: str, lengths: str | None):
        """The padding is masked by ``lengths`` downstream: identity."""
        return x, lengths
