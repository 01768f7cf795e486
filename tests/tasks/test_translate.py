"""grukit.tasks.translate: a GRU encoder–decoder with attention learns a toy translation (a
word mapping with reversed order) in seconds, beam size 1 is greedy decoding, save/load gives
the same translations, and bad input is one sentence."""

import random

import numpy as np
import pytest
import torch

from grukit.tasks.translate import Translator
from grukit.tasks.translate.decode import beam_search, greedy
from grukit.tasks.translate.network import pad_batch
from grukit.tasks.translate.tokenizer import SubwordTokenizer

WORDS = "ab cd ef gh ij kl mn op qr st".split()
MAP = {w: w.upper()[::-1] for w in WORDS}


def toy(n, seed):
    """Source: 2-6 random words; target: each word mapped, in reverse order."""
    rng = random.Random(seed)
    src, tgt = [], []
    for _ in range(n):
        x = [rng.choice(WORDS) for _ in range(rng.randint(2, 6))]
        src.append(" ".join(x))
        tgt.append(" ".join(MAP[w] for w in reversed(x)))
    return src, tgt


SETTINGS = dict(embed=32, hidden=48, vocab_size=40, epochs=5, batch_tokens=800, dropout=0.0,
                label_smoothing=0.0, lr=5e-3, seed=0)


@pytest.fixture(scope="module")
def trained():
    src, tgt = toy(1500, 0)
    return Translator(**SETTINGS).fit(src, tgt, valid=toy(50, 1))


def test_learns_a_toy_translation_far_above_chance(trained):
    src, tgt = toy(60, 2)
    hyp = trained.translate(src, beam=1)
    exact = sum(h == t for h, t in zip(hyp, tgt, strict=True)) / len(tgt)
    scores = trained.evaluate(src, tgt, beam=4)
    # chance: a word right with p=1/10, a whole sentence almost never
    assert exact > 0.7, (exact, hyp[:3], tgt[:3])
    assert scores["bleu"] > 70 and scores["chrf"] > 70
    assert scores["perplexity"] < 2.0
    assert scores["bleu_signature"].startswith("nrefs:1|case:mixed")
    assert trained.history_.history["val_ppl"][-1] < trained.history_.history["val_ppl"][0]


def test_beam_of_one_is_greedy_decoding(trained):
    src, _ = toy(40, 3)
    ids = trained.src_tok_.encode(src)
    x, lengths = pad_batch(ids)
    net = trained.network_.eval()
    g, _ = greedy(net, x, lengths, 30)
    b = beam_search(net, x, lengths, 30, beam=1, alpha=0.0)
    assert g == b


def test_beam_search_batched_equals_one_at_a_time(trained):
    src, _ = toy(6, 4)
    together = trained.translate(src, beam=3, batch_size=6)
    alone = [trained.translate([s], beam=3)[0] for s in src]
    assert together == alone


@pytest.mark.parametrize("beam", [1, 3])
def test_a_translation_does_not_depend_on_the_sentences_beside_it(trained, beam, tmp_path):
    # a model that never ends a sentence runs to the length limit: that limit is the
    # source's own, not the longest source's of its batch
    from grukit.tasks.translate.tokenizer import EOS_ID

    endless = Translator.load(trained.save(str(tmp_path / "m")))
    with torch.no_grad():
        endless.network_.out_bias[EOS_ID] = -1e9
    long = " ".join(["ab cd ef gh"] * 6)
    alone = endless.translate(["ab"], beam=beam)
    assert endless.translate(["ab", long], beam=beam)[0] == alone[0]
    assert len(endless.tgt_tok_.encode(alone)[0]) <= 2 * len(trained.src_tok_.encode(["ab"])[0]) \
        + 10


def test_save_load_gives_the_same_translations(trained, tmp_path):
    src, _ = toy(20, 5)
    path = trained.save(str(tmp_path / "m"))
    loaded = Translator.load(path)
    assert loaded.translate(src, beam=3) == trained.translate(src, beam=3)
    a = dict(trained.network_.state_dict())
    for k, v in loaded.network_.state_dict().items():
        assert torch.equal(v, a[k]), k


def test_a_failed_refit_leaves_the_translator_unfitted(trained, tmp_path):
    # the new vocabularies were kept beside the old network, which went on "translating"
    from grukit.tasks.estimator import NotFittedError

    tr = Translator.load(trained.save(str(tmp_path / "m")))
    with pytest.raises(ValueError, match="every training pair has an empty side"):
        tr.fit(["ab cd", "ef"], ["", ""])
    with pytest.raises(NotFittedError):
        tr.translate(["ab cd"])


def test_a_joint_vocabulary_model_saves_and_loads(tmp_path):
    src, tgt = toy(100, 4)
    tr = Translator(**(SETTINGS | dict(joint_vocab=True, epochs=1, hidden=16, embed=16))).fit(
        src, tgt)
    tr.save(tmp_path / "m")  # the one embedding is stored once
    loaded = Translator.load(tmp_path / "m")
    assert loaded.network_.src_embed is loaded.network_.tgt_embed
    assert torch.equal(loaded.network_.tgt_embed.weight, tr.network_.tgt_embed.weight)
    assert loaded.translate(src[:8], beam=2) == tr.translate(src[:8], beam=2)


