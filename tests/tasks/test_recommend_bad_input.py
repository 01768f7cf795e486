"""Bad input to GRU4Rec and ``grukit recommend``: each case a one-line error naming the
problem, or the correct result."""

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
import torch

from grukit.cli import main
from grukit.data.sessions import Sessions
from grukit.tasks.recommend import GRU4Rec, evaluate

FAST = dict(hidden=8, epochs=2, n_sample=8, batch_size=8, seed=0)


def _sessions(lists, vocab):
    items = np.concatenate([np.asarray(s, np.int64) for s in lists])
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in lists])]).astype(np.int64)
    return Sessions(items, offsets, np.asarray(vocab))


def _lists(n=60, n_items=12, seed=0):
    rng = np.random.default_rng(seed)
    return [list(rng.integers(n_items, size=int(rng.integers(2, 5)))) for _ in range(n)]


@pytest.fixture(scope="module")
def model():
    return GRU4Rec(**FAST).fit(_sessions(_lists(), np.arange(100, 112)))


def test_unknown_items_are_named_or_skipped_when_asked(model):
    with pytest.raises(ValueError, match=r"session_items holds 2 item id\(s\) this model never "
                                         r"saw in training: 7, 'x'; drop them or pass "
                                         r"unknown='skip'\."):
        model.recommend([100, 7, "x"], k=3)
    assert model.recommend([100, 7, "x"], k=3, unknown="skip") == model.recommend([100], k=3)
    with pytest.raises(ValueError, match="unknown must be 'raise' or 'skip'; got 'drop'"):
        model.recommend([100], unknown="drop")


def test_ids_of_another_type_are_found_or_named(model):
    # 1.0 and "101" stand for the integer item 101; True and 101.5 are no item
    assert model.recommend([101.0], k=3) == model.recommend([101], k=3)
    assert model.recommend(["101"], k=3) == model.recommend([np.int64(101)], k=3)
    with pytest.raises(ValueError, match=r"never saw in training: True, 101\.5;"):
        model.recommend([True, 101.5])
    # a torch tensor or a pandas Series of ids is the ids it holds (a tensor's were named as
    # items never seen: tensor(100), tensor(101))
    want = model.recommend([100, 101], k=3)
    for given in (torch.tensor([100, 101]), torch.tensor([100.0, 101.0]),
                  pd.Series([100, 101], index=[7, 3]), np.array([100, 101], np.uint16)):
        assert model.recommend(given, k=3) == want
    with pytest.raises(ValueError, match=r"one session, a 1-D list of item ids; got shape "
                                         r"\(1, 2\)\."):
        model.recommend(torch.tensor([[100, 101]]))


def test_an_empty_session_is_refused_and_popular_gives_the_cold_start_list(model):
    with pytest.raises(ValueError, match=r"session_items is empty; .* \(popular\(k\) gives the "
                                         r"cold-start list\)\."):
        model.recommend([])
    with pytest.raises(ValueError, match="session_items holds no item this model knows"):
        model.recommend(["nope"], unknown="skip")
    with pytest.raises(ValueError, match="session_items is empty"):
        model.recommend(iter([]))
    with pytest.raises(ValueError, match="session_items holds no item this model knows"):
        model.recommend((v for v in ["nope"]), unknown="skip")
    assert model.recommend(iter([100, 101]), k=3) == model.recommend([100, 101], k=3)
    pop = model.popularity_
    assert model.popular(3) == (100 + np.argsort(-pop, kind="stable")[:3]).tolist()


