"""``TextGenerator``: a character- or sub-word-level language model as an estimator (fit,
evaluate, generate, save, load).

    >>> gen = TextGenerator(model="gru", hidden=512, max_seconds=300).fit("input.txt")
    >>> gen.result_["val_loss"], gen.result_["val_bits_per_char"]
    >>> gen.generate("ROMEO:", length=500, temperature=0.8, seed=1)
    >>> gen.save("shakespeare-gru"); TextGenerator.load("shakespeare-gru")
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import numbers
import os
from dataclasses import dataclass

import numpy as np
import torch

from ..._runs import torch_threads
from ..estimator import Estimator, check_flag, load_module_state
from .data import read_text, split_text
from .network import LanguageModel, NetSpec, count_params, model_names
from .sampling import check_sampling, sample
from .train import TrainState, evaluate_ids, train_lm
from .vocab import make_vocab, vocab_from_json

BATCHINGS = ("auto", "stateful", "windows")
RESUME_BUDGET = ("max_steps", "max_seconds")  # the settings a resumed run may change


@dataclass
class GeneratorConfig:
    """Settings of a ``TextGenerator``.

    Network: ``model`` (a cell of ``grukit.cells``: "gru", "lstm", "rnn", "mingru", "lngru";
    or "hybrid", "transformer"), ``hidden`` (width), ``layers``, ``cell`` (the hybrid's
    recurrent cell), ``residual`` (recurrent cells in residual blocks; None: only cells
    without recurrent weights, i.e. minGRU), ``heads``, ``expansion`` (recurrent width /
    hidden in blocks), ``ff_expansion`` (feed-forward width / hidden in blocks; 0: none;
    attention blocks use 4 when 0), ``attention_every`` (hybrid: every k-th block is
    attention), ``dropout`` (between layers), ``tie_weights``, ``norm``.
    Text: ``tokenizer`` ("char" or "bpe"), ``vocab_size`` (BPE), ``val_fraction`` (the
    last part of the text held out).
    Training: ``batching`` ("stateful": truncated BPTT with the state carried from window to
    window; "windows": random windows from zero state; "auto": windows for the Transformer,
    stateful otherwise), ``batch_size``, ``seq_len`` (the BPTT window; the Transformer's
    context and the attention's window), ``lr``, ``warmup``, ``decay`` (cosine to lr/10
    over the budget), ``weight_decay``, ``clip`` (gradient norm; 0: none), ``max_steps``,
    ``max_seconds`` (training wall time; 0: no limit), ``eval_every`` (steps),
    ``eval_tokens`` (validation tokens scored during training; 0: all), ``eval_batch_size``,
    ``checkpoint_every`` (steps, with a checkpoint function), ``seed``, ``threads`` (torch
    threads; 0: torch's default), ``clock`` ("wall": ``max_seconds`` and the curve's seconds
    are wall time; "cpu": this process's CPU time, for budgets on a shared machine).
    """

    model: str = "gru"
    hidden: int = 256
    layers: int = 2
    cell: str = "gru"
    residual: bool | None = None
    heads: int = 4
    expansion: float = 1.0
    ff_expansion: float = 0.0
    attention_every: int = 2
    dropout: float = 0.0
    tie_weights: bool = True
    norm: str = "layer"
    tokenizer: str = "char"
    vocab_size: int = 2000
    val_fraction: float = 0.1
    batching: str = "auto"
    batch_size: int = 32
    seq_len: int = 128
    lr: float = 2e-3
    warmup: int = 50
    decay: bool = True
    weight_decay: float = 0.0
    clip: float = 1.0
    max_steps: int = 1000
    max_seconds: float = 0.0
    eval_every: int = 200
    eval_tokens: int = 0
    eval_batch_size: int = 16
    checkpoint_every: int = 200
    seed: int = 0
    threads: int = 0
    clock: str = "wall"

    def __post_init__(self):
        for f in dataclasses.fields(self):  # numpy numbers (a grid's np.int64) as Python ones
            v = getattr(self, f.name)
            if isinstance(v, np.generic):
                setattr(self, f.name, v.item())
        # "False" is truthy: tie_weights="False" tied the weights; 0 and 1 are stored as bools
        self.tie_weights = check_flag(self.tie_weights, "tie_weights")
        self.decay = check_flag(self.decay, "decay")
        if self.residual is not None:  # None: residual blocks only for minGRU
            self.residual = check_flag(self.residual, "residual", note=" (or None: blocks "
                                       "only for a cell without recurrent weights)")
        if self.batching not in BATCHINGS:
            raise ValueError(f"batching must be one of {', '.join(map(repr, BATCHINGS))}; got "
                             f"{self.batching!r}.")
        if self.clock not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu'; got {self.clock!r}.")
        for name in ("batch_size", "seq_len", "eval_batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}.")
        for name in ("max_steps", "eval_every", "eval_tokens", "checkpoint_every", "warmup",
                     "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer; got {v!r}.")
        for name in ("lr", "max_seconds", "clip", "weight_decay"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 \
                    or math.isinf(v):
                raise ValueError(f"{name} must be a finite number ≥ 0; got {v!r}.")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0 <= self.dropout < 1:  # 1 would zero every activation in training
            raise ValueError(f"dropout must be a number in [0, 1); got {self.dropout!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or \
                not -2 ** 63 <= self.seed < 2 ** 63:  # torch's seeds (seed + 7919·step too)
            raise ValueError(f"seed must be an integer from -2**63 to 2**63 - 1; got "
                             f"{self.seed!r}.")
        for name in ("expansion", "ff_expansion"):  # JSON, which the model is saved in, has
            v = getattr(self, name)  # no NaN or Inf (and a stacked model ignores both)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 \
                    or math.isinf(v):
                raise ValueError(f"{name} must be a finite number ≥ 0; got {v!r}.")
        if not self.max_steps and not self.max_seconds:
            raise ValueError("give a budget: max_steps or max_seconds (or both) above 0.")
        self.net_spec(2).check()

    def net_spec(self, vocab_size: int) -> NetSpec:
        return NetSpec(self.model, vocab_size, self.hidden, self.layers, self.cell,
                       self.residual, self.heads, self.expansion, self.ff_expansion,
                       self.attention_every, self.seq_len, self.dropout, self.tie_weights,
                       self.norm)

    @property
    def resolved_batching(self) -> str:
        if self.batching != "auto":
            return self.batching
        return "windows" if self.model == "transformer" else "stateful"


class TextGenerator(Estimator):
    """A language model over characters or sub-words; settings: ``GeneratorConfig``.

    ``fit(path)`` (a text file, a folder of text files, a CSV file with ``column=``) or
    ``fit(text=...)`` trains with the last ``val_fraction`` held out; ``result_`` holds
    the validation loss in nats per token, bits per character, perplexity, the curve of
    validation loss against training time, and the parameter count.
    """

    config_class = GeneratorConfig

    def __init__(self, **config):
        self.config = GeneratorConfig(**self._checked_settings(config))

    # -- training ----------------------------------------------------------------------------
    def fit(self, data=None, *, text: str | None = None, column: str | int | None = None,
            callbacks=(), checkpoint=None, resume: str | dict | None = None) -> TextGenerator:
        """Train on the file or folder ``data`` or on ``text`` (a str). ``callbacks``:
        ``grukit.models`` callbacks (an epoch is ``eval_every`` steps, then validation);
        ``checkpoint``: a file path, written as training goes (every ``checkpoint_every``
        steps and at the end), or ``checkpoint(gen, state, optimizer, carried)``, called
        then; ``resume``: such a file's path, or what ``checkpoint.read_checkpoint``
        returned (weights, optimizer, where training stopped). Returns self."""
        from .checkpoint import read_checkpoint, write_checkpoint

        cfg = self.config
        if isinstance(checkpoint, (str, os.PathLike)):  # as Translator.fit takes it
            path = os.fspath(checkpoint)
            if os.path.isdir(path):  # refused now, not when the first checkpoint is due
                raise ValueError(f"checkpoint {path!r} is a folder; give a file in it, e.g. "
                                 f"{os.path.join(path, 'checkpoint.pt')!r}.")
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)  # not after
            checkpoint = lambda g, st, o, c: write_checkpoint(path, g, st, o, c)  # noqa: E731
        elif checkpoint is not None and not callable(checkpoint):  # else: at its first call
            raise TypeError(f"checkpoint must be a file path or a function(gen, state, "
                            f"optimizer, carried); got {type(checkpoint).__name__}.")
        if isinstance(resume, (str, os.PathLike)):
            resume = read_checkpoint(os.fspath(resume))
        elif resume is not None and not isinstance(resume, dict):
            raise TypeError(f"resume must be a file path or what read_checkpoint returned; "
                            f"got {type(resume).__name__}.")
        self.fitted_ = False
        text = _text_of(data, text, column)
        if not text.strip():
            raise ValueError("the text is empty (or only whitespace); give the text to learn.")
        train_text, val_text = split_text(text, cfg.val_fraction)
        if not train_text:  # its vocabulary would be empty ("vocab_size ... got 0")
            raise ValueError(f"val_fraction={cfg.val_fraction} holds out all {len(text)} "
                             f"characters of the text, leaving none to train on; lower "
                             f"val_fraction or give more text.")
        # the text's fingerprint: a checkpoint resumes only on the text it was written on
        self.text_sha256_ = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if resume is not None:
            # the settings it was written with: another width failed inside torch's
            # load_state_dict, another lr or batching went on without a word
            was, now = resume.get("config") or {}, self.get_config()
            changed = sorted(k for k in now if k not in RESUME_BUDGET and k in was
                             and was[k] != now[k])
            if changed:
                raise ValueError(f"the checkpoint to resume was written with other settings "
                                 f"({', '.join(f'{k}={was[k]!r}' for k in changed)}); give that "
                                 f"run's settings (only {' and '.join(RESUME_BUDGET)} may "
                                 f"change), or start without resuming.")
            saved = resume.get("text_sha256")
            if saved is not None and saved != self.text_sha256_:
                raise ValueError("the checkpoint to resume was written while training on "
                                 "another text; give the same data (and column) as that run, "
                                 "or start without resuming.")
            self.vocab_ = vocab_from_json(resume["vocab"])
        else:
            self.vocab_ = make_vocab(cfg.tokenizer, cfg.vocab_size).fit(train_text)
        train_ids = self.vocab_.encode(train_text, "the training text")
        val_ids = self._encode_val(val_text)
        with torch_threads(cfg.threads or None):  # the caller's count comes back after
            torch.manual_seed(cfg.seed)
            self.network_ = LanguageModel(cfg.net_spec(self.vocab_.size))
            from .train import make_optimizer

            opt = make_optimizer(self.network_, cfg)
            state = None
            carried = None
            if resume is not None:
                self.network_.load_state_dict(resume["model"])
                opt.load_state_dict(resume["optimizer"])
                state = resume["state"]
                carried = resume.get("carried")
                torch.set_rng_state(resume["rng"])
            ckpt = None if checkpoint is None else (
                lambda st, o, c: checkpoint(self, st, o, c))
            run_cfg = _Run(cfg)
            st = train_lm(self.network_, train_ids, val_ids, run_cfg, state=state, optimizer=opt,
                          callbacks=callbacks, checkpoint=ckpt, carried=carried)
            self.train_state_ = st
            self.fitted_ = True
            result = {"params": count_params(self.network_), "steps": st.step,
                      "train_seconds": round(st.seconds, 3), "epochs": st.epoch,
                      "stop_reason": st.stop_reason, "curve": st.curve,
                      "train_chars": len(train_text), "val_chars": len(val_text),
                      "vocab_size": self.vocab_.size,
                      "val_unknown_chars": self._val_dropped}
            if len(val_ids) > 1:
                result |= self._scores(val_ids, len(val_text) - self._val_dropped)
            self.result_ = result
        return self

    def _encode_val(self, val_text: str):
        """Validation ids; characters unseen in training are dropped from it (counted in
        ``result_["val_unknown_chars"]``)."""
        missing = set(self.vocab_.unknown(val_text))
        kept = "".join(c for c in val_text if c not in missing) if missing else val_text
        self._val_dropped = len(val_text) - len(kept)
        return self.vocab_.encode(kept, "the validation text")

    def _scores(self, ids, chars: int) -> dict:
        cfg = self.config
        total, n = evaluate_ids(self.network_, ids, cfg.eval_batch_size, cfg.seq_len,
                                cfg.resolved_batching == "stateful")
        per_token = total / max(n, 1)
        per_char = total / max(n, 1) * (len(ids) / max(chars, 1))  # nats per character
        # exp overflows above ~709 nats a token (a diverged run): capped there, so that the
        # scores of such a run are reported and saved rather than lost to an OverflowError
        return {"val_loss": per_token, "val_perplexity": math.exp(min(per_token, 700.0)),
                "val_bits_per_char": per_char / math.log(2), "val_tokens": n}

    # -- inference ---------------------------------------------------------------------------
    def evaluate(self, data=None, *, text: str | None = None,
                 column: str | int | None = None) -> dict:
        """Loss on the file ``data`` or on ``text``: {"loss": nats per token,
        "bits_per_char", "perplexity", "tokens"}. Characters outside a char vocabulary are
        refused."""
        self._check_fitted("evaluate")
        text = _text_of(data, text, column)
        ids = self.vocab_.encode(text, "the text")
        if len(ids) < 2:
            raise ValueError("the text has fewer than 2 tokens, so nothing to predict; give "
                             "a longer text.")
        s = self._scores(ids, len(text))
        return {"loss": s["val_loss"], "bits_per_char": s["val_bits_per_char"],
                "perplexity": s["val_perplexity"], "tokens": s["val_tokens"]}

    def generate(self, prompt: str = "", length: int = 500, *, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float = 1.0, seed: int = 0,
                 on_text=None, trace: tuple[int, ...] = ()) -> str:
        """``length`` tokens after ``prompt`` (the prompt itself not repeated), as text.
        An empty prompt starts after a newline (a character vocabulary without one: after
        its first character). ``on_text(piece)`` sees the text as it
        comes; ``last_stats_`` holds tokens/s and the state's bytes."""
        self._check_fitted("generate")
        check_sampling(length, temperature, top_k, top_p)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or \
                not -2 ** 63 <= seed < 2 ** 64:  # what torch.Generator.manual_seed takes
            raise ValueError(f"seed must be an integer from -2**63 to 2**64 - 1; got {seed!r}.")
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str; got {type(prompt).__name__}.")
        if not prompt:  # after a newline, or the first character of a text without one
            prompt = "\n" if not self.vocab_.unknown("\n") else self.vocab_.decode([0])
        ids = self.vocab_.encode(prompt, "the prompt")
        if len(ids) == 0:
            raise ValueError("the prompt gives no token; give a longer prompt.")
        pieces = _Pieces(self.vocab_, on_text)
        out, stats = sample(self.network_, ids, length, temperature=temperature, top_k=top_k,
                            top_p=top_p, seed=seed, on_token=pieces.add, trace=trace)
        pieces.flush()
        self.last_stats_ = stats
        return self.vocab_.decode(out)

    predict = generate

    @classmethod
    def load(cls, path) -> TextGenerator:
        """The model ``save(path)`` wrote; a folder of another task's model is refused
        before anything of it is built."""
        import json

        from ..estimator import CONFIG_FILE

        path = os.fspath(path)
        try:
            with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
                name = json.load(f).get("class")
        except (OSError, ValueError, AttributeError):
            name = None  # missing or damaged: the checks of Estimator.load say which
        if name is not None and name != cls.__name__:
            raise ValueError(f"{path!r} holds a {name}, not a TextGenerator (a model of "
                             f"another task); give a folder written by `grukit generate "
                             f"train --save` or TextGenerator.save.")
        return super().load(path)

    # -- files -------------------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict]:
        tensors = {f"network.{k}": v for k, v in self.network_.state_dict().items()
                   if k != "head.weight" or not self.config.tie_weights}
        return tensors, {"vocab": self.vocab_.to_json(), "result": self.result_}

    def _restore(self, tensors: dict, extras: dict) -> None:
        where = "the saved TextGenerator"
        if "vocab" not in extras or "result" not in extras:
            raise ValueError(f"{where} lacks its vocabulary or training record; it was "
                             f"written by another version or edited. Save the model again.")
        self.vocab_ = vocab_from_json(extras["vocab"])
        net = LanguageModel(self.config.net_spec(self.vocab_.size))
        if self.config.tie_weights:
            tensors = dict(tensors)
            if "network.embed.weight" in tensors:
                tensors["network.head.weight"] = tensors["network.embed.weight"]
        load_module_state(net, tensors, "network.", where)
        self.network_ = net.eval()
        self.result_ = extras["result"]


class _Run:
    """The config as the training loop reads it (batching resolved)."""

    def __init__(self, cfg: GeneratorConfig):
        self.__dict__.update(vars(cfg))
        self.batching = cfg.resolved_batching


class _Pieces:
    """Token ids -> text pieces as they become whole characters (a byte-level token may end
    inside a character)."""

    def __init__(self, vocab, on_text):
        self.vocab, self.on_text, self.pending = vocab, on_text, []

    def add(self, tok: int) -> None:
        if self.on_text is None:
            return
        self.pending.append(tok)
        text = self.vocab.decode(self.pending)
        if not text.endswith("\ufffd") or len(self.pending) > 8:
            self.on_text(text)
            self.pending = []

    def flush(self) -> None:
        if self.on_text is not None and self.pending:
            self.on_text(self.vocab.decode(self.pending))
            self.pending = []


def _text_of(data, text, column) -> str:
    """The text of the file or folder ``data`` or the str ``text`` (exactly one given)."""
    if (data is None) == (text is None):
        raise TypeError("give either data (a text file, a folder of text files or a CSV "
                        "file) or text= (the text itself), not both or neither.")
    if text is not None:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str; got {type(text).__name__}.")
        if column is not None:  # else ignored: text= is the text itself, not a CSV file
            raise TypeError(f"column names a column of the CSV file data, and text= is the "
                            f"text itself; drop column={column!r} or give the CSV file as "
                            f"data.")
        return text
    if isinstance(data, str) and ("\n" in data or len(data) > 4096) and \
            not os.path.exists(data):  # fit(text) for fit(text=text): no 1 MB "no file at ..."
        raise ValueError(f"data is a path, and this str of {len(data):,} characters names no "
                         f"file or folder; it looks like the text itself: give it as text=.")
    return read_text(data, column)


__all__ = ["GeneratorConfig", "TextGenerator", "TrainState", "model_names"]