@pytest.mark.parametrize("value,want", [
    ("False", None), ("no", None), (None, None), (0.0, None), (1.0, None), (2, None),
    ([False], None), (np.bool_(True), True), (np.int64(0), False), (1, True), (0, False)],
    ids=repr)
def test_joint_vocab_takes_bools_0_and_1_and_refuses_the_rest(value, want):
    """joint_vocab="False" joined the vocabularies (a string is truthy); numpy's bool, 0 and
    1 are the bools they equal, stored as Python's so that save writes JSON."""
    import json

    tr = Translator(**(SETTINGS | dict(joint_vocab=value, epochs=1, hidden=8, embed=8)))
    if want is None:
        with pytest.raises(ValueError, match=r"^joint_vocab must be True or False; got "):
            tr.fit(*toy(20, 3))
        return
    assert tr.config.joint_vocab is want
    assert json.loads(json.dumps(tr.get_config()))["joint_vocab"] is want


def test_a_checkpoint_resumes_only_on_the_pairs_it_was_written_on(tmp_path):
    src, tgt = toy(60, 4)
    settings = SETTINGS | dict(epochs=1, hidden=8, embed=8)
    ckpt = str(tmp_path / "run.pt")
    Translator(**settings).fit(src, tgt, checkpoint=ckpt)
    # the same pairs in another order: the same vocabularies, other batches
    with pytest.raises(ValueError, match="written while training on other sentence pairs"):
        Translator(**(settings | dict(epochs=2))).fit(src[::-1], tgt[::-1], resume=ckpt)
    assert Translator(**(settings | dict(epochs=2))).fit(src, tgt, resume=ckpt).fitted_


def test_attention_map_has_a_row_per_output_and_a_column_per_source_piece(trained):
    pieces, out, weights = trained.attention("ab cd ef")
    assert weights.shape == (len(out), len(pieces))
    assert abs(weights.sum(1) - 1).max() < 1e-5


def test_attention_maps_the_sentence_translate_reads(trained):
    src, out, weights = trained.attention("ab cd")
    for text in ("\ufeffab cd", "  ab cd \t"):  # a byte-order mark, surrounding spaces
        s, o, w = trained.attention(text)
        assert (s, o) == (src, out) and (w == weights).all()
    with pytest.raises(ValueError, match="non-empty sentence"):
        trained.attention("   ")


def test_empty_input_translates_to_empty_and_a_foreign_input_warns(trained):
    assert trained.translate(["", "ab"], beam=1)[0] == ""
    with pytest.warns(UserWarning, match="unknown to this model's source vocabulary"):
        trained.translate(["the quick brown fox jumps"], beam=1)


@pytest.mark.parametrize("bad", [None, float("nan"), b"ab cd", 3],
                         ids=["none", "nan-of-a-pandas-column", "bytes", "int"])
def test_a_sentence_that_is_not_text_is_refused_not_translated_as_its_repr(trained, bad):
    # str() made None, a missing pandas cell (NaN) and bytes the words "None", "nan", "b'..'"
    with pytest.raises(TypeError, match=r"translate: sentence 1 is \w+ .*, not text; give str "
                                        r"sentences"):
        trained.translate(["ab cd", bad], beam=1)
    with pytest.raises(TypeError, match=r"evaluate \(target\): sentence 0 is .*, not text"):
        trained.evaluate(["ab cd"], [bad], beam=1)
    with pytest.raises(TypeError, match=r"fit \(source\): sentence 1 is .*, not text"):
        Translator(**SETTINGS).fit(["ab", bad], ["BA", "DC"])
    with pytest.raises(TypeError, match="attention's text is .*, not text"):
        trained.attention(bad)


def test_a_sentence_with_a_lone_surrogate_is_one_sentence(trained):
    # bytes that are not UTF-8, decoded with errors="surrogateescape" (Python's stdin in a C
    # locale), failed inside the tokenizer: "TextEncodeInput must be Union[...]"
    bad = "ab \udce9 cd"
    with pytest.raises(ValueError, match=r"translate: sentence 1 holds '\\udce9', a byte that "
                                         r"was not UTF-8 text"):
        trained.translate(["ab cd", bad], beam=1)
    with pytest.raises(ValueError, match=r"evaluate \(target\): sentence 0 holds '\\udce9'"):
        trained.evaluate(["ab cd"], [bad], beam=1)


def test_a_length_penalty_with_greedy_decoding_is_refused(trained):
    # beam 1 decodes greedily, where alpha would be ignored without a word
    with pytest.raises(ValueError, match="alpha=2.0 is beam search's length penalty and beam 1 "
                                         "decodes greedily"):
        trained.translate(["ab cd"], beam=1, alpha=2.0)
    assert trained.translate(["ab cd"], beam=1, alpha=0) == trained.translate(["ab cd"], beam=1)
    scores = trained.evaluate(["ab cd"], ["DC BA"], beam=1)
    assert scores["beam"] == 1 and scores["alpha"] is None