@pytest.mark.parametrize("k,message", [
    (0, "k must be a whole number, 1 or more; got 0."),
    (-1, "k must be a whole number, 1 or more; got -1."),
    (2.5, "k must be a whole number, 1 or more; got 2.5."),
    (13, "k=13 is more than the 12 items this model knows; give k between 1 and 12."),
])
def test_k_out_of_range_is_refused(model, k, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        model.recommend([100], k=k)
    assert len(model.recommend([100], k=12)) == 12  # the whole catalogue is allowed
    assert model.recommend([100]) == model.recommend([100], k=12)  # default 20, capped
    table = model.predict(pd.DataFrame({"session": [1, 1], "item": [100, 101]}))
    assert table["item"].tolist() == model.recommend([100, 101], k=12)  # predict's too


def test_a_string_or_a_scalar_is_not_a_session(model):
    with pytest.raises(TypeError, match=r"got str '100' \(wrap a single item in a list\)"):
        model.recommend("100")
    with pytest.raises(TypeError, match=r"got int 100 \(wrap a single item in a list\)"):
        model.recommend(100)


def test_a_set_is_not_a_session_for_it_keeps_no_order(model):
    # the set's own order was taken as the order of the events, silently
    for unordered in ({100, 101}, frozenset({100}), {100: 1}):
        with pytest.raises(TypeError, match="which keeps no order of events"):
            model.recommend(unordered, unknown="skip")
    assert model.recommend((100, 101), k=3) == model.recommend([100, 101], k=3)


@pytest.mark.parametrize("setting,value", [
    ("epochs", 0), ("epochs", -1), ("batch_size", 0), ("n_sample", -1), ("hidden", 0),
    ("layers", 0), ("epochs", 2.0), ("hidden", True), ("seed", -1),
])
def test_settings_below_their_least_are_refused(setting, value):
    with pytest.raises(ValueError, match=rf"{setting} must be a whole number, "
                                         rf"{0 if setting in ('n_sample', 'seed') else 1} or "
                                         rf"more; got {value!r}\."):
        GRU4Rec(**{setting: value})


@pytest.mark.parametrize("setting,value,message", [
    ("learning_rate", 0.0, "learning_rate must be a finite number above 0"),
    ("learning_rate", float("nan"), "learning_rate must be a finite number above 0"),
    ("dropout_hidden", 1.0, r"dropout_hidden must be a rate in \[0, 1\)"),
    ("elu_param", -0.5, "elu_param must be a finite number 0 or more"),
    ("loss", "hinge", "loss must be one of"),
    ("tied", "yes", "tied must be True or False"),
    # each an overflow in torch (a traceback) at the first seed or optimizer step
    ("seed", 2 ** 64, r"seed must be below 2\*\*64; got 18446744073709551616\."),
    ("learning_rate", 1e308, r"learning_rate must be at most 3\.403e\+38 \(the largest "
                             r"float32\); got 1e\+308\."),
])
def test_other_settings_are_checked(setting, value, message):
    with pytest.raises(ValueError, match=message):
        GRU4Rec(**{setting: value})


@pytest.mark.parametrize("value,want", [
    ("False", None), ("", None), (None, None), (0.0, None), (1.0, None), (2, None),
    ([True], None), (np.bool_(False), False), (np.bool_(True), True), (0, False), (1, True),
    (np.int64(1), True)], ids=repr)
def test_tied_takes_bools_0_and_1_and_refuses_the_rest(value, want):
    """numpy's bool, 0 and 1 are the bools they equal (each was refused), stored as
    Python's so that save writes JSON; anything else is one sentence."""
    import json

    if want is None:
        with pytest.raises(ValueError, match=r"^tied must be True or False; got "):
            GRU4Rec(tied=value)
        return
    model = GRU4Rec(tied=value)
    assert model.config.tied is want
    assert json.loads(json.dumps(model.get_config()))["tied"] is want


@pytest.mark.parametrize("value", ["False", None, 1.0, [True]], ids=repr)
def test_the_network_and_recommend_refuse_a_flag_that_is_no_bool(model, value):
    """GRU4RecNet(tied="False") tied the output to the embedding and tied=None untied it;
    recommend(return_scores="False") returned (item, score) pairs."""
    from grukit.tasks.recommend import GRU4RecNet

    with pytest.raises(ValueError, match=r"^GRU4RecNet: tied must be True or False; got "):
        GRU4RecNet(10, 4, tied=value)
    with pytest.raises(ValueError, match=r"^return_scores must be True or False; got "):
        model.recommend([100], k=3, return_scores=value)
    assert not hasattr(GRU4RecNet(10, 4, tied=np.bool_(True)), "out_weight")
    assert model.recommend([100], k=3, return_scores=0) == model.recommend([100], k=3)


@pytest.mark.parametrize("setting", [dict(hidden=10 ** 11), dict(n_sample=10 ** 13),
                                     dict(hidden=4 * 10 ** 19)])
def test_settings_past_the_machines_memory_are_refused_before_training(setting, tmp_path,
                                                                       capsys):
    """torch's allocator failed in a traceback (an overflow past int64), part way in."""
    with pytest.raises(ValueError, match=r"over 12 items need at least [\d,.]+ GiB, more than "
                                         r"this machine's [\d,.]+ GiB of memory; lower them\.$"):
        GRU4Rec(**(FAST | setting)).fit(_sessions(_lists(), np.arange(12)))
    rows = "".join(f"{s},{10 + s % 3},{s * 9 + j}\n" for s in range(20) for j in (0, 1))
    path = _file(tmp_path, "e.csv", "SessionId,ItemId,Time\n" + rows)
    flag, value = next(iter(setting.items()))
    assert main(["recommend", "--train", path, "--test", path, "--batch-size", "2",
                 f"--{flag.replace('_', '-')}", str(value), "--output",
                 str(tmp_path / "o")]) == 2
    assert "GiB of memory; lower them." in capsys.readouterr().err
    assert not (tmp_path / "o" / "metrics.json").exists()  # refused before the baselines


def test_a_sample_alpha_that_overflows_the_sampling_is_refused():
    """torch.multinomial refused the NaN probabilities in a traceback."""
    with pytest.raises(ValueError, match=r"^sample_alpha=1000 raises the largest item count "
                                         r"\(\d+\) past float32's range; lower it"):
        GRU4Rec(**FAST, sample_alpha=1000).fit(_sessions(_lists(), np.arange(12)))


@pytest.mark.parametrize("setting,named", [
    (dict(logq=1e308), r"or logq \(now 1e\+308\)\.$"),
    (dict(loss="bpr-max", bpreg=1e308), r"or bpreg \(now 1e\+308\)\.$"),
])
def test_a_loss_gone_non_finite_names_the_setting_that_may_cause_it(setting, named):
    """The hint named learning_rate alone, which was not the cause here."""
    with pytest.raises(ValueError, match=r"training stopped\. Lower learning_rate \(now "
                                         r"0\.05\) " + named):
        GRU4Rec(**(FAST | setting)).fit(_sessions(_lists(), np.arange(12)))


def test_logq_with_the_bpr_max_loss_is_refused_for_it_does_nothing_there():
    train = _sessions(_lists(), np.arange(12))
    with pytest.raises(ValueError, match=r"^logq=1\.0 corrects the cross-entropy loss and "
                                         r"does nothing with loss='bpr-max'; set logq=0"):
        GRU4Rec(**FAST, loss="bpr-max", logq=1.0).fit(train)  # trained as if logq=0
    GRU4Rec(**FAST, loss="bpr-max", logq=0.0).fit(train)


def test_n_sample_zero_means_in_batch_negatives_only():
    model = GRU4Rec(**(FAST | {"n_sample": 0})).fit(_sessions(_lists(), np.arange(12)))
    assert model.get_config()["n_sample"] == 0 and np.isfinite(model.history_.history["loss"]).all()
    with pytest.raises(ValueError, match="batch_size=1 with n_sample=0 leaves no negative"):
        GRU4Rec(**(FAST | {"n_sample": 0, "batch_size": 1}))  # trained on a loss of 0


def test_sessions_of_one_event_and_foreign_item_maps_are_refused(model):
    with pytest.raises(ValueError, match=r"train: session 1 has 1 event\(s\); every session "
                                         r"needs 2 or more"):
        GRU4Rec(**FAST).fit(_sessions([[0, 1], [2], [3, 4]] * 10, np.arange(5)))
    other = _sessions([[0, 1]], np.arange(200, 212))
    with pytest.raises(ValueError, match=r"indexed with another item map .*model.index"):
        model.evaluate(other)
    with pytest.raises(TypeError, match="train must be Sessions .* got a list"):
        GRU4Rec(**FAST).fit([[1, 2], [3, 4]])
    # a scorer of other slots than evaluate's failed in torch's words (a mask of shape 4)
    mine = _sessions([[0, 1], [2, 3]], model.items_.ids)
    assert evaluate(model.scorer(4), mine, batch_size=4) == model.evaluate(mine, batch_size=4)
    with pytest.raises(ValueError, match=r"^this scorer carries 64 session slots and was given "
                                         r"4; make it with the batch_size that evaluate is"):
        evaluate(model.scorer(64), mine, batch_size=4)
    with pytest.raises(ValueError, match="batch_size must be a whole number, 1 or more; got 0"):
        model.scorer(0)


def test_predict_and_index_say_they_take_events_not_sessions(model):
    s = _sessions([[0, 1], [2, 3]], model.items_.ids)
    for call in (model.predict, model.index):  # said: "must be Sessions ... got a Sessions"
        with pytest.raises(TypeError, match="events must be a DataFrame of events, not "
                                            "Sessions .* got a Sessions"):
            call(s)
    with pytest.raises(TypeError, match="events must be Sessions .* got a list"):
        model.evaluate([[100, 101]])


def test_sessions_of_narrow_integer_items_train_and_bools_or_floats_are_refused(model):
    lists = _lists()
    train = _sessions(lists, np.arange(12))
    want = GRU4Rec(**FAST).fit(train).evaluate(train)
    narrow = dataclasses.replace(train, items=train.items.astype(np.uint8))  # torch refused it
    assert GRU4Rec(**FAST).fit(narrow).evaluate(narrow) == want
    # lists for arrays: a vocabulary as a list failed as AttributeError ('list' ... 'tolist')
    listed = Sessions(train.items.tolist(), train.offsets.tolist(), train.vocab.tolist())
    assert GRU4Rec(**FAST).fit(listed).evaluate(listed) == want
    for bad in (train.items.astype(bool), train.items.astype(np.float64)):
        odd = dataclasses.replace(train, items=bad)  # bools were read as items 0 and 1
        with pytest.raises(ValueError, match=r"train: items must be whole-number indices "
                                             r"\(int64\); got dtype (bool|float64)\.$"):
            GRU4Rec(**FAST).fit(odd)
        with pytest.raises(ValueError, match=r"test: items must be whole-number indices"):
            model.evaluate(dataclasses.replace(odd, vocab=model.items_.ids))


def test_python_int_ids_past_int64_are_refused_in_one_sentence():
    events = pd.DataFrame({"session": [1, 1, 2, 2] * 5, "item": [2 ** 70, 5, 5, 6] * 5,
                           "time": range(20)})  # an object column: numpy's OverflowError
    with pytest.raises(ValueError, match=r"^item id 1180591620717411303424 lies past the "
                                         r"int64 range; give such ids as text"):
        GRU4Rec(**(FAST | {"batch_size": 2})).fit(events)
    model = GRU4Rec(**(FAST | {"batch_size": 2})).fit(events.assign(item=events["item"]
                                                                   .astype(str)))
    assert model.recommend([str(2 ** 70)], k=1)[0] in {str(2 ** 70), "5", "6"}


def test_events_are_indexed_with_the_models_own_item_map(model):
    events = pd.DataFrame({"session": [1, 1, 1, 2, 2, 3],
                           "item": [100, 101.0, 999, 102, 103, 104],
                           "time": [1, 2, 3, 1, 2, 1]})
    s = model.index(events)
    assert s.report == {"events": 4, "sessions": 2, "dropped_unseen_item_events": 1,
                        "dropped_short_sessions": 1}
    assert s.vocab is model.items_.ids and s.session(0).tolist() == [0, 1]
    assert model.evaluate(events) == model.evaluate(s)


def test_event_frames_whose_times_or_items_do_not_sort_are_refused(model):
    events = pd.DataFrame({"session": [1] * 11, "item": [100 + i for i in range(11)],
                           "time": [str(t) for t in range(11)]})  # "10" sorts before "2"
    for call in (lambda e: GRU4Rec(**FAST).fit(e), lambda e: model.predict(e, k=2),
                 model.evaluate, model.index):
        with pytest.raises(ValueError, match=r"time column of the (training )?events holds "
                                             r"str values, which do not sort as times"):
            call(events)
    with pytest.raises(ValueError, match=r"the events hold 1 missing value\(s\) in column "
                                         r"'time'; drop those events first"):
        model.index(events.assign(time=[1.0, np.nan] + [float(t) for t in range(2, 11)]))
    with pytest.raises(ValueError, match=r"the training events hold 1 missing value\(s\) in "
                                         r"column 'session'"):
        GRU4Rec(**FAST).fit(events.assign(time=range(11), session=[1.0] * 10 + [np.nan]))
    with pytest.raises(ValueError, match=r"item id 'x' is neither a whole number nor text \(or "
                                         r"numbers and text are mixed\)"):
        GRU4Rec(**FAST).fit(events.assign(time=range(11), item=[1] * 10 + ["x"]))
    dated = events.assign(time=pd.to_datetime(list(range(11)), unit="s"))
    assert model.index(dated).session(0).tolist() == list(range(11))
    since = events.assign(time=pd.to_timedelta(list(range(11)), unit="s"))
    assert model.index(since).session(0).tolist() == list(range(11))


def test_event_frames_with_a_column_twice_or_no_event_are_refused_in_one_sentence(model):
    events = pd.DataFrame([[1, 100, 100], [1, 101, 101]], columns=["session", "item", "item"])
    for call in (lambda e: GRU4Rec(**FAST).fit(e), model.predict, model.evaluate):
        with pytest.raises(ValueError, match=r"the (training )?events have 2 columns named "
                                             r"'item'; keep one\.$"):
            call(events)  # pandas' "truth value of a Series is ambiguous"
    empty = pd.DataFrame({"session": [], "item": [], "time": []})
    with pytest.raises(ValueError, match=r"^the training events are empty; next-item "
                                         r"training needs sessions of 2 or more events\.$"):
        GRU4Rec(**FAST).fit(empty)  # was: "the item vocabulary must be ... got shape (0,)"


def test_index_sessions_refuses_item_ids_of_mixed_types_in_one_sentence():
    from grukit.data import index_sessions

    events = pd.DataFrame({"session": [1, 1, 2, 2], "item": [2, "a", 3, "b"]})
    with pytest.raises(ValueError, match=r"^the training item ids mix types \(int, str\); "
                                         r"make them all whole numbers or all text"):
        index_sessions(events)  # numpy's sort: '<' not supported between 'str' and 'int'


def test_text_ids_keep_their_type_through_fit_and_recommend():
    vocab = np.array([f"p{i}" for i in range(12)], dtype=object)
    m = GRU4Rec(**FAST).fit(_sessions(_lists(), vocab))
    top = m.recommend(["p1", "p2"], k=3)
    assert all(type(v) is str for v in top)
    with pytest.raises(ValueError, match=r"never saw in training: 5 \(this model's item ids are "
                                         r"text\)"):
        m.recommend([5])


# -- event files given to the CLI -----------------------------------------------------------

def _file(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_text(text, encoding=encoding)
    return str(p)


@pytest.mark.parametrize("name,text,encoding,message", [
    ("cols.csv", "sid,product,ts\n1,a,1\n", "utf-8",
     "no session column known (columns: ['sid', 'product', 'ts']); name it with "
     "--session-column"),
    ("header.csv", "SessionId,ItemId,Time\n", "utf-8", "has a header but no events."),
    ("u16.csv", "SessionId,ItemId,Time\n1,2,3\n", "utf-16",
     "is UTF-16 (or another encoding with NUL bytes), not text pandas can split; save it as "
     "UTF-8."),
    ("time.csv", "SessionId,ItemId,Time\n1,2,2016-05-01\n1,3,someday\n", "utf-8",
     "time column 'Time' holds 'someday' (line 3), which is neither a number"),
    ("frac.csv", "SessionId,ItemId,Time\n1,2,1\n1,2.5,2\n", "utf-8",
     "item column 'ItemId' holds 2.5 (line 3); item ids must be whole numbers or text."),
    ("twice.csv", "SessionId,ItemId,Time\n1,7,1\n1,7.0,2\n1,x,3\n", "utf-8",
     "item ids '7' and '7.0' in column 'ItemId' are one number written two ways"),
    ("ms.csv", "SessionId,ItemId,Time\n1,2,1462800000000\n1,3,1462800001000\n", "utf-8",
     "which as Unix seconds lies beyond the year 5000 (milliseconds?)"),
    # the separator is sniffed among , tab ; | and space only: once the letter s split a
    # one-column header SessionId into 'Se', 'Unnamed: 1', 'ionId'
    ("one.csv", "SessionId\n1\n2\n", "utf-8",
     "has one column ('SessionId'): no comma, tab, semicolon, pipe or space separates its "
     "header, and an event file needs session, item and time columns; give --sep when "
     "another character separates them."),
    ("colon.csv", "SessionId:ItemId:Time\n1:2:3\n1:3:4\n", "utf-8",
     "has one column ('SessionId:ItemId:Time')"),
    ("blank.csv", "\n\n", "utf-8", "holds no header"),
])
def test_bad_event_files_are_one_line_errors(tmp_path, capsys, name, text, encoding, message):
    path = _file(tmp_path, name, text, encoding)
    assert main(["recommend", "--data", path, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"grukit recommend: error: '{path}'") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("how", [{}, {"days": False}, {"require_time": False}])
def test_an_infinite_time_is_refused_by_every_reading(tmp_path, how):
    """inf sorted as the last event of its session (-inf as the first) wherever no day was
    needed: predict, --train/--test."""
    from grukit.data import read_events

    path = _file(tmp_path, "inf.csv", "SessionId,ItemId,Time\n1,1,2\n1,2,-inf\n1,3,4\n")
    with pytest.raises(ValueError, match=r"time column 'Time' holds -inf \(line 3\), which "
                                         r"is no time; give finite numbers or dates\."):
        read_events(path, **how)


def test_a_session_with_no_day_is_refused_by_the_split(tmp_path, capsys):
    """A session whose day cells are all empty went to training whatever its time."""
    path = _file(tmp_path, "d.csv", "session_id;user_id;item_id;timeframe;eventdate\n"
                 "1;NA;5;300;2016-05-09\n1;NA;6;100;2016-05-09\n2;NA;5;300;\n2;NA;6;400;\n"
                 "3;NA;5;300;2016-05-20\n3;NA;7;400;\n")
    assert main(["recommend", "--data", path, "--test-days", "3", "--epochs", "1"]) == 2
    assert capsys.readouterr().err == (
        "grukit recommend: error: 1 session(s) have no day on any event (the first: session "
        "2), so neither side of the split can be told; fill their day (or time) or drop "
        "their events.\n")


def test_a_separator_of_several_characters_is_refused_and_backslash_t_is_a_tab(tmp_path,
                                                                                capsys):
    path = _file(tmp_path, "e.tsv", "SessionId\tItemId\tTime\n1\t10\t5\n1\t11\t6\n")
    for sep in (";;", "", "tab"):  # pandas' C engine raised a traceback for each
        assert main(["recommend", "--data", path, "--sep", sep]) == 2
        assert capsys.readouterr().err == (
            f"grukit recommend: error: the separator (--sep) must be one character (a tab: "
            f"'\\t'); got {sep!r}.\n")
    from grukit.data import read_events

    assert read_events(path, sep="\\t")["item"].tolist() == [10, 11]  # --sep '\t' in a shell


def test_ids_past_2_to_the_53_stay_distinct_and_past_int64_are_text(tmp_path):
    """A missing cell made an id column float, and floats past 2**53 hold no longer every
    whole number: items ...567 and ...568 were read as one item (and sessions merged the
    same way); ids past the int64 range (uint64) wrapped and ended in a KeyError."""
    from grukit.data import index_sessions, read_events

    a, b = 12345678901234567, 12345678901234568
    path = _file(tmp_path, "big.csv", f"SessionId,ItemId,Time\n{a},{a},1\n{a},{b},2\n"
                                      f"{a},,3\n{b},{b},4\n{b},{a},5\n")
    ev = read_events(path)
    assert ev["item"].tolist() == [a, b, b, a] and ev["session"].tolist() == [a, a, b, b]
    assert index_sessions(ev)[0].n_sessions == 2
    bom = tmp_path / "bom.csv"  # Latin-1 after a UTF-8 mark: the first name holds the mark
    bom.write_bytes(f"\ufeffSessionId,ItemId,Time\n{a},caf\u00e9,1\n{a},b,2\n,b,3\n"
                    f"{b},b,4\n{b},a,5\n".encode().replace(b"\xc3\xa9", b"\xe9"))
    assert read_events(str(bom))["session"].tolist() == [a, a, b, b]
    top = 2 ** 64 - 1
    path = _file(tmp_path, "u64.csv", f"SessionId,ItemId,Time\n1,{top},1\n1,12,2\n")
    assert read_events(path)["item"].tolist() == [str(top), "12"]
    with pytest.raises(ValueError, match=f"item id {top} lies past the int64 range; give such "
                                         f"ids as text"):
        GRU4Rec(**FAST).fit(pd.DataFrame({"session": [1, 1], "item": np.array([top, 12],
                                                                              np.uint64)}))


def test_test_days_past_pandas_range_leave_no_training_sessions(tmp_path, capsys):
    rows = "".join(f"{s},{10 + s % 3},{s * 86400 + j}\n" for s in range(6) for j in (0, 1))
    path = _file(tmp_path, "e.csv", "SessionId,ItemId,Time\n" + rows)
    assert main(["recommend", "--data", path, "--test-days", "999999999"]) == 2  # traceback
    assert capsys.readouterr().err == (
        "grukit recommend: error: splitting off the last 999999999 days leaves no training "
        "sessions (data spans 1970-01-01 to 1970-01-06).\n")
    from grukit.data import read_events, split_by_days

    ev = read_events(path)
    assert split_by_days(ev, 5)[0]["session"].unique().tolist() == [0]
    with pytest.raises(ValueError, match="the last 6 days leaves no training"):
        split_by_days(ev, 6)
    with pytest.raises(ValueError, match=r"^the events have no 'day' column \(columns: "
                                         r"\['session', 'item', 'time'\]\); read them with "
                                         r"read_events"):
        split_by_days(ev[["session", "item", "time"]], 5)  # was a KeyError


@pytest.mark.parametrize("flags,message", [
    (["--session-column", "ItemId"], "column 'ItemId' is named as both the session and the "
                                     "item column; name a column of its own for each."),
    (["--time-column", "SessionId"], "column 'SessionId' is named as both the session and "
                                     "the time column"),
])
def test_one_column_named_for_two_roles_is_refused(tmp_path, capsys, flags, message):
    """Items taken as sessions (or sessions as times) trained and scored without a word."""
    path = _file(tmp_path, "e.csv", "SessionId,ItemId,Time\n1,10,5\n1,11,6\n2,10,7\n")
    assert main(["recommend", "--train", path, "--test", path, *flags]) == 2
    assert capsys.readouterr().err == f"grukit recommend: error: '{path}': {message}" + \
        ("" if message.endswith(".") else "; name a column of its own for each.") + "\n"


def test_gzip_files_are_read_and_other_archives_refused_in_one_sentence(tmp_path, capsys):
    """A .csv.gz (which pandas reads) was refused as UTF-16 for its NUL bytes."""
    import gzip
    import zipfile

    from grukit.data import read_events

    text = "SessionId;ItemId;Time\n" + "".join(f"{s};{10 + s % 3};{s * 9 + j}\n"
                                               for s in range(400) for j in (1, 0))
    plain = _file(tmp_path, "e.csv", text)
    packed = tmp_path / "e.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    (tmp_path / "gz").write_bytes(packed.read_bytes())  # no .gz in the name
    want = read_events(plain)
    for path in (packed, tmp_path / "gz"):
        pd.testing.assert_frame_equal(read_events(str(path)), want)
    (tmp_path / "cut.gz").write_bytes(packed.read_bytes()[:-40])
    with zipfile.ZipFile(tmp_path / "e.zip", "w") as z:
        z.write(plain, "e.csv")
    for name, message in (("cut.gz", "is a damaged gzip file (Compressed file ended before "
                                     "the end-of-stream marker was reached); compress it "
                                     "again."),
                          ("e.zip", "is a zip archive; decompress it (or gzip it: gzip files "
                                    "are read as they are).")):
        path = str(tmp_path / name)
        assert main(["recommend", "--data", path]) == 2
        assert capsys.readouterr().err == f"grukit recommend: error: '{path}' {message}\n"


def test_a_folder_as_data_is_refused(tmp_path, capsys):
    assert main(["recommend", "--data", str(tmp_path)]) == 2
    assert f"'{tmp_path}' is a folder; give an event file" in capsys.readouterr().err


def _log(tmp_path, rows):
    return _file(tmp_path, "ev.csv", "SessionId,ItemId,Time\n" + "".join(
        f"{s},{i},{t}\n" for s, i, t in rows))


def test_whole_float_ids_duplicates_and_single_events_in_the_cli(tmp_path, capsys):
    day = 86400
    rows = []
    for s in range(40):  # training days 0..5: items as 1.0, 2.0, ... (a column with a gap)
        t = s * 3600
        rows += [(s, f"{1 + s % 5}.0", t), (s, f"{2 + s % 5}.0", t + 1),
                 (s, f"{2 + s % 5}.0", t + 1)]  # an exact duplicate event
    rows += [(100, "", 2 * day), (101, "3.0", 2 * day + 5)]  # missing item; a 1-event session
    for s in range(200, 210):  # test: day 9, items written as 1, 2, ...
        rows += [(s, 1 + s % 5, 9 * day + s), (s, 2 + s % 5, 9 * day + s + 1)]
    path = _log(tmp_path, rows)
    assert main(["recommend", "--data", path, "--test-days", "2", "--epochs", "1",
                 "--hidden", "4", "--batch-size", "4", "--n-sample", "4",
                 "--output", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    # 1.0 and 1 are one item: no test event is dropped as unseen; each duplicate dropped once
    assert "'dropped_duplicates': 40" in out and "'dropped_missing': 1" in out
    assert "'dropped_unseen_item_events': 0" in out
    assert "'dropped_short_sessions': 1" in out  # session 101
    assert "'events': 20, 'sessions': 10" in out


@pytest.mark.parametrize("lr", [1e9, 1e3])
def test_a_learning_rate_far_too_large_warns_that_gru4rec_learned_nothing(lr):
    with pytest.warns(RuntimeWarning, match=r"GRU4Rec learned nothing.*learning rate "
                                            + re.escape(f"{lr:g};")):
        GRU4Rec(**(FAST | dict(learning_rate=lr))).fit(_sessions(_lists(),
                                                                 np.arange(100, 112)))
