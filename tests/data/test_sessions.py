import numpy as np
import pytest

from grukit.data import index_sessions, read_events, split_by_days


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_reads_gru4rec_tsv_and_orders_by_time(tmp_path):
    day = 86400
    path = _write(tmp_path, "ev.tsv", "SessionId\tItemId\tTime\n"
                  f"1\t10\t{5 * day + 2}\n1\t11\t{5 * day + 1}\n2\t10\t{9 * day}\n"
                  f"2\t12\t{9 * day + 5}\n")
    ev = read_events(path)
    assert ev["item"].tolist() == [11, 10, 10, 12]  # session 1 sorted by time
    assert str(ev["day"].iloc[-1].date()) == "1970-01-10"


def test_reads_diginetica_layout_with_its_day_column(tmp_path):
    path = _write(tmp_path, "d.csv", "session_id;user_id;item_id;timeframe;eventdate\n"
                  "1;NA;5;300;2016-05-09\n1;NA;6;100;2016-05-09\n2;NA;5;10;2016-05-20\n")
    ev = read_events(path)
    assert ev["item"].tolist() == [6, 5, 5]
    assert str(ev["day"].max().date()) == "2016-05-20"


def test_a_bad_day_is_named_as_the_day_column_and_unread_where_no_days_are_used(tmp_path):
    text = ("session_id;user_id;item_id;timeframe;eventdate\n1;NA;5;300;2016-05-09\n"
            "1;NA;6;100;someday\n2;NA;5;10;2016-05-20\n2;NA;7;20;2016-05-20\n")
    path = _write(tmp_path, "d.csv", text)
    # was: "time column 'eventdate' ... name the time column with --time-column"
    with pytest.raises(ValueError, match=r"day column 'eventdate' holds 'someday' \(line 3\), "
                                         r"which is no date; fix that value or name the day "
                                         r"column with --day-column\.$"):
        read_events(path)
    mixed = _write(tmp_path, "m.csv", text.replace("someday", "09/05/2016"))
    with pytest.raises(ValueError, match=r"the day column 'eventdate' has 1 value"):
        read_events(mixed)
    for p in (path, mixed):  # a training, test or predict file: its days are never used
        ev = read_events(p, days=False)
        assert ev["item"].tolist() == [6, 5, 5, 7] and ev["day"].isna().all()
        assert read_events(p, require_time=False, days=False)["time"].tolist() == \
            [100, 300, 10, 20]


def test_column_mapping_and_clear_errors(tmp_path):
    path = _write(tmp_path, "c.csv", "sid,product,ts\n1,a,1\n1,b,2\n")
    with pytest.raises(ValueError, match=r"no session column known \(columns: \['sid', "
                                         r"'product', 'ts'\]\); name it with --session-column"):
        read_events(path)
    ev = read_events(path, "sid", "product", "ts")
    assert ev["item"].tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="column 'itm' not found"):
        read_events(path, "sid", "itm", "ts")
    with pytest.raises(ValueError, match="is empty"):
        read_events(_write(tmp_path, "e.csv", ""))
    with pytest.raises(FileNotFoundError):
        read_events(str(tmp_path / "missing.csv"))


def test_split_and_index_count_what_they_drop(tmp_path):
    day = 86400
    lines = ["SessionId\tItemId\tTime"]
    lines += [f"1\t1\t{day}", f"1\t2\t{day + 1}", f"1\t3\t{day + 2}"]  # train
    lines += [f"2\t4\t{2 * day}"]  # train, length 1
    lines += [f"3\t1\t{9 * day}", f"3\t9\t{9 * day + 1}", f"3\t2\t{9 * day + 2}"]  # test, 9 unseen
    lines += [f"4\t3\t{9 * day}"]  # test, length 1
    ev = read_events(_write(tmp_path, "s.tsv", "\n".join(lines) + "\n"))
    tr, te = split_by_days(ev, 2)
    assert sorted(tr["session"].unique()) == [1, 2] and sorted(te["session"].unique()) == [3, 4]
    train, test = index_sessions(tr, te)
    assert train.report["dropped_short_sessions"] == 1
    assert test.report["dropped_unseen_item_events"] == 1
    assert test.report["dropped_short_sessions"] == 1
    assert train.vocab.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(test.session(0), [0, 1])  # items 1, 2 as indices
    with pytest.raises(ValueError, match="leaves no training sessions"):
        split_by_days(ev, 100)


