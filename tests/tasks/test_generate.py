"""grukit.tasks.generate: language models carry state exactly, attention is causal, sampling
is seeded and survives save/load bit for bit, bad input gets one sentence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grukit.tasks.generate import TextGenerator
from grukit.tasks.generate.data import read_text, split_text, streams
from grukit.tasks.generate.network import LanguageModel, NetSpec, carry, state_bytes
from grukit.tasks.generate.sampling import Stepper, pick
from grukit.tasks.generate.train import evaluate_ids
from grukit.tasks.generate.vocab import make_vocab, vocab_from_json

TEXT = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to "
        "suffer\nThe slings and arrows of outrageous fortune,\nOr to take arms against a sea "
        "of troubles\nAnd by opposing end them.\n") * 12

LAYOUTS = {  # id -> NetSpec keyword arguments
    "gru-stacked": dict(model="gru", layers=2),
    "lstm-stacked": dict(model="lstm", layers=2),
    "lngru-stacked": dict(model="lngru", layers=1),
    "mingru-residual": dict(model="mingru", layers=2, expansion=1.5, ff_expansion=2),
    "gru-residual": dict(model="gru", layers=2, residual=True),
    "hybrid": dict(model="hybrid", layers=2, heads=2),
    "transformer": dict(model="transformer", layers=2, heads=2),
}
TINY = dict(hidden=16, layers=1, seq_len=16, batch_size=4, max_steps=6, eval_every=3,
            warmup=0)


def _net(kind: str, dtype=torch.float64, **kw) -> LanguageModel:
    torch.manual_seed(0)
    net = LanguageModel(NetSpec(vocab_size=11, hidden=8, **({"context": 64} | LAYOUTS[kind] | kw)))
    return net.to(dtype).eval()


@pytest.fixture(scope="module")
def trained():
    return TextGenerator(**TINY).fit(text=TEXT)


# -- the networks ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(LAYOUTS))
def test_carrying_state_equals_running_the_long_sequence_at_once(kind):
    net = _net(kind)
    ids = torch.randint(0, 11, (2, 13), generator=torch.Generator().manual_seed(1))
    whole, _ = net(ids)
    a, s = net(ids[:, :5])
    b, s = net(ids[:, 5:9], s)
    c, _ = net(ids[:, 9:], s)
    torch.testing.assert_close(torch.cat([a, b, c], 1), whole, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("kind", ["gru-stacked", "mingru-residual"])
def test_stateful_windows_score_the_stream_as_one_long_sequence(kind):
    """evaluate_ids over windows with the state carried = one pass over each row."""
    net = _net(kind)
    ids = np.random.default_rng(2).integers(0, 11, 203)
    total, n = evaluate_ids(net, ids, batch=2, seq_len=7, stateful=True)
    rows = streams(ids, 2)  # (2, 101)
    logits, _ = net(rows[:, :-1])
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), rows[:, 1:].reshape(-1),
                                            reduction="sum")
    assert n == rows[:, 1:].numel()
    assert math.isclose(total, ref.item(), rel_tol=1e-10)


@pytest.mark.parametrize("size", [41, 44, 9], ids=["windows-end-at-the-end", "3-left-over",
                                                   "one-window"])
def test_window_models_are_scored_on_half_overlapping_windows_each_target_once(size):
    """Batched strided scoring = the windows run one by one; every target counted once (the
    targets after the last window too: a text of 44 tokens left its last 3 unscored)."""
    net = _net("transformer")
    ids = torch.as_tensor(np.random.default_rng(4).integers(0, 11, size))
    total, n = evaluate_ids(net, ids, batch=3, seq_len=8, stateful=False)
    ref, count, scored = 0.0, 0, 0  # scored: the targets scored so far are ids[1:scored + 1]
    starts = list(range(0, len(ids) - 8, 4))
    if starts[-1] + 8 < len(ids) - 1:
        starts.append(len(ids) - 9)  # the last window ends at the last token
    for start in starts:
        logits, _ = net(ids[None, start:start + 8])
        nll = torch.nn.functional.cross_entropy(logits[0], ids[start + 1:start + 9],
                                                reduction="none")
        kept = nll[scored - start:]
        ref, count, scored = ref + kept.sum().item(), count + kept.numel(), start + 8
    assert n == count == len(ids) - 1
    assert math.isclose(total, ref, rel_tol=1e-10)


@pytest.mark.parametrize("kind", ["hybrid", "transformer"])
def test_attention_models_are_causal_a_future_token_leaves_past_logits(kind):
    net = _net(kind)
    ids = torch.randint(0, 11, (1, 12), generator=torch.Generator().manual_seed(3))
    changed = ids.clone()
    changed[0, 8] = (ids[0, 8] + 1) % 11
    a, _ = net(ids)
    b, _ = net(changed)
    torch.testing.assert_close(a[:, :8], b[:, :8], atol=1e-12, rtol=0)
    assert (a[:, 8:] - b[:, 8:]).abs().max() > 1e-6


def test_carry_detaches_recurrent_state_and_drops_key_value_caches():
    net = _net("hybrid", torch.float32).train()
    _, state = net(torch.randint(0, 11, (2, 5)))
    assert state[1] is not None and state[0].requires_grad
    kept = carry(state)
    assert kept[1] is None and not kept[0].requires_grad


def test_tied_weights_share_one_tensor():
    net = _net("gru-stacked")
    assert net.head.weight is net.embed.weight
    untied = LanguageModel(NetSpec("gru", 11, 8, 1, tie_weights=False))
    assert untied.head.weight is not untied.embed.weight


def test_recurrent_state_stays_constant_while_the_transformer_cache_grows_to_its_window():
    sizes = {}
    for kind in ("gru-stacked", "transformer"):
        net = _net(kind, torch.float32, context=8)
        stepper = Stepper(net)
        stepper.prime(torch.tensor([1, 2]))
        seen = []
        for t in range(12):
            stepper.step(t % 11)
            seen.append(stepper.state_bytes)
        sizes[kind] = seen
    assert len(set(sizes["gru-stacked"])) == 1
    tr = sizes["transformer"]
    assert tr[0] < tr[4] and tr[-1] == tr[-2]  # grows, then capped by the window


@pytest.mark.parametrize("kind", ["gru-stacked", "lstm-stacked", "hybrid", "mingru-residual",
                                  "gru-residual", "transformer"])
def test_stepping_token_by_token_equals_the_forward_pass(kind):
    net = _net(kind, torch.float32)
    ids = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    ref, _ = net(ids[None])  # (1, T, V)
    stepper = Stepper(net)
    got = [stepper.prime(ids[:3])]
    got += [stepper.step(int(t)) for t in ids[3:]]
    torch.testing.assert_close(torch.stack(got), ref[0, 2:], atol=1e-5, rtol=1e-5)


# -- sampling -------------------------------------------------------------------------------
def test_pick_greedy_top_k_1_and_tiny_top_p_agree():
    logits = torch.tensor([0.1, 2.0, -1.0, 1.9])
    gen = torch.Generator().manual_seed(0)
    assert pick(logits, 0, None, 1.0, gen) == 1
    assert all(pick(logits, 1.0, 1, 1.0, gen) == 1 for _ in range(20))
    assert all(pick(logits, 1.0, None, 0.01, gen) == 1 for _ in range(20))
    draws = {pick(logits, 1.0, 2, 1.0, gen) for _ in range(200)}
    assert draws == {1, 3}  # top-2 keeps exactly the two most likely


def test_top_k_keeps_exactly_k_tokens_when_logits_tie():
    logits = torch.tensor([0.5, 1.0, 1.0, 1.0, -2.0])
    gen = torch.Generator().manual_seed(0)
    assert len({pick(logits, 1.0, 1, 1.0, gen) for _ in range(60)}) == 1
    assert len({pick(logits, 1.0, 2, 1.0, gen) for _ in range(200)}) == 2


def test_a_tiny_temperature_draws_the_most_likely_token():
    # logits / 1e-320 overflow to ±inf; shifted by the largest first, only it stays finite
    logits = torch.tensor([0.1, 2.0, -1.0, 1.9])
    gen = torch.Generator().manual_seed(0)
    for top_k, top_p in ((None, 1.0), (2, 1.0), (None, 0.5)):
        assert pick(logits, 1e-320, top_k, top_p, gen) == 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("settings", [(0, None, 1.0), (1.0, None, 1.0), (1.0, 2, 0.9)],
                         ids=["greedy", "sampled", "top-k-top-p"])
def test_nan_or_infinite_logits_are_refused_not_sampled(bad, settings):
    # greedy decoding returned the NaN's id; sampling failed inside torch.multinomial
    logits = torch.tensor([0.1, 2.0, bad, 1.9])
    with pytest.raises(ValueError, match="next-token scores are NaN or infinite"):
        pick(logits, *settings, torch.Generator().manual_seed(0))


def test_same_seed_same_text_and_after_save_and_load(trained, tmp_path):
    a = trained.generate("To be", 60, temperature=0.9, top_k=10, seed=5)
    assert a == trained.generate("To be", 60, temperature=0.9, top_k=10, seed=5)
    assert len(trained.vocab_.encode(a)) == 60
    trained.save(tmp_path / "m")
    loaded = TextGenerator.load(tmp_path / "m")
    assert loaded.generate("To be", 60, temperature=0.9, top_k=10, seed=5) == a
    for k, v in trained.network_.state_dict().items():
        assert torch.equal(v, loaded.network_.state_dict()[k]), k
    assert loaded.result_["val_loss"] == trained.result_["val_loss"]


@pytest.mark.parametrize("checkpoint_every, at, batching", [
    (3, 3, "stateful"), (2, 4, "stateful"), (3, 3, "windows")])
def test_a_run_resumed_from_a_checkpoint_has_the_curve_of_an_unbroken_one(
        tmp_path, checkpoint_every, at, batching):
    from grukit.tasks.generate.checkpoint import read_checkpoint, write_checkpoint

    settings = TINY | dict(max_steps=9, checkpoint_every=checkpoint_every, batching=batching)
    paths = {}

    def keep(gen, st, opt, carried):
        paths[st.step] = str(tmp_path / f"{st.step}.pt")
        write_checkpoint(paths[st.step], gen, st, opt, carried)

    unbroken = TextGenerator(**settings).fit(text=TEXT, checkpoint=keep)
    whole = unbroken.result_["curve"]
    resumed = TextGenerator(**settings).fit(text=TEXT, resume=read_checkpoint(paths[at]))
    assert [c["step"] for c in whole] == [3, 6, 9]
    for k, v in unbroken.network_.state_dict().items():  # the same batches (windows: drawn)
        assert torch.equal(v, resumed.network_.state_dict()[k]), k
    # the same validations (an epoch cut by the checkpoint averages fewer training losses)
    assert [(c["step"], c["val_loss"]) for c in resumed.result_["curve"]] == \
        [(c["step"], c["val_loss"]) for c in whole]


def test_a_checkpoint_resumes_only_with_the_settings_it_was_written_with(tmp_path):
    # another hidden failed inside torch's load_state_dict; another lr went on silently
    from grukit.tasks.generate.checkpoint import read_checkpoint, write_checkpoint

    path = str(tmp_path / "c.pt")
    TextGenerator(**(TINY | dict(max_steps=3))).fit(
        text=TEXT, checkpoint=lambda g, st, o, c: write_checkpoint(path, g, st, o, c))
    for kw, named in ((dict(hidden=24), "hidden=16"), (dict(lr=0.5), "lr=0.002"),
                      (dict(batching="windows", seq_len=8), "batching='auto', seq_len=16")):
        with pytest.raises(ValueError, match=f"written with other settings \\({named}\\); "
                                             f"give that run's settings"):
            TextGenerator(**(TINY | kw)).fit(text=TEXT, resume=read_checkpoint(path))
    g = TextGenerator(**(TINY | dict(max_steps=6))).fit(text=TEXT, resume=read_checkpoint(path))
    assert g.result_["steps"] == 6


def test_checkpoint_and_resume_take_a_file_path(tmp_path):
    # a path, as Translator.fit takes, failed at the first checkpoint, after its training, with
    # "'str' object is not callable" (resume: "'str' object has no attribute 'get'")
    from grukit.tasks.generate.checkpoint import read_checkpoint

    path = str(tmp_path / "run" / "c.pt")  # its folder made, as Translator.fit's is
    TextGenerator(**(TINY | dict(max_steps=3))).fit(text=TEXT, checkpoint=path)
    by_path = TextGenerator(**TINY).fit(text=TEXT, resume=path)
    by_body = TextGenerator(**TINY).fit(text=TEXT, resume=read_checkpoint(path))
    assert by_path.result_["steps"] == 6
    for k, v in by_body.network_.state_dict().items():
        assert torch.equal(v, by_path.network_.state_dict()[k]), k
    for kw, what in ((dict(checkpoint=3), "checkpoint"), (dict(resume=3), "resume")):
        with pytest.raises(TypeError, match=f"^{what} must be a file path or "):
            TextGenerator(**TINY).fit(text=TEXT, **kw)
    with pytest.raises(ValueError, match="is a folder; give a file in it"):
        TextGenerator(**TINY).fit(text=TEXT, checkpoint=str(tmp_path))


def test_streaming_pieces_join_to_the_generated_text(trained):
    pieces = []
    text = trained.generate("Or ", 40, seed=2, on_text=pieces.append)
    assert "".join(pieces) == text and len(pieces) == 40
    assert trained.last_stats_["tokens_per_second"] > 0


def test_fit_reports_nats_bits_and_perplexity(trained):
    r = trained.result_
    assert r["steps"] == 6 and r["curve"][-1]["step"] == 6
    assert math.isclose(r["val_bits_per_char"], r["val_loss"] / math.log(2), rel_tol=1e-12)
    assert math.isclose(r["val_perplexity"], math.exp(r["val_loss"]), rel_tol=1e-12)
    ev = trained.evaluate(text=TEXT[-300:])
    assert ev["tokens"] > 0 and ev["loss"] > 0


def test_a_diverged_models_loss_is_reported_and_saved(trained, tmp_path, monkeypatch):
    from grukit.tasks.generate import generator

    monkeypatch.setattr(generator, "evaluate_ids", lambda *a, **k: (1e8 * 10, 10))
    ev = trained.evaluate(text=TEXT[-300:])  # 1e8 nats a token: exp() overflows a float
    assert ev["loss"] == 1e8 and math.isfinite(ev["perplexity"])
    g = TextGenerator(**TINY).fit(text=TEXT)
    assert g.result_["val_loss"] == 1e8
    g.save(tmp_path / "m")
    assert TextGenerator.load(tmp_path / "m").result_["val_loss"] == 1e8


def test_training_lowers_the_loss_stateful_and_windows():
    for batching in ("stateful", "windows"):
        g = TextGenerator(**(TINY | dict(max_steps=60, lr=3e-2, eval_every=20,
                                         batching=batching))).fit(text=TEXT)
        first, last = g.result_["curve"][0], g.result_["curve"][-1]
        assert last["loss"] < first["loss"] - 0.3, batching
        assert last["val_loss"] < math.log(g.vocab_.size) - 0.3, batching


def test_bpe_generator_and_vocab_round_trip():
    vocab = make_vocab("bpe", 300).fit(TEXT)
    ids = vocab.encode("Whether 'tis nobler — ünïcode")
    assert vocab.decode(ids) == "Whether 'tis nobler — ünïcode"
    again = vocab_from_json(vocab.to_json())
    assert list(again.encode("the slings")) == list(vocab.encode("the slings"))
    g = TextGenerator(**(TINY | dict(tokenizer="bpe", vocab_size=300))).fit(text=TEXT)
    assert g.result_["val_bits_per_char"] > 0 and isinstance(g.generate("To", 10), str)


# -- data and bad input ---------------------------------------------------------------------
def test_a_lone_surrogate_in_a_bpe_text_is_one_sentence():
    # a byte that was not UTF-8, decoded with errors="surrogateescape", failed inside the
    # tokenizers library: "TextInputSequence must be str"
    from grukit.tasks.generate.vocab import make_vocab

    with pytest.raises(ValueError, match=r"the training text holds '\\udce9', a byte that was "
                                         r"not UTF-8 text"):
        make_vocab("bpe", 300).fit(TEXT + "\udce9")
    vocab = make_vocab("bpe", 300).fit(TEXT)
    with pytest.raises(ValueError, match=r"the prompt holds '\\udce9'"):
        vocab.encode("To \udce9", "the prompt")


def test_text_from_a_file_a_folder_and_a_csv_column(tmp_path):
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "skip.bin").write_bytes(b"\0\1")
    assert read_text(tmp_path / "a.txt") == "first"
    assert read_text(tmp_path) == "first\n\nsecond"
    (tmp_path / "drafts.txt").mkdir()  # a folder with a text file's name is no text file
    assert read_text(tmp_path) == "first\n\nsecond"
    (tmp_path / "t.csv").write_text("id,text\n1,hello\n2,world\n")
    assert read_text(tmp_path / "t.csv", column="text") == "hello\nworld"
    # a quoted cell keeps its line breaks (CRLF ones too) and a line separator character
    (tmp_path / "q.csv").write_bytes('id,text\r\n1,"two\r\nlines"\r\n2,"a\u2028b"\r\n'
                                     .encode())
    assert read_text(tmp_path / "q.csv", column="text") == "two\r\nlines\na\u2028b"
    with pytest.raises(ValueError, match="has no column 'body'; its columns are 'id', 'text'"):
        read_text(tmp_path / "t.csv", column="body")
    assert split_text("abcdefghij", 0.1) == ("abcdefghi", "j")


@pytest.mark.parametrize("column", [1, "1", -1, "-1", "text"],
                         ids=["int", "str-index", "negative-int", "negative-str", "name"])
def test_a_csv_column_by_index_reads_the_cells_below_the_header_as_by_name(tmp_path, column):
    # an int index raised AttributeError ('int' has no isdigit), and an index read the
    # header's name as the first line of the text
    (tmp_path / "t.csv").write_text("id,text\n1,hello\n2,world\n")
    assert read_text(tmp_path / "t.csv", column=column) == "hello\nworld"
    with pytest.raises(ValueError, match="has no column 2; its columns are 'id', 'text'"):
        read_text(tmp_path / "t.csv", column=2)


@pytest.mark.parametrize("content, match", [
    (b"", "holds no text"), (b"  \n\n", "holds no text"),
    (b"PK\x03\x04\0\0binary", "looks binary"), (b"caf\xe9", "is not UTF-8 text"),
    ("café\n".encode("utf-16"), "is UTF-16 text .*; convert it to UTF-8"),
], ids=["empty", "whitespace", "binary", "latin1", "utf16"])
def test_bad_data_files_are_refused_in_one_sentence(tmp_path, content, match):
    p = tmp_path / "data.txt"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        TextGenerator(**TINY).fit(p)


def test_a_validation_share_that_leaves_no_training_text_is_one_sentence():
    # the empty vocabulary of the empty training part was refused as "vocab_size ... got 0"
    with pytest.raises(ValueError, match=r"val_fraction=0.99 holds out all 8 characters of "
                                         r"the text, leaving none to train on"):
        TextGenerator(**(TINY | dict(val_fraction=0.99))).fit(text="abcdefgh")


def test_the_text_given_as_a_path_says_to_give_it_as_text(trained):
    # fit(text) for fit(text=text) answered "no file or folder at <the whole text>"
    with pytest.raises(ValueError, match=r"^data is a path, and this str of 1,308 characters "
                                         r"names no file or folder; it looks like the text "
                                         r"itself: give it as text=\.$"):
        TextGenerator(**TINY).fit(TEXT[:1308])
    with pytest.raises(ValueError, match="give it as text="):
        trained.evaluate(TEXT)


def test_a_column_with_the_text_itself_is_refused(trained):
    # text= is the text itself, no CSV: column was ignored without a word
    with pytest.raises(TypeError, match="column names a column of the CSV file data"):
        TextGenerator(**TINY).fit(text="a,b\n1,2\n", column="b")
    with pytest.raises(TypeError, match="column names a column of the CSV file data"):
        trained.evaluate(text=TEXT[:200], column=0)


def test_prompt_with_unseen_characters_names_them(trained):
    with pytest.raises(ValueError, match=r"the prompt has 2 character\(s\) the model never "
                                         r"saw in training: '\$', '€'"):
        trained.generate("To $be€", 5)


@pytest.mark.parametrize("kw, match", [
    (dict(length=0), "length must be a positive integer"),
    (dict(temperature=-1), "temperature must be a finite number ≥ 0"),
    (dict(temperature=math.inf), "temperature must be a finite number ≥ 0"),
    (dict(temperature=math.nan), "temperature must be a finite number ≥ 0"),
    (dict(top_k=0), "top_k must be a positive integer"),
    (dict(top_p=0), r"top_p must be a number in \(0, 1\]"),
    (dict(seed=2 ** 70), r"seed must be an integer from -2\*\*63 to 2\*\*64 - 1"),
    (dict(seed=1.5), r"seed must be an integer"),
], ids=["length-0", "temperature", "temperature-inf", "temperature-nan", "top-k", "top-p",
        "seed-huge", "seed-float"])
def test_bad_sampling_settings_are_refused(trained, kw, match):
    with pytest.raises(ValueError, match=match):
        trained.generate("To", **({"length": 5} | kw))


@pytest.mark.parametrize("kw, match", [
    (dict(model="gpt"), "unknown model 'gpt'; choose one of gru, lstm"),
    (dict(model="transformer", hidden=10, heads=4), "hidden=10 must divide by heads=4"),
    (dict(batching="tbptt"), "batching must be one of"),
    (dict(max_steps=0), "give a budget"),
    (dict(tokenizer="bpe", vocab_size=100), "vocab_size must be an integer of at least 257"),
    (dict(epochs=3), "TextGenerator has no setting 'epochs'"),
    (dict(seed=1.5), "seed must be an integer"),
    (dict(expansion=float("nan")), "expansion must be a finite number"),
], ids=["model", "heads", "batching", "budget", "bpe-size", "unknown", "seed", "expansion"])
def test_bad_settings_are_refused_in_one_sentence(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        TextGenerator(**kw).fit(text=TEXT)


@pytest.mark.parametrize("model", ["gru", "mingru"])
def test_an_unknown_norm_is_refused_whatever_the_model(model):
    # a stacked model (no norm layer) took norm="rsm" without a word and saved it
    with pytest.raises(ValueError, match="norm must be one of 'layer', 'rms'; got 'rsm'"):
        TextGenerator(model=model, norm="rsm")


def test_numpy_numbers_are_settings_like_pythons():
    # np.int64 batch_size was refused as "must be a positive integer; got np.int64(4)"
    import json

    g = TextGenerator(**(TINY | dict(batch_size=np.int64(4), lr=np.float32(0.5),
                                     hidden=np.int32(16), decay=np.bool_(False))))
    assert g.get_config() == TextGenerator(**(TINY | dict(lr=0.5, decay=False))).get_config()
    assert type(g.config.batch_size) is int and type(g.config.lr) is float
    json.dumps(g.get_config())


FLAGS = [("False", None), ("True", None), (None, None), (0.0, None), (1.0, None), ("", None),
         ([True], None), (np.array(True), None), (2, None), (np.bool_(False), False),
         (0, False), (np.int64(1), True), (True, True)]


@pytest.mark.parametrize("setting", ["tie_weights", "decay", "residual"])
@pytest.mark.parametrize("value,want", FLAGS, ids=repr)
def test_bool_settings_take_bools_0_and_1_and_refuse_the_rest(setting, value, want):
    """tie_weights="False" tied the weights (a string is truthy) and None untied them; numpy's
    bool, 0 and 1 are the bools they equal, stored as Python's (save writes JSON)."""
    if setting == "residual" and value is None:  # None: the cell's own layout
        assert TextGenerator(residual=None).config.residual is None
        return
    if want is None:
        with pytest.raises(ValueError, match=rf"^{setting} must be True or False"):
            TextGenerator(**{setting: value})
        if setting != "decay":  # the NetSpec that LanguageModel takes, too
            with pytest.raises(ValueError, match=rf"^{setting} must be True or False"):
                NetSpec("gru", 11, 8, 1, **{setting: value}).check()
        return
    got = getattr(TextGenerator(**{setting: value}).config, setting)
    assert got is want