@pytest.mark.parametrize("kw, match", [
    (dict(batch_size=0), "batch_size must be a positive integer; got 0"),
    (dict(batch_size=2.5), "batch_size must be a positive integer; got 2.5"),
    (dict(max_len=0), "max_len must be a positive integer; got 0"),
    (dict(max_len=-1), "max_len must be a positive integer; got -1"),
], ids=["batch-0", "batch-float", "max-len-0", "max-len-negative"])
def test_bad_decoding_sizes_are_one_sentence(trained, kw, match):
    with pytest.raises(ValueError, match=match):
        trained.translate(["ab cd"], beam=2, **kw)
    if "max_len" in kw:  # attention's: 0 was the default limit, -1 a map of None (as if the
        with pytest.raises(ValueError, match=match):  # model had no attention)
            trained.attention("ab cd", **kw)


def test_numpy_integers_and_floats_are_decoding_settings_like_pythons(trained):
    # np.int64(2) was refused as "beam must be a positive integer; got np.int64(2)"
    import json

    import numpy as np

    src, tgt = toy(6, 13)
    want = trained.translate(src, beam=2, alpha=0.5, batch_size=4, max_len=20)
    assert trained.translate(src, beam=np.int64(2), alpha=np.float32(0.5),
                             batch_size=np.int32(4), max_len=np.int64(20)) == want
    scores = trained.evaluate(src, tgt, beam=np.int64(2), alpha=np.float32(0.5))
    assert (scores["beam"], scores["alpha"]) == (2, 0.5)
    json.dumps(scores)  # plain ints and floats


def test_pairs_left_out_of_the_perplexity_are_counted_in_a_warning(trained):
    src, tgt = toy(3, 11)
    with pytest.warns(UserWarning, match=r"the perplexity leaves out 2 of 4 pair\(s\): an "
                                         r"empty side or over max_len=100 tokens"):
        trained.perplexity(src + [" ".join(["ab"] * 120)], tgt[:2] + ["", "BA"])


def test_perplexity_is_exp_of_the_mean_nll_by_hand_up_to_700_nats(trained, tmp_path):
    # a mean over 50 nats a token was reported as exp(50) = 5.2e21, whatever it was
    import math

    import torch.nn.functional as F

    from grukit.tasks.translate.tokenizer import EOS_ID, UNK_ID

    src, tgt = toy(6, 14)
    bad = Translator.load(trained.save(str(tmp_path / "m")))
    for boost, want in ((0.0, None), (120.0, None), (900.0, 700.0)):
        with torch.no_grad():
            bad.network_.out_bias[UNK_ID] = boost  # every target token ~boost nats less likely
        total, n = 0.0, 0
        for a, b in zip(src, tgt, strict=True):  # one pair at a time, no padding
            x, lengths = pad_batch(bad.src_tok_.encode([a]))
            t_in, _ = pad_batch(bad.tgt_tok_.encode([b]), bos=True)
            t_out, _ = pad_batch(bad.tgt_tok_.encode([b]), eos=EOS_ID)
            with torch.no_grad():
                logits = bad.network_.eval()(x, lengths, t_in)[0]
            total += F.cross_entropy(logits.double(), t_out[0], reduction="sum").item()
            n += t_out.shape[1]
        mean = total / n if want is None else want
        assert math.log(bad.perplexity(src, tgt)) == pytest.approx(mean, rel=1e-5), boost


def test_a_byte_order_mark_changes_neither_translation_nor_score(trained):
    # a file saved as "UTF-8 with BOM" starts its first line with U+FEFF
    src, tgt = toy(8, 10)
    plain = trained.translate(src, beam=2)
    assert trained.translate(["\ufeff" + src[0], *src[1:]], beam=2) == plain
    want = trained.evaluate(src, tgt, beam=1)
    got = trained.evaluate(["\ufeff" + src[0], *src[1:]], ["\ufeff" + tgt[0], *tgt[1:]], beam=1)
    assert (got["bleu"], got["chrf"], got["perplexity"]) == \
        (want["bleu"], want["chrf"], want["perplexity"])


@pytest.mark.parametrize("cell,attention", [("lstm", "luong"), ("gru", "none")])
def test_other_cells_and_attentions_train(cell, attention):
    src, tgt = toy(200, 6)
    tr = Translator(**(SETTINGS | dict(epochs=1, cell=cell, attention=attention))).fit(src, tgt)
    assert len(tr.translate(src[:3], beam=2)) == 3


def test_bad_settings_and_input_are_one_sentence():
    with pytest.raises(TypeError, match="has no setting 'heads'"):
        Translator(heads=2)
    with pytest.raises(ValueError, match="attention must be one of"):
        Translator(attention="dot").fit(["a"], ["b"])
    with pytest.raises(ValueError, match="1 source and 2 target sentences"):
        Translator().fit(["a"], ["b", "c"])
    with pytest.raises(TypeError, match="lists of sentences"):
        Translator().fit("a.txt", "b.txt")
    with pytest.raises(ValueError, match="no one-step cell"):
        Translator(cell="mingru", **{k: v for k, v in SETTINGS.items() if k != "epochs"},
                   epochs=1).fit(*toy(20, 7))
    from grukit.tasks.estimator import NotFittedError
    with pytest.raises(NotFittedError):
        Translator().translate(["a"])