def test_whole_float_ids_are_the_integers_and_duplicates_are_dropped(tmp_path):
    path = _write(tmp_path, "f.csv", "SessionId,ItemId,Time\n1,1,10\n1,1.0,11\n1,2,12\n"
                  "2,3,5\n2,3,5\n2,,6\n")
    ev = read_events(path)
    assert ev["item"].tolist() == [1, 1, 2, 3] and ev["item"].dtype == np.int64
    assert ev.attrs == {"dropped_missing": 1, "dropped_duplicates": 1}
    train, _ = index_sessions(ev)
    assert train.vocab.tolist() == [1, 2]  # 1.0 and 1: one item
    assert train.report["dropped_duplicates"] == 1 and train.report["dropped_short_sessions"] == 1


def test_text_times_are_parsed_before_ordering(tmp_path):
    path = _write(tmp_path, "t.csv", "sid,item,when\n1,a,2016-05-10 09:00\n1,b,2016-05-09 10:00\n"
                  "1,c,2016-05-09 08:00\n")
    ev = read_events(path, "sid", "item", "when")
    assert ev["item"].tolist() == ["c", "b", "a"]  # by time, not by the text
    assert str(ev["day"].max().date()) == "2016-05-10"
    mixed = _write(tmp_path, "m.csv", "sid,item,when\n1,a,2016-05-10 09:00\n1,b,5/9/2016 10:00\n")
    with pytest.raises(ValueError, match=r"'5/9/2016 10:00' on data row 2"):  # 9 May? 5 Sept?
        read_events(mixed, "sid", "item", "when")


def test_a_file_without_times_keeps_its_order_when_times_are_not_required(tmp_path):
    path = _write(tmp_path, "n.csv", "SessionId,ItemId\n2,b\n1,z\n1,a\n")
    with pytest.raises(ValueError, match=r"column .Time. not found \(columns: \[.SessionId., "
                                         r".ItemId.\]\); name it with --time-column"):
        read_events(path)
    ev = read_events(path, require_time=False)
    assert ev["session"].tolist() == [1, 1, 2] and ev["item"].tolist() == ["z", "a", "b"]
    with pytest.raises(ValueError, match="the events have no days"):
        split_by_days(ev, 1)


@pytest.mark.parametrize("days", [0, -1, True, 1.5])
def test_test_days_must_be_a_whole_number_of_days(tmp_path, days):
    ev = read_events(_write(tmp_path, "s.tsv", "SessionId\tItemId\tTime\n1\t1\t1\n1\t2\t2\n"))
    with pytest.raises(ValueError, match=rf"test_days must be a whole number of days, 1 or "
                                         rf"more; got {days!r}"):
        split_by_days(ev, days)


def test_index_sessions_groups_unsorted_events():
    import pandas as pd

    ev = pd.DataFrame({"session": [2, 1, 2, 1], "item": [5, 6, 7, 8], "time": [1, 1, 2, 2]})
    train, _ = index_sessions(ev)
    assert [train.vocab[s].tolist() for s in train] == [[6, 8], [5, 7]]
    assert train.ids.tolist() == [1, 2]
    with pytest.raises(ValueError, match=r"the training events have no 'item' column"):
        index_sessions(ev.rename(columns={"item": "product"}))
    # a missing time sorted its event last, a missing session dropped its event (counted
    # still), a missing item failed as KeyError nan; text times sort as text ("10" < "9")
    for column in ("time", "session", "item"):
        holed = ev.assign(**{column: ev[column].astype(float).where(ev.index != 2)})
        for train, test in ((holed, None), (ev, holed)):
            what = "training" if test is None else "test"
            with pytest.raises(ValueError, match=rf"^the {what} events hold 1 missing value\(s\) "
                                                 rf"in column '{column}'; drop those events"):
                index_sessions(train, test)
    with pytest.raises(ValueError, match=r"^the time column of the training events holds "
                                         r"\w+ values, which do not sort as times"):
        index_sessions(ev.assign(time=["9", "9", "10", "10"]))


def test_day_first_dates_are_read_day_first_not_mixed_with_month_first(tmp_path):
    path = _write(tmp_path, "d.csv", "SessionId,ItemId,Time\n1,10,02/05/2016\n1,11,03/04/2016\n"
                  "2,10,13/05/2016\n2,12,\n2,13,14/05/2016\n")
    ev = read_events(path)  # 2 May after 3 April (month first read 5 Feb before 4 March)
    assert ev["item"].tolist() == [11, 10, 10, 13]
    assert [str(d.date()) for d in ev["time"]] == ["2016-04-03", "2016-05-02", "2016-05-13",
                                                  "2016-05-14"]
    mixed = _write(tmp_path, "m.csv", "SessionId,ItemId,Time\n1,10,02/05/2016\n"
                   "1,11,2016-04-03\n")
    with pytest.raises(ValueError, match=r"'2016-04-03' on data row 2; write every date"):
        read_events(mixed)


