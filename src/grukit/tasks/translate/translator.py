"""``Translator``: the estimator of ``grukit.tasks.translate`` (train → save → load →
translate), on the encoder–decoder of ``network.py``.

    tr = Translator(cell="gru", attention="bahdanau", epochs=10).fit(src, tgt, valid=(vs, vt))
    tr.translate(["Ein Hund läuft."], beam=5)       # ['A dog is running.']
    tr.evaluate(test_src, test_tgt)                 # sacreBLEU BLEU, chrF, signatures, ppl
    tr.save("de-en"); Translator.load("de-en")
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import re
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from .._subword import check_utf8
from ..estimator import Estimator, check_flag, is_flag, load_module_state
from .network import Seq2Seq, Shape, pad_batch
from .tokenizer import SubwordTokenizer

# warn when more than this share of an input's words is unknown: Multi30K's German test set
# has 2% words unseen in training, English text given to the German model 43%, French 68%
UNKNOWN_WARN = 0.3
BUDGET = ("epochs", "max_seconds", "clock")  # settings a resumed run may change
MAX_WORDS = 50000  # training source words kept to tell unknown words (wrong language)
_WORD = re.compile(r"[^\W\d_]+")


def _words(text) -> list[str]:
    return _WORD.findall(str(text).lower())


def _clean(text, what: str = "a sentence") -> str:
    """A sentence without surrounding whitespace or byte-order marks (U+FEFF starts a file
    saved as "UTF-8 with BOM"; the tokenizer would read it as an unknown character and
    sacreBLEU as part of the first word). Anything but a str is refused: None, a missing
    cell of a pandas column (NaN) or bytes would otherwise be translated as the words
    "None", "nan" or "b'...'"."""
    if not isinstance(text, str):
        raise TypeError(f"{what} is {type(text).__name__} {text!r:.40}, not text; give str "
                        f"sentences (an empty one as \"\", bytes decoded first).")
    check_utf8(text, what)  # a lone surrogate: the tokenizer fails on it with a type error
    return text.replace("\ufeff", "").strip()


def _sentences(texts, what: str) -> list[str]:
    """``_clean`` of each sentence of ``texts``, a refusal naming the first that is no str."""
    return [_clean(t, f"{what}: sentence {i}") for i, t in enumerate(texts)]


def _valid_pair(valid) -> tuple:
    """(source, target) of ``valid``: a pair of sentence lists, or what
    ``grukit.data.parallel.read_parallel`` returned (its ``src`` and ``tgt``)."""
    if hasattr(valid, "src") and hasattr(valid, "tgt"):
        return valid.src, valid.tgt
    if isinstance(valid, (str, bytes)) or not hasattr(valid, "__len__") or len(valid) != 2:
        raise TypeError(f"valid must be (source sentences, target sentences) or what "
                        f"read_parallel returned; got {type(valid).__name__}"
                        f"{f' of {len(valid)}' if hasattr(valid, '__len__') else ''}.")
    return tuple(valid)


def word_list(texts: list[str]) -> list[str]:
    """The ``MAX_WORDS`` most frequent words of ``texts`` (ties: alphabetical), sorted."""
    counts = Counter(w for t in texts for w in _words(t))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_WORDS]
    return sorted(w for w, _ in top)


@dataclass
class TranslatorConfig:
    """Settings of a ``Translator``: the encoder–decoder, its vocabularies, training and
    decoding.

    Attributes:
        cell (str): a cell of ``grukit.cells`` with a one-step cell (gru, lstm, rnn).
        attention (str): "bahdanau" (additive), "luong" (multiplicative) or "none".
        embed (int): embedding width.
        hidden (int): recurrent width (the encoder's per direction and the decoder's).
        dropout (float): dropout rate.
        label_smoothing (float): label smoothing of the training loss.
        tokenizer (str): "bpe" or "unigram" sub-words, trained on the training side only.
        vocab_size (int): sub-words a language.
        joint_vocab (bool): one vocabulary (and embedding) for both languages.
        max_len (int): tokens a side: longer training pairs are left out, inputs cut.
        batch_tokens (int): source + target tokens (with padding) a batch.
        lr (float): Adam's learning rate (halved when validation perplexity stalls).
        epochs (int): the epoch cap.
        max_seconds (float | None): a training budget in seconds (None: none), the whole
            run's: a run resumed from a checkpoint has what that checkpoint left of it.
        clock (str): what ``max_seconds`` counts: "wall" time (validation included) or this
            process's "cpu" time.
        clip (float): the gradient's global L2 norm is clipped to it (0: no clipping).
        beam (int): beam width of ``translate`` (1: greedy).
        alpha (float): beam search's length penalty.
        seed (int): seeds the weights and the batches.
    """

    cell: str = "gru"  # a name in grukit.cells with a one-step cell (gru, lstm, rnn)
    attention: str = "bahdanau"  # bahdanau (additive), luong (multiplicative), none
    embed: int = 256
    hidden: int = 256
    dropout: float = 0.3
    label_smoothing: float = 0.1
    tokenizer: str = "bpe"  # bpe or unigram
    vocab_size: int = 8000
    joint_vocab: bool = False  # one vocabulary (and embedding) for both languages
    max_len: int = 100  # tokens a side: longer training pairs are left out, inputs cut
    batch_tokens: int = 4000  # source + target tokens (with padding) a batch
    lr: float = 2e-3
    epochs: int = 10
    max_seconds: float | None = None
    clock: str = "wall"  # what max_seconds counts: wall time, or this process's CPU time
    clip: float = 1.0
    beam: int = 5  # translate's default; 1: greedy
    alpha: float = 0.6  # beam search's length penalty
    seed: int = 0

    def __post_init__(self):
        for f in dataclasses.fields(self):  # numpy numbers (a grid's np.int64) as Python ones
            v = getattr(self, f.name)
            if isinstance(v, np.generic):
                setattr(self, f.name, v.item())
        if is_flag(self.joint_vocab):  # 0 and 1 as bools (save writes them); fit refuses the rest
            self.joint_vocab = bool(self.joint_vocab)


def _check(cfg: TranslatorConfig) -> None:
    from ...layers.seq2seq import ATTENTIONS

    for name in ("embed", "hidden", "max_len", "batch_tokens", "epochs", "beam"):
        v = getattr(cfg, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}.")
    if cfg.attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {ATTENTIONS}; got {cfg.attention!r}.")
    check_flag(cfg.joint_vocab, "joint_vocab")  # "False" is truthy: it joined the vocabularies
    for name in ("dropout", "label_smoothing"):
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise ValueError(f"{name} must be in [0, 1); got {v!r}.")
    # finite: the settings are saved as JSON, which has no NaN or Inf (a save after training
    # would fail); the seed seeds numpy too, which takes no negative one
    if isinstance(cfg.lr, bool) or not (isinstance(cfg.lr, (int, float)) and
                                        0 < cfg.lr < math.inf):  # True: a rate of 1
        raise ValueError(f"lr must be a positive number; got {cfg.lr!r}.")
    if isinstance(cfg.clip, bool) or not (isinstance(cfg.clip, (int, float)) and
                                          0 <= cfg.clip < math.inf):
        raise ValueError(f"clip must be a number, 0 or more (0: no clipping); got "
                         f"{cfg.clip!r}.")
    if cfg.clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu'; got {cfg.clock!r}.")
    if cfg.max_seconds is not None and (isinstance(cfg.max_seconds, bool) or not (
            isinstance(cfg.max_seconds, (int, float)) and 0 < cfg.max_seconds < math.inf)):
        raise ValueError(f"max_seconds must be a positive number or None; got "
                         f"{cfg.max_seconds!r}.")
    if isinstance(cfg.alpha, bool) or not isinstance(cfg.alpha, (int, float)) or \
            not 0 <= cfg.alpha < math.inf:
        raise ValueError(f"alpha (the length penalty) must be a number, 0 or more; got "
                         f"{cfg.alpha!r}.")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or not \
            0 <= cfg.seed < 2 ** 63:
        raise ValueError(f"seed must be an integer from 0 to 2**63 - 1; got {cfg.seed!r}.")


class Translator(Estimator):
    """A GRU (or LSTM, RNN) encoder–decoder with attention for sentence translation."""

    config_class = TranslatorConfig

    def __init__(self, **settings):
        self.config = TranslatorConfig(**self._checked_settings(settings))

    # -- training ----------------------------------------------------------------------------
    def _texts(self, src, tgt, what: str) -> tuple[list[str], list[str]]:
        if isinstance(src, str) or isinstance(tgt, str):
            raise TypeError(f"{what}: give lists of sentences (read files with "
                            f"grukit.data.parallel.read_parallel).")
        src, tgt = _sentences(src, f"{what} (source)"), _sentences(tgt, f"{what} (target)")
        if len(src) != len(tgt):
            raise ValueError(f"{what}: {len(src)} source and {len(tgt)} target sentences; "
                             f"they must be aligned pairs.")
        if not src:
            raise ValueError(f"{what}: no sentence pairs.")
        return src, tgt

    def _ids(self, src, tgt):
        s = self.src_tok_.encode(src)
        t = self.tgt_tok_.encode(tgt)
        keep = [i for i in range(len(s)) if 0 < len(s[i]) <= self.config.max_len
                and 0 < len(t[i]) < self.config.max_len]
        return [s[i] for i in keep], [t[i] for i in keep], len(s) - len(keep)

    def fit(self, src, tgt, valid=None, *, callbacks=(), checkpoint: str | None = None,
            resume: str | None = None, verbose=0) -> Translator:
        """Train on aligned sentence lists; ``valid`` = (source, target) lists (or a
        ``read_parallel`` result) for validation perplexity each epoch. ``checkpoint``: a
        file written at each epoch's end; ``resume``: such a file to continue from (same data
        and settings)."""
        from .train import fit_network

        cfg = self.config
        _check(cfg)
        src, tgt = self._texts(src, tgt, "fit")
        # the pairs' fingerprint: a checkpoint resumes only on the pairs it was written on
        # (the same sentences reordered or a subset can give the same vocabularies)
        pairs = hashlib.sha256("\n".join(f"{a}\t{b}" for a, b in zip(src, tgt, strict=True))
                               .encode("utf-8", "surrogatepass")).hexdigest()
        if resume is not None:
            from ...models.saving import read_checkpoint

            saved = json.loads(read_checkpoint(resume)["config"])
            if saved.get("pairs", pairs) != pairs:
                raise ValueError("the checkpoint to resume was written while training on other "
                                 "sentence pairs (or the same in another order); give the same "
                                 "data (and max_chars) as that run, or start without resuming.")
            if "pairs" not in saved:  # written before pairs were fingerprinted
                pairs = None
        torch.manual_seed(cfg.seed)
        # a failed fit leaves no half-trained model behind: from here on a refit replaces the
        # vocabularies, which the old network would go on translating with
        self.fitted_ = False
        self.src_tok_ = SubwordTokenizer(cfg.tokenizer, cfg.vocab_size).fit(
            src + tgt if cfg.joint_vocab else src)
        self.tgt_tok_ = self.src_tok_ if cfg.joint_vocab else \
            SubwordTokenizer(cfg.tokenizer, cfg.vocab_size).fit(tgt)
        self.src_words_, self._known_cache = word_list(src), None
        s, t, dropped = self._ids(src, tgt)
        empty = sum(not a or not b for a, b in zip(src, tgt, strict=True))
        if not s:
            raise ValueError(f"every training pair has an empty side or is longer than "
                             f"max_len={cfg.max_len} tokens ({empty} empty); give sentence "
                             f"pairs or raise max_len.")
        if dropped:
            warnings.warn(f"left out {dropped} training pair(s): {empty} with an empty side, "
                          f"{dropped - empty} over max_len={cfg.max_len} tokens.", UserWarning,
                          stacklevel=2)
        val = None
        if valid is not None:
            vs, vt = self._texts(*_valid_pair(valid), "valid")
            vs_ids, vt_ids, left = self._ids(vs, vt)
            if left:  # the validation perplexity (and the learning rate's halving) on fewer
                warnings.warn(  # pairs, or on none, said rather than silent
                    f"valid: left out {left} of {len(vs)} pair(s) with an empty side or over "
                    f"max_len={cfg.max_len} tokens" + ("" if vs_ids else
                                                        "; none is left, so training goes on "
                                                        "without validation") + ".",
                    UserWarning, stacklevel=2)
            val = (vs_ids, vt_ids) if vs_ids else None
        self.network_ = self._build()
        # what a checkpoint must match to be resumed: the settings but the budget, the
        # vocabularies (retrained from the same data they are the same) and the pairs
        vocab = hashlib.sha256((self.src_tok_.to_str() + self.tgt_tok_.to_str()).encode())
        run = {k: v for k, v in self.get_config().items() if k not in BUDGET}
        self.history_ = fit_network(self.network_, s, t, val, cfg, callbacks=callbacks,
                                    checkpoint=checkpoint, resume=resume,
                                    config=run | {"vocabularies": vocab.hexdigest()} |
                                    ({"pairs": pairs} if pairs else {}),
                                    verbose=verbose)
        self.fitted_ = True
        return self

    def _build(self) -> Seq2Seq:
        cfg = self.config
        return Seq2Seq(Shape(self.src_tok_.size, self.tgt_tok_.size, cfg.embed, cfg.hidden,
                             cfg.cell, cfg.attention, cfg.dropout, cfg.joint_vocab))

    # -- use ---------------------------------------------------------------------------------
    def _encode_inputs(self, texts: list[str]):
        ids = self.src_tok_.encode(texts)
        cut = sum(len(x) > self.config.max_len for x in ids)
        if cut:
            warnings.warn(f"{cut} input(s) longer than max_len={self.config.max_len} tokens "
                          f"were cut to that length.", UserWarning, stacklevel=3)
        share = self.unknown_share(texts)
        if share > UNKNOWN_WARN:
            warnings.warn(f"{share:.0%} of the input's words are unknown to this model's "
                          f"source vocabulary; is the input in the language it was trained "
                          f"on?", UserWarning, stacklevel=3)
        return [x[:self.config.max_len] for x in ids]

    def unknown_share(self, texts: list[str]) -> float:
        """The share of the words of ``texts`` (lower-cased runs of letters) that the
        training source side never had among its ``MAX_WORDS`` most frequent words."""
        self._check_fitted("unknown_share")
        words = [w for text in texts for w in _words(text)]
        if not words:
            return 0.0
        known = self._known
        return sum(w not in known for w in words) / len(words)

    @property
    def _known(self) -> frozenset:
        if getattr(self, "_known_cache", None) is None:
            self._known_cache = frozenset(self.src_words_)
        return self._known_cache

    def translate(self, texts, *, beam: int | None = None, alpha: float | None = None,
                  batch_size: int = 64, max_len: int | None = None) -> list[str]:
        """Translate each sentence of ``texts``; ``beam`` 1 is greedy decoding (default: the
        config's); ``alpha``: beam search's length penalty (default: the config's; refused
        with beam 1, which has none). An empty sentence translates to an empty one."""
        from .decode import beam_search, greedy

        self._check_fitted("translate")
        if isinstance(texts, str):
            raise TypeError("translate takes a list of sentences; wrap one in a list.")
        # numpy's integers and floats are taken as Python's (np.int64(5) is a positive integer)
        beam = self.config.beam if beam is None else beam
        if not isinstance(beam, numbers.Integral) or isinstance(beam, bool) or beam < 1:
            raise ValueError(f"beam must be a positive integer (1: greedy); got {beam!r}.")
        given, alpha = alpha, self.config.alpha if alpha is None else alpha
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or \
                not math.isfinite(alpha) or alpha < 0:
            raise ValueError(f"alpha (the length penalty) must be a number, 0 or more; got "
                             f"{alpha!r}.")
        for name, v in (("batch_size", batch_size), ("max_len", max_len)):
            if (v is not None or name == "batch_size") and (
                    isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
                raise ValueError(f"{name} must be a positive integer; got {v!r}.")
        beam, alpha, batch_size = int(beam), float(alpha), int(batch_size)
        max_len = None if max_len is None else int(max_len)
        if beam == 1 and given:  # greedy decoding has no length penalty to apply
            raise ValueError(f"alpha={given!r} is beam search's length penalty and beam 1 "
                             f"decodes greedily without one; drop alpha or give a beam above "
                             f"1.")
        texts = _sentences(texts, "translate")
        ids = self._encode_inputs(texts)
        out = [""] * len(texts)
        todo = sorted((i for i in range(len(texts)) if len(ids[i])), key=lambda i: len(ids[i]))
        net = self.network_.eval()
        for j in range(0, len(todo), batch_size):
            chunk = todo[j:j + batch_size]
            src, lengths = pad_batch([ids[i] for i in chunk])
            # each source's own limit: its translation does not depend on its batch
            limit = torch.full_like(lengths, max_len) if max_len is not None else \
                lengths * 2 + 10  # (B,)
            hyp = greedy(net, src, lengths, limit)[0] if beam == 1 else \
                beam_search(net, src, lengths, limit, beam, alpha)
            for i, h in zip(chunk, hyp, strict=True):
                out[i] = self.tgt_tok_.decode(h)
        return out

    def predict(self, texts, **kwargs) -> list[str]:
        return self.translate(texts, **kwargs)

    def attention(self, text: str, max_len: int | None = None):
        """(source pieces, output pieces incl. EOS, weights (T_out, S) numpy) of the greedy
        translation of one sentence; weights is None without attention."""
        from .decode import greedy

        self._check_fitted("attention")
        if max_len is not None and (isinstance(max_len, bool) or not isinstance(
                max_len, numbers.Integral) or max_len < 1):  # 0 was the default, -1 no map
            raise ValueError(f"max_len must be a positive integer; got {max_len!r}.")
        ids = self._encode_inputs([_clean(text, "attention's text")])[0]  # as translate()
        if not len(ids):
            raise ValueError("attention needs a non-empty sentence.")
        src, lengths = pad_batch([ids])
        hyp, maps = greedy(self.network_.eval(), src, lengths,
                           len(ids) * 2 + 10 if max_len is None else int(max_len),
                           keep_attention=True)
        out = self.tgt_tok_.pieces(hyp[0]) + ["</s>"]
        weights = None if maps is None else maps[0].numpy()[:len(out)]
        return self.src_tok_.pieces(ids), out[:len(weights) if weights is not None else None], \
            weights

    def evaluate(self, src, tgt, *, beam: int | None = None, alpha: float | None = None,
                 batch_size: int = 64) -> dict:
        """sacreBLEU corpus BLEU and chrF (with their signatures) of the translations of
        ``src`` against ``tgt`` (``beam``, ``alpha``: as ``translate``), and the
        teacher-forced perplexity on the pairs; ``alpha`` is None in the scores of greedy
        decoding (beam 1)."""
        from .metrics import corpus_scores

        self._check_fitted("evaluate")
        src, tgt = self._texts(src, tgt, "evaluate")
        hyps = self.translate(src, beam=beam, alpha=alpha, batch_size=batch_size)
        scores = corpus_scores(hyps, tgt)
        scores["perplexity"] = self.perplexity(src, tgt)
        beam = int(self.config.beam if beam is None else beam)  # JSON has no np.int64
        scores["beam"] = beam
        scores["alpha"] = None if beam == 1 else float(self.config.alpha if alpha is None
                                                       else alpha)
        scores["sentences"] = len(src)
        return scores

    def perplexity(self, src, tgt) -> float:
        """exp(mean nats per target sub-word, EOS included) of teacher-forced prediction of
        ``tgt`` from ``src`` (pairs over ``max_len`` tokens left out; NaN when none is left;
        a mean over 700 nats, past which exp leaves a float's range, gives exp(700))."""
        from .train import PPL_CAP, nll

        self._check_fitted("perplexity")
        src, tgt = self._texts(src, tgt, "perplexity")
        s, t, dropped = self._ids(src, tgt)
        if dropped:
            warnings.warn(f"the perplexity leaves out {dropped} of {len(src)} pair(s): an empty "
                          f"side or over max_len={self.config.max_len} tokens.", UserWarning,
                          stacklevel=2)
        if not s:
            return math.nan
        total, n = nll(self.network_, s, t)
        return math.exp(min(total / max(n, 1), PPL_CAP))

    # -- files -------------------------------------------------------------------------------
    def _state(self):
        # a joint vocabulary's source embedding is the target's tensor: stored once
        # (safetensors refuses tensors that share memory), restored from it
        shared = ("src_embed.weight",) if self.config.joint_vocab else ()
        tensors = {f"network.{k}": v for k, v in self.network_.state_dict().items()
                   if k not in shared}
        extras = {"src_tokenizer": self.src_tok_.to_str(), "src_words": self.src_words_,
                  "tgt_tokenizer": None if self.config.joint_vocab else self.tgt_tok_.to_str(),
                  "history": {k: [float(x) for x in v] for k, v in
                              getattr(getattr(self, "history_", None), "history", {}).items()}}
        return tensors, extras

    def _restore(self, tensors, extras):
        cfg = self.config
        self.src_tok_ = SubwordTokenizer.from_str(extras["src_tokenizer"], cfg.tokenizer,
                                                  cfg.vocab_size)
        self.tgt_tok_ = self.src_tok_ if cfg.joint_vocab else SubwordTokenizer.from_str(
            extras["tgt_tokenizer"], cfg.tokenizer, cfg.vocab_size)
        self.src_words_, self._known_cache = list(extras.get("src_words", [])), None
        self.network_ = self._build()
        if cfg.joint_vocab and "network.tgt_embed.weight" in tensors:
            tensors = tensors | {"network.src_embed.weight": tensors["network.tgt_embed.weight"]}
        load_module_state(self.network_, tensors, "network.")
        self.network_.eval()