def test_an_untied_model_given_as_0_saves_and_loads_untied(tmp_path):
    import json

    g = TextGenerator(**(TINY | dict(tie_weights=0))).fit(text=TEXT)
    assert g.network_.head.weight is not g.network_.embed.weight
    g.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())["config"]
    assert saved["tie_weights"] is False
    back = TextGenerator.load(tmp_path / "m")
    assert back.config.tie_weights is False
    torch.testing.assert_close(back.network_.head.weight, g.network_.head.weight,
                               rtol=0, atol=0)


@pytest.mark.parametrize("rate", [1.0, -0.1, math.nan])
def test_a_dropout_outside_0_1_is_refused(rate):
    # 1 zeroes every activation in training: the model would learn only its biases
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        TextGenerator(**(TINY | dict(dropout=rate))).fit(text=TEXT)


def test_a_model_folder_of_another_task_is_refused(tmp_path):
    from grukit.tasks.estimator import save_folder

    save_folder(str(tmp_path / "other"), "MusicModel", {"model": "gru"}, {},
                {"w": torch.zeros(1)})
    with pytest.raises(ValueError, match="holds a MusicModel, not a TextGenerator"):
        TextGenerator.load(tmp_path / "other")


def test_state_bytes_counts_tensors_and_caches():
    assert state_bytes((torch.zeros(2, 3), [torch.zeros(4, dtype=torch.float64), None])) == 56