def test_numpy_numbers_are_settings_like_pythons():
    # np.int64(8) hidden was refused at fit as "hidden must be a positive integer"
    import numpy as np

    tiny = SETTINGS | dict(epochs=1, hidden=8, embed=8)
    tr = Translator(**(tiny | dict(hidden=np.int64(8), lr=np.float32(0.5), epochs=np.int32(1),
                                   joint_vocab=np.bool_(False))))
    assert tr.get_config() == Translator(**(tiny | dict(lr=0.5))).get_config()
    assert type(tr.config.hidden) is int and type(tr.config.lr) is float
    tr.fit(*toy(30, 14))


def test_training_pairs_left_out_are_counted_by_reason():
    tiny = SETTINGS | dict(epochs=1, hidden=8, embed=8, max_len=4)
    src, tgt = ["ab cd", "", "ab cd ef gh ij kl", "ef"], ["DC BA", "HG", "X", "FE"]
    with pytest.warns(UserWarning, match="left out 2 training pair.s.: 1 with an empty side, "
                                         "1 over max_len=4 tokens"):
        Translator(**tiny).fit(src, tgt)
    with pytest.raises(ValueError, match=r"every training pair has an empty side .* \(2 "
                                         r"empty\)"):
        Translator(**tiny).fit(["", " "], ["a", "b"])


def test_validation_pairs_left_out_are_counted_in_a_warning():
    # they were dropped without a word: no validation at all when none was left
    tiny = SETTINGS | dict(epochs=1, hidden=8, embed=8, max_len=4)
    src, tgt = toy(40, 12)
    with pytest.warns(UserWarning, match=r"valid: left out 1 of 2 pair\(s\) with an empty side "
                                         r"or over max_len=4 tokens\.$"):
        Translator(**tiny).fit(src, tgt, valid=(["ab", ""], ["BA", "DC"]))
    with pytest.warns(UserWarning, match="left out 1 of 1 pair.*none is left, so training goes "
                                         "on without validation"):
        tr = Translator(**tiny).fit(src, tgt, valid=(["ab cd ef gh ij"], ["JI HG"]))
    assert "val_ppl" not in tr.history_.history


