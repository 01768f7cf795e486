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