def test_repeated_dates_read_once_each_give_what_the_rows_give(tmp_path):
    """Dates are read once per distinct value; the result, a refusal's row and the
    day-or-month warning are those of reading every row."""
    import warnings

    import pandas as pd

    from grukit.data import sessions

    col = pd.Series(["2016-05-09", "2016-05-10 08:00", "2016-05-09"] * 50)
    want = sessions._dates_of_rows(col, "f", "Time")
    np.testing.assert_array_equal(sessions._dates(col, "f", "Time"), want)
    rows = "".join(f"{i},{i},2016-05-0{1 + i % 3}\n" for i in range(8))
    bad = _write(tmp_path, "bad.csv", "SessionId,ItemId,Time\n" + rows + "9,9,2016-13-45\n")
    with pytest.raises(ValueError, match=r"'2016-13-45' \(line 10\), which is neither"):
        read_events(bad)
    ambiguous = _write(tmp_path, "amb.csv", "SessionId,ItemId,Time\n"
                       + "".join(f"{i},{i},0{1 + i % 2}/0{2 - i % 2}/2016\n" for i in range(6)))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        read_events(ambiguous)
    assert any("read month first" in str(w.message) for w in said)


def test_a_sniffed_separator_reads_quoted_fields_as_the_python_engine(tmp_path):
    """Without --sep the separator is sniffed from the header and the file read by pandas'
    C engine: quoted ids that hold it stay whole, as they did."""
    path = _write(tmp_path, "q.csv", 'SessionId;ItemId;Time\n1;"a;b";5\n1;c;6\n')
    assert read_events(path)["item"].tolist() == ["a;b", "c"]


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_text("SessionId,ItemId,Time\n1,10,5\n1,11,6\n", encoding="utf-8-sig")
    assert read_events(str(p))["item"].tolist() == [10, 11]
    p.write_bytes(b"\xef\xbb\xbfSessionId;ItemId;Time\n1;caf\xe9;5\n1;b;6\n")  # not UTF-8 after
    assert read_events(str(p))["item"].tolist() == ["caf\u00e9", "b"]


def test_times_in_several_timezones_are_ordered_in_utc(tmp_path):
    path = _write(tmp_path, "tz.csv", "SessionId,ItemId,Time\n"
                  "1,10,2016-05-13T10:00:00+02:00\n1,11,2016-05-13T09:30:00+00:00\n")
    ev = read_events(path)
    assert ev["item"].tolist() == [10, 11]  # 08:00 UTC before 09:30 UTC
    assert str(ev["time"].iloc[0]) == "2016-05-13 08:00:00"
    bad = _write(tmp_path, "tz2.csv", "SessionId,ItemId,Time\n"
                 "1,10,13/05/2016 10:00 +02:00\n1,11,13/05/2016 09:30 +00:00\n")
    with pytest.raises(ValueError, match=r"tz2.csv': time column 'Time' mixes timezones"):
        read_events(bad)
    naive = _write(tmp_path, "tz3.csv", "SessionId,ItemId,Time\n"
                   "1,10,2016-05-13T10:00:00+02:00\n1,11,2016-05-13T09:30:00\n")
    with pytest.raises(ValueError, match=r"'2016-05-13T09:30:00' \(line 3\) without a timezone"):
        read_events(naive)


def test_millisecond_times_keep_their_order_where_no_days_are_needed(tmp_path):
    path = _write(tmp_path, "ms.tsv", "SessionId\tItemId\tTime\n1\t10\t1462000002000\n"
                  "1\t11\t1462000001000\n")
    ev = read_events(path, require_time=False)  # as grukit recommend predict reads
    assert ev["item"].tolist() == [11, 10] and ev["day"].isna().all()
    with pytest.raises(ValueError, match="milliseconds"):
        read_events(path)  # splitting by days needs seconds or a day column