def test_validation_data_read_with_read_parallel_is_taken_and_other_shapes_are_one_sentence(
        tmp_path):
    # valid=read_parallel(...) failed inside: "argument after * must be an iterable"
    from grukit.data.parallel import read_parallel

    tiny = SETTINGS | dict(epochs=1, hidden=8, embed=8)
    src, tgt = toy(40, 12)
    vs, vt = toy(5, 13)
    (tmp_path / "v.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in zip(vs, vt, strict=True)))
    a = Translator(**tiny).fit(src, tgt, valid=read_parallel(str(tmp_path / "v.tsv")))
    b = Translator(**tiny).fit(src, tgt, valid=(vs, vt))
    assert a.history_.history["val_loss"] == b.history_.history["val_loss"]
    for bad in ((vs, vt, vt), vs, 3):
        with pytest.raises(TypeError, match="valid must be .source sentences, target sentences"):
            Translator(**tiny).fit(src, tgt, valid=bad)


def test_a_unigram_vocabulary_smaller_than_the_alphabet_is_one_sentence():
    with pytest.raises(ValueError, match=r"vocab_size=16 cannot hold every character of the "
                                         r"training text \(26 distinct\); raise vocab_size"):
        SubwordTokenizer("unigram", 16).fit(["the quick brown fox jumps over a lazy dog"])


@pytest.mark.parametrize("kw, match", [
    (dict(alpha=float("nan")), "alpha .* 0 or more; got nan"),
    (dict(alpha=-1.0), "alpha .* 0 or more; got -1.0"),
    (dict(lr=float("inf")), "lr must be a positive number; got inf"),
    (dict(max_seconds=float("inf")), "max_seconds must be a positive number or None"),
    (dict(seed=-1), "seed must be an integer from 0"),
    # True was a learning rate of 1 and a budget of 1 s; a bad clip was refused only after
    # the vocabularies were trained
    (dict(lr=True), "lr must be a positive number; got True"),
    (dict(max_seconds=True), "max_seconds must be a positive number or None; got True"),
    (dict(clip=-1.0), r"clip must be a number, 0 or more \(0: no clipping\); got -1.0"),
    (dict(clip=float("nan")), r"clip must be a number, 0 or more \(0: no clipping\); got nan"),
    (dict(clip=True), r"clip must be a number, 0 or more \(0: no clipping\); got True"),
])
def test_settings_that_would_fail_after_training_are_refused_before(kw, match, monkeypatch):
    # (NaN/Inf cannot be saved as JSON, a negative alpha fails the validation's decoding, a
    # negative seed numpy's generator)
    from grukit.tasks.translate import train

    monkeypatch.setattr(train, "fit_network", lambda *a, **k: pytest.fail("trained"))
    monkeypatch.setattr(SubwordTokenizer, "fit", lambda *a, **k: pytest.fail("tokenized"))
    with pytest.raises(ValueError, match=match):
        Translator(**kw).fit(*toy(20, 7))


# -- grukit translate ------------------------------------------------------------------------

TINY = ["--embed", "16", "--hidden", "24", "--vocab-size", "40", "--batch-tokens", "600",
        "--lr", "5e-3", "--dropout", "0", "--label-smoothing", "0"]


def _files(d, n=300):
    src, tgt = toy(n, 8)
    (d / "s.txt").write_text("".join(f"{x}\n" for x in src))
    (d / "t.txt").write_text("".join(f"{x}\n" for x in tgt))
    return str(d / "s.txt"), str(d / "t.txt")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    from grukit.cli import main

    d = tmp_path_factory.mktemp("tr")
    s, t = _files(d)
    base = ["translate", "train", "--src", s, "--tgt", t, "--valid-src", s, "--valid-tgt", t,
            *TINY]
    assert main(base + ["--epochs", "2", "--output", str(d / "run"), "--save",
                        str(d / "model")]) == 0
    assert main(base + ["--epochs", "3", "--output", str(d / "run"), "--resume", "--save",
                        str(d / "resumed")]) == 0
    assert main(base + ["--epochs", "3", "--output", str(d / "whole"), "--save",
                        str(d / "straight")]) == 0
    return d, s, t, base


def test_cli_train_saves_the_model_before_scoring_it(tmp_path, monkeypatch):
    from grukit.cli import main

    s, t = _files(tmp_path, n=40)

    def fail(*args, **kwargs):
        raise RuntimeError("scoring failed")

    monkeypatch.setattr(Translator, "evaluate", fail)
    with pytest.raises(RuntimeError, match="scoring failed"):
        main(["translate", "train", "--src", s, "--tgt", t, "--valid-src", s, "--valid-tgt", t,
              *TINY, "--epochs", "1", "--save", str(tmp_path / "model")])
    assert Translator.load(str(tmp_path / "model")).translate(["ab"], beam=1)


def test_cli_train_decodes_the_validation_set_in_batches_of_batch_size(tmp_path, monkeypatch):
    from grukit.cli import main

    s, t = _files(tmp_path, n=40)
    seen = []

    def evaluate(self, src, tgt, *, beam=None, alpha=None, batch_size=64):
        seen.append(batch_size)
        return {"bleu": 0.0, "chrf": 0.0, "perplexity": 1.0, "bleu_signature": ""}

    monkeypatch.setattr(Translator, "evaluate", evaluate)
    assert main(["translate", "train", "--src", s, "--tgt", t, "--valid-src", s, "--valid-tgt",
                 t, *TINY, "--epochs", "1", "--batch-size", "7"]) == 0
    assert seen and set(seen) == {7}


def test_cli_train_writes_null_for_the_perplexity_of_a_validation_set_beyond_max_len(tmp_path,
                                                                                     capsys):
    # its NaN was written into metrics.json, which is then no JSON (jq and strict readers
    # refuse it), as evaluate's was
    import json

    from grukit.cli import main

    s, t = _files(tmp_path, n=40)
    long = " ".join(["ab cd ef gh"] * 4)
    (tmp_path / "v.tsv").write_text(f"{long}\t{long.upper()}\n")
    with pytest.warns(UserWarning):
        assert main(["translate", "train", "--src", s, "--tgt", t, "--valid-src",
                     str(tmp_path / "v.tsv"), *TINY, "--epochs", "1", "--max-len", "12",
                     "--output", str(tmp_path / "o")]) == 0
    assert "perplexity none (no pair within max_len)" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text(),
                         parse_constant=lambda c: pytest.fail(f"{c} in metrics.json"))
    assert metrics["valid_beam1"]["perplexity"] is None


def test_cli_train_reads_a_gzipped_tsv_given_as_valid_src_alone(tmp_path, monkeypatch):
    import gzip

    from grukit.cli import main

    s, t = _files(tmp_path, n=40)
    pairs = list(zip(open(s).read().splitlines(), open(t).read().splitlines(), strict=True))
    with gzip.open(tmp_path / "val.tsv.gz", "wt") as f:
        f.write("".join(f"{a}\t{b}\n" for a, b in pairs[:5]))
    seen = []

    def evaluate(self, src, tgt, **kwargs):
        seen.append((src, tgt))
        return {"bleu": 0.0, "chrf": 0.0, "perplexity": 1.0, "bleu_signature": ""}

    monkeypatch.setattr(Translator, "evaluate", evaluate)
    assert main(["translate", "train", "--src", s, "--tgt", t, "--valid-src",
                 str(tmp_path / "val.tsv.gz"), *TINY, "--epochs", "1"]) == 0
    assert seen[0] == ([a for a, _ in pairs[:5]], [b for _, b in pairs[:5]])


def test_cli_resume_after_a_ctrl_c_before_a_checkpoint_lists_each_epoch_once(
        tmp_path, monkeypatch):
    import json

    from grukit.cli import main
    from grukit.models.callbacks import ModelCheckpoint

    s, t = _files(tmp_path, n=40)
    argv = ["translate", "train", "--src", s, "--tgt", t, *TINY, "--epochs", "3", "--output",
            str(tmp_path / "run")]
    write = ModelCheckpoint.on_epoch_end

    def interrupted(self, epoch, logs=None):  # Ctrl-C while epoch 2's checkpoint is written
        if epoch == 1:
            raise KeyboardInterrupt
        write(self, epoch, logs)

    monkeypatch.setattr(ModelCheckpoint, "on_epoch_end", interrupted)
    assert main(argv) == 130
    monkeypatch.setattr(ModelCheckpoint, "on_epoch_end", write)
    assert main(argv + ["--resume"]) == 0
    curve = json.loads((tmp_path / "run" / "metrics.json").read_text())["curve"]
    assert [c["epoch"] for c in curve] == [1, 2, 3]