def test_generation_profile_recurrent_constant_transformer_grows_to_its_window(trained):
    from grukit.tasks.generate.measure import generation_profile

    p = generation_profile(trained, (5, 30))
    assert p["bytes_per_token"] == 0 and p["tokens_per_second"] > 0
    assert p["state_bytes_at"][5] == 1 * 16 * 4  # one layer's h (1, 1, 16), float32
    tr = TextGenerator(**(TINY | dict(model="transformer", heads=2, max_steps=2))) \
        .fit(text=TEXT)
    at = generation_profile(tr, (5, 10, 40))["state_bytes_at"]
    per_token = 2 * 1 * 16 * 4  # keys and values, one layer, width 16, float32
    assert at[10] - at[5] == 5 * per_token  # prompt "\n" + tokens fed so far
    assert at[40] == (16 - 1) * per_token  # capped: the window (seq_len) less the new step


def test_generation_profile_takes_numpy_lengths_and_refuses_bad_ones(trained):
    # np.int64 lengths (from a grid) were refused, True was a length of 1, repeats=0 one run
    from grukit.tasks.generate.measure import generation_profile

    p = generation_profile(trained, (np.int64(3), 6))
    assert p["state_bytes_at"] == {3: 64, 6: 64}
    for kw, match in ((dict(lengths=(True, 4)), "lengths must be positive integers"),
                      (dict(lengths=(0, 4)), "lengths must be positive integers"),
                      (dict(repeats=0), "repeats must be a positive integer; got 0")):
        with pytest.raises(ValueError, match=match):
            generation_profile(trained, **({"lengths": (3, 6)} | kw))


def test_generation_profile_needs_no_newline_in_the_vocabulary():
    # its default prompt was "\n", which a character vocabulary without one refused
    from grukit.tasks.generate.measure import generation_profile

    g = TextGenerator(**TINY).fit(text=TEXT.replace("\n", " "))
    assert g.vocab_.unknown("\n") == ["\n"]
    assert generation_profile(g, (3, 6))["state_bytes_at"] == {3: 64, 6: 64}


def test_a_learning_rate_far_too_large_warns_that_the_model_learned_nothing():
    with pytest.warns(RuntimeWarning, match=r"language model learned nothing.*learning rate "
                                            r"1000"):
        TextGenerator(**(TINY | dict(lr=1e3))).fit(text=TEXT)