def test_index_sessions_reads_test_item_ids_as_the_training_ids_type():
    import pandas as pd

    numbers = pd.DataFrame({"session": [1, 1, 2, 2], "item": [7, 8, 7, 8], "time": [1, 2, 3, 4]})
    text = pd.DataFrame({"session": [5, 5, 6, 6, 6], "item": ["7", "8", "7", "abc", "8"],
                         "time": [1, 2, 3, 4, 5]})
    train, test = index_sessions(numbers, text)
    assert test.report["dropped_unseen_item_events"] == 1 and test.report["events"] == 4
    assert train.vocab[test.items].tolist() == [7, 8, 7, 8]
    train, test = index_sessions(text, numbers)
    assert test.report["dropped_unseen_item_events"] == 0
    assert train.vocab[test.items].tolist() == ["7", "8", "7", "8"]
    floats = numbers.assign(item=numbers["item"].astype(float))  # 7.0 is 7 and "7"
    assert index_sessions(floats, numbers)[1].report["events"] == 4
    assert index_sessions(floats, text)[1].report["events"] == 4
    boxed = numbers.assign(item=numbers["item"].astype(object))  # ints in an object column
    assert index_sessions(boxed, numbers)[1].report["events"] == 4
    assert index_sessions(boxed, text)[1].report["events"] == 4


def test_whole_number_text_is_read_exactly_past_2_to_the_53():
    from grukit.data.sessions import item_key, whole_number

    big = 2**62 + 1  # float64 would round it to 2**62
    assert whole_number(f"{big}.0") == whole_number(f" {big} ") == whole_number(big) == big
    assert whole_number("-7.00") == -7 and whole_number("+3.") == 3
    assert item_key(f"{big}.0", text=False) == big
    assert whole_number("7.5") is None


@pytest.mark.parametrize("given", [{}, {"item_column": "ItemId"}], ids=["layout", "named"])
def test_a_header_naming_a_column_read_twice_is_refused(tmp_path, given):
    """'SessionId<TAB>ItemId<TAB>ItemId<TAB>Time': pandas renamed the second 'ItemId.1' and
    the first was read as the items without a word."""
    p = tmp_path / "e.tsv"
    p.write_text("SessionId\tItemId\tItemId\tTime\n1\t10\t20\t1600000000\n"
                 "1\t11\t21\t1600000010\n")
    with pytest.raises(ValueError, match=r"the header names 'ItemId' twice \(columns 2 and "
                                         r"3\).*rename one of them"):
        read_events(str(p), **given)
    p.write_text("SessionId\tItemId\tItemId\tTime\n1\t10\t20\t1600000000\n")
    assert read_events(str(p), item_column="ItemId.1")["item"].tolist() == [20]


def test_excel_separator_line_names_the_separator_and_is_skipped(tmp_path):
    """A first line 'sep=;' was read as the header (columns 'sep=' and 'Unnamed: 1'); bad
    values are still named by their line in the file."""
    p = tmp_path / "e.csv"
    p.write_text("sep=;\nsession;item;time\n1;10;1600000000\n1;11;1600000010\n")
    got = read_events(str(p), "session", "item", "time")
    assert got["item"].tolist() == [10, 11] and got["time"].tolist() == [1600000000, 1600000010]
    p.write_text("sep=;\nsession;item;time\n1;10;1600000000\n1;1.5;1600000010\n")
    with pytest.raises(ValueError, match=r"holds 1\.5 \(line 4\)"):
        read_events(str(p), "session", "item", "time")


def test_ids_written_with_leading_zeros_are_kept_as_written(tmp_path):
    # pandas reads "0012" as 12 and "007" as 7: the recommendations named items the catalogue
    # spells otherwise, and "007" beside "7" became one item in silence
    rows = "".join(f"{s:03d},{'007' if s % 2 else '0012'},{s * 10}\n{s:03d},5,{s * 10 + 1}\n"
                   for s in range(6))
    df = read_events(_write(tmp_path, "pad.csv", "SessionId,ItemId,Time\n" + rows), days=False)
    assert sorted(df["item"].unique()) == ["0012", "007", "5"]
    assert sorted(df["session"].unique())[:2] == ["000", "001"]
    plain = read_events(_write(tmp_path, "plain.csv", "SessionId,ItemId,Time\n1,7,1\n1,12,2\n"),
                        days=False)
    assert plain["item"].dtype == np.int64 and plain["session"].dtype == np.int64


def test_one_item_written_with_and_without_leading_zeros_is_refused_not_merged(tmp_path):
    path = _write(tmp_path, "clash.csv", "SessionId,ItemId,Time\n1,007,1\n1,7,2\n2,8,3\n")
    with pytest.raises(ValueError, match=r"item ids '007' and '7' .* one number written two "
                                         r"ways"):
        read_events(path, days=False)