def test_cli_ctrl_c_before_the_first_checkpoint_does_not_offer_resume(tmp_path, monkeypatch,
                                                                       capsys):
    from grukit.cli import main

    s, t = _files(tmp_path, n=40)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Translator, "fit", interrupted)
    assert main(["translate", "train", "--src", s, "--tgt", t, *TINY, "--epochs", "1",
                 "--output", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err
    assert "interrupted before any result" in err and "--resume" not in err, err


def test_cli_train_writes_metrics_checkpoint_and_model(cli_run):
    import json

    d = cli_run[0]
    metrics = json.loads((d / "run" / "metrics.json").read_text())
    assert [c["epoch"] for c in metrics["curve"]] == [1, 2, 3]
    assert "tokens_per_s" in metrics["curve"][0] and "bleu" in metrics["valid_beam1"]
    assert (d / "run" / "checkpoint.pt").is_file() and (d / "model" / "config.json").is_file()
    # the run was resumed for its third epoch: its training time is that of all three
    from grukit.models.saving import read_checkpoint

    total = read_checkpoint(str(d / "run" / "checkpoint.pt"))["extra"]["train"]
    assert metrics["train_seconds"] == pytest.approx(total, rel=1e-12)


def test_a_resumed_run_reports_the_training_seconds_of_the_whole_run(tmp_path):
    # metrics.json's train_seconds of a run resumed for its last epoch was that epoch's alone
    src, tgt = toy(60, 4)
    settings = SETTINGS | dict(hidden=8, embed=8)
    ckpt = str(tmp_path / "run.pt")
    first = Translator(**(settings | dict(epochs=1))).fit(src, tgt, checkpoint=ckpt)
    again = Translator(**(settings | dict(epochs=2))).fit(src, tgt, resume=ckpt)
    assert len(again.history_.train_seconds) == 1
    assert again.history_.run_train_seconds == pytest.approx(
        sum(first.history_.train_seconds) + again.history_.train_seconds[0], rel=1e-12)


def test_cli_resume_gives_the_weights_of_an_uninterrupted_run(cli_run):
    d = cli_run[0]
    a, b = Translator.load(str(d / "resumed")), Translator.load(str(d / "straight"))
    sa, sb = a.network_.state_dict(), b.network_.state_dict()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_cli_translates_a_file_and_stdin_as_the_loaded_model(cli_run, capsys, monkeypatch):
    import io

    from grukit.cli import main

    d, s, _, _ = cli_run
    lines = open(s).read().splitlines()[:5]
    want = Translator.load(str(d / "model")).translate(lines, beam=2)
    (d / "in.txt").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["translate", "--model", str(d / "model"), "--input", str(d / "in.txt"),
                 "--beam", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == want
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["translate", "--model", str(d / "model"), "--beam", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == want


def test_cli_writes_translations_as_they_come_and_keeps_them_on_ctrl_c(cli_run, capsys,
                                                                        monkeypatch):
    # the whole input was translated before a line was written: a Ctrl-C lost it all
    from grukit.cli import main
    from grukit.tasks.translate import cli as tc

    d, s, _, _ = cli_run
    lines = open(s).read().splitlines()[:5]
    want = Translator.load(str(d / "model")).translate(lines, beam=2)
    (d / "in5.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(tc, "CHUNK", 2)
    run = ["translate", "--model", str(d / "model"), "--input", str(d / "in5.txt"), "--beam",
           "2"]
    capsys.readouterr()
    assert main(run) == 0  # in chunks, the same translations
    assert capsys.readouterr().out.splitlines() == want
    real, calls = Translator.translate, []

    def second_interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Translator, "translate", second_interrupted)
    assert main(run) == 130
    out, err = capsys.readouterr()
    assert out.splitlines() == want[:2]
    assert "interrupted after 2 of 5 sentences" in err


def test_cli_stdin_is_read_as_a_utf8_file(cli_run, capsys, monkeypatch):
    import io

    from grukit.cli import main

    d = cli_run[0]
    model = ["translate", "--model", str(d / "model"), "--beam", "1"]
    want = Translator.load(str(d / "model")).translate(["ab cd", "ef"], beam=1)

    def stdin(data: bytes):  # as Python opens stdin in a C or POSIX locale
        return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape",
                                newline="\n")

    monkeypatch.setattr("sys.stdin", stdin(b"ab cd\r\nef\n"))
    capsys.readouterr()
    assert main(model) == 0
    assert capsys.readouterr().out.splitlines() == want
    monkeypatch.setattr("sys.stdin", stdin(b"ab cd\nef \xe9\n"))  # Latin-1
    assert main(model) == 2
    err = capsys.readouterr().err.strip()
    assert "'<stdin>' line" in err and "is not UTF-8" in err, err
    assert len(err.splitlines()) == 1, err


def test_cli_evaluate_prints_bleu_chrf_signatures_and_perplexity(cli_run, capsys):
    import json

    from grukit.cli import main

    d, s, t, _ = cli_run
    capsys.readouterr()
    assert main(["translate", "evaluate", "--model", str(d / "model"), "--src", s, "--tgt", t,
                 "--beam", "1"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"bleu", "chrf", "bleu_signature", "chrf_signature", "perplexity"} <= set(scores)
    assert scores["perplexity"] > 1
    # every pair over max_len: no perplexity, written as null in strict JSON
    long = d / "long.txt"
    long.write_text(" ".join(["a"] * 150) + "\n")
    with pytest.warns(UserWarning, match="leaves out 1 of 1"):
        assert main(["translate", "evaluate", "--model", str(d / "model"), "--src", str(long),
                     "--tgt", str(long), "--beam", "1", "--output", str(d / "ev")]) == 0

    def strict(name):
        raise ValueError(f"{name} in JSON")

    for text in (capsys.readouterr().out, (d / "ev" / "metrics.json").read_text()):
        assert json.loads(text, parse_constant=strict)["perplexity"] is None


def test_cli_evaluate_scores_every_line_as_sacrebleu_does(cli_run, capsys):
    # a pair with an empty side was left out of BLEU and chrF: `grukit translate` writes an
    # empty line for an empty source line, and sacreBLEU on the files scores its reference
    import json

    from sacrebleu.metrics import BLEU, CHRF

    from grukit.cli import main

    d, s, t, _ = cli_run
    src = open(s).read().splitlines()[:8] + ["", "ab cd"]
    ref = open(t).read().splitlines()[:8] + ["ZY XW VU", ""]
    (d / "e.src").write_text("".join(f"{x}\n" for x in src))
    (d / "e.ref").write_text("".join(f"{x}\n" for x in ref))
    capsys.readouterr()
    with pytest.warns(UserWarning, match="the perplexity leaves out 2 of 10"):
        assert main(["translate", "evaluate", "--model", str(d / "model"), "--src",
                     str(d / "e.src"), "--tgt", str(d / "e.ref"), "--beam", "1"]) == 0
    scores = json.loads(capsys.readouterr().out)
    hyp = Translator.load(str(d / "model")).translate(src, beam=1)
    assert hyp[8] == "" and scores["sentences"] == 10
    assert scores["bleu"] == round(BLEU().corpus_score(hyp, [ref]).score, 2)
    assert scores["chrf"] == round(CHRF().corpus_score(hyp, [ref]).score, 2)


def test_cli_evaluate_decodes_with_the_alpha_it_is_given(cli_run, capsys):
    import json

    from grukit.cli import main

    d, s, t, _ = cli_run
    tr = Translator.load(str(d / "model"))
    src, tgt = open(s).read().splitlines(), open(t).read().splitlines()
    want = tr.evaluate(src, tgt, beam=3, alpha=5.0)["bleu"]
    capsys.readouterr()
    assert main(["translate", "evaluate", "--model", str(d / "model"), "--src", s, "--tgt", t,
                 "--beam", "3", "--alpha", "5"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["alpha"] == 5.0 and scores["beam"] == 3 and scores["bleu"] == want
    with pytest.raises(ValueError, match="alpha .* 0 or more; got -1"):
        tr.translate(src[:2], beam=3, alpha=-1)


def test_cli_warns_on_a_foreign_input(cli_run, capsys, monkeypatch):
    import io

    from grukit.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("the quick brown fox\n"))
    assert main(["translate", "--model", str(cli_run[0] / "model"), "--beam", "1"]) == 0
    err = capsys.readouterr().err
    assert "warning: 100% of the input's words are unknown" in err


def test_cli_attention_writes_a_png(cli_run, capsys):
    from grukit.cli import main

    d = cli_run[0]
    assert main(["translate", "attention", "--model", str(d / "model"), "--sentence",
                 "ab cd", "--plot", str(d / "a.png")]) == 0
    assert (d / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["translate", "attention", "--model", str(d / "model"), "--sentence",
                 "ab cd", "--plot", str(d / "new" / "a.png")]) == 0  # its folder is made
    assert (d / "new" / "a.png").is_file()


def test_cli_attention_refuses_a_plot_path_it_cannot_write_before_translating(
        cli_run, capsys, tmp_path, monkeypatch):
    from grukit.cli import main

    d = cli_run[0]
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(Translator, "attention", lambda *a, **k: pytest.fail("translated"))
    for plot, text in ((tmp_path / "a.pdf", "is not a .png file name"),
                       (tmp_path, "is a folder"),
                       (tmp_path / "file" / "a.png", "is a file")):
        capsys.readouterr()
        assert main(["translate", "attention", "--model", str(d / "model"), "--sentence",
                     "ab cd", "--plot", str(plot)]) == 2
        err = capsys.readouterr().err.strip()
        assert text in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "a.pdf").exists()


def test_cli_bad_input_is_one_line_with_status_2(cli_run, capsys, tmp_path):
    from grukit.cli import main

    d, s, t, base = cli_run
    (tmp_path / "short.txt").write_text("x\n")
    cases = [
        (["translate", "train", "--src", s, "--tgt", str(tmp_path / "short.txt"), *TINY],
         "not aligned"),
        (["translate", "train", "--tgt", t], "needs --src"),
        (["translate", "train", "--src", s, "--tgt", t, "--valid-tgt", t],
         "--valid-tgt needs --valid-src"),
        (["translate", "train", "--src", s, "--tgt", t, "--valid-src", s],
         "line 1 has 0 tabs; a parallel TSV holds source<TAB>target"),
        (["translate", "train", "--src", s, "--tgt", t, "--minutes", "inf"],
         "--minutes must be a number above 0"),
        (["translate", "train", "--src", s, "--tgt", t, "--resume"], "--output folder"),
        (base + ["--output", str(d / "run")], "holds a run already"),
        (base + ["--hidden", "30", "--output", str(d / "run"), "--resume"],
         "other training settings"),
        (["translate", "--model", str(d / "model"), "--hidden", "8"], "--hidden set(s)"),
        (["translate", "--model", str(tmp_path / "none")], "is not a folder"),
        (["translate", "evaluate", "--model", str(d / "model")], "needs --src"),
        (["translate", "evaluate", "--model", str(d / "model"), "--src", s, "--tgt", t,
          "--output", str(d / "run")], "holds a training run"),
        (["translate", "--model", str(d / "model"), "--beam", "0"], "--beam must be 1"),
        (["translate", "evaluate", "--model", str(d / "model"), "--src", s, "--tgt", t,
          "--beam", "1", "--alpha", "2"], "beam 1 decodes greedily"),
        (["translate", "attention", "--model", str(d / "model")], "needs --sentence"),
        (["translate", "attention", "--model", str(d / "model"), "--sentence", "ab",
          "--beam", "3"], "--beam is not used by attention"),
        (["translate", "evaluate", "--model", str(d / "model"), "--src", s, "--tgt", t,
          "--input", s], "--input is not used by evaluate"),
        (base + ["--input", s, "--plot", "p.png"], "--input, --plot are not used by train"),
    ]
    metrics = (d / "run" / "metrics.json").read_text()
    for argv, text in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert text in err and len(err.splitlines()) == 1, (argv, err)
    assert (d / "run" / "metrics.json").read_text() == metrics


def test_a_cpu_clock_budget_stops_training_before_its_epochs():
    src, tgt = toy(200, 9)
    tr = Translator(**(SETTINGS | dict(epochs=50, max_seconds=0.05, clock="cpu"))).fit(src, tgt)
    assert tr.history_.stop_reason == "callback"
    assert len(tr.history_.history["loss"]) < 50
    with pytest.raises(ValueError, match="clock must be 'wall' or 'cpu'"):
        Translator(clock="gpu").fit(src, tgt)


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_a_resumed_run_counts_the_time_its_checkpoint_had_trained(clock, tmp_path):
    # the budget is the run's, as generate's is: a wall budget began anew at each resume (a
    # run stopped at 50 of --minutes 60 trained 60 more), and a cpu budget already spent
    # trained an epoch of no batch, logged with a loss of 0
    src, tgt = toy(60, 4)
    settings = SETTINGS | dict(hidden=8, embed=8, clock=clock)
    ckpt = str(tmp_path / "run.pt")
    first = Translator(**(settings | dict(epochs=1))).fit(src, tgt, checkpoint=ckpt)
    # the first epoch took more than a microsecond: the budget is spent
    again = Translator(**(settings | dict(epochs=3, max_seconds=1e-6))).fit(src, tgt,
                                                                             resume=ckpt)
    assert again.history_.stop_reason == "max_seconds"
    assert again.history_.history.get("loss", []) == []
    for k, v in first.network_.state_dict().items():
        assert torch.equal(again.network_.state_dict()[k], v), k


def test_unknown_characters_become_unk_and_long_inputs_are_cut_with_a_warning(trained):
    from grukit.tasks.translate.tokenizer import UNK_ID

    ids = trained.src_tok_.encode(["ab ☃ cd"])[0]
    assert UNK_ID in ids.tolist()
    assert isinstance(trained.translate(["ab ☃ cd"], beam=1)[0], str)
    long = " ".join(["ab"] * (trained.config.max_len + 5))
    with pytest.warns(UserWarning, match="longer than max_len=100 tokens were cut"):
        trained.translate([long], beam=1, max_len=5)


def test_matched_hidden_gives_an_lstm_the_grus_parameter_count():
    from grukit.tasks.translate.network import Shape, count_params, matched_hidden

    gru = count_params(Shape(300, 300, 32, 64, "gru"))
    h = matched_hidden(Shape(300, 300, 32, 64, "lstm"), gru)
    assert h < 64
    assert abs(count_params(Shape(300, 300, 32, h, "lstm")) - gru) / gru < 0.01


def test_a_learning_rate_far_too_large_warns_that_the_translator_learned_nothing():
    src, tgt = toy(60, 0)
    tr = Translator(**(SETTINGS | dict(epochs=2, hidden=8, embed=8, lr=1e3)))
    with pytest.warns(RuntimeWarning, match=r"learned nothing.*learning rate 1000"):
        tr.fit(src, tgt, valid=toy(10, 1))
