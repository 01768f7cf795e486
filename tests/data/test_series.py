"""Bad input for the series readers: each case reads the correct series or raises one
sentence naming the file, the column or the value and what would be valid."""

import os
import tempfile
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grukit.data.series import load_builtin, read_series_csv, season_of

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def write(tmp_path, content, name="s.csv", encoding="utf-8"):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_bytes(content.encode(encoding))
    return str(p)


def one_sentence(err, *names):
    """The error is one line that names each of ``names``."""
    msg = str(err.value)
    assert "\n" not in msg and msg.endswith("."), msg
    for n in names:
        assert n in msg, (n, msg)
    return msg


def monthly(n=6, start="2020-01"):
    return "".join(f"{d:%Y-%m},{i + 1}\n" for i, d in
                   enumerate(pd.date_range(start, periods=n, freq="MS")))


# -- times ----------------------------------------------------------------------------------
@pytest.mark.parametrize("year", ["1700", "1700.0", "1700.00"], ids=["int", "float", "float2"])
def test_year_column_is_years_not_nanoseconds(tmp_path, year):
    suffix = year[4:]
    p = write(tmp_path, "year,spots\n" + "".join(f"{1700 + i}{suffix},{i}\n" for i in range(5)))
    s = read_series_csv(p)
    assert list(s.index.year) == [1700, 1701, 1702, 1703, 1704]
    assert s.index.freqstr == "YS-JAN" and season_of(s.index.freqstr) == 1
    assert s.index[0] == pd.Timestamp("1700-01-01")


@given(start=st.integers(1000, 9900), n=st.integers(3, 60), as_float=st.booleans())
@SETTINGS
def test_any_run_of_years_reads_as_yearly(start, n, as_float):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "y.csv")
        with open(p, "w") as fh:
            fh.write("year,v\n" + "".join(f"{start + i}{'.0' if as_float else ''},{i}\n"
                                          for i in range(n)))
        s = read_series_csv(p)
    assert list(s.index.year) == list(range(start, start + n))
    assert s.index.freqstr == "YS-JAN"
    np.testing.assert_array_equal(s.to_numpy(), np.arange(n, dtype=float))


def test_fractional_or_small_whole_numbers_are_not_times(tmp_path):
    p = write(tmp_path, "year,v\n1700.5,1\n1701,2\n1702,3\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "'year'", "1700.5", "years")
    p = write(tmp_path, "step,v\n0,1\n1,2\n2,3\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "'step'", "0 to 2", "years (1000-9999)")


def test_yyyymmdd_numbers_are_dates(tmp_path):
    p = write(tmp_path, "t,v\n20200130,1\n20200131,2\n20200201,3\n")
    s = read_series_csv(p)
    assert list(s.index) == list(pd.date_range("2020-01-30", periods=3, freq="D"))
    assert s.index.freqstr == "D"
    p = write(tmp_path, "t,v\n199001,1\n199002,2\n199003,3\n")
    assert read_series_csv(p).index.freqstr == "MS"
    p = write(tmp_path, "t,v\n20200130,1\n20201331,2\n20200201,3\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "'20201331'", "data row 2")


def test_month_and_quarter_strings(tmp_path):
    s = read_series_csv(write(tmp_path, "month,v\n" + monthly(12, "1990-01")))
    assert s.index[0] == pd.Timestamp("1990-01-01") and s.index.freqstr == "MS"
    assert season_of(s.index.freqstr) == 12
    s = read_series_csv(write(tmp_path, "q,v\n1990Q1,1\n1990Q2,2\n1990Q3,3\n1990Q4,4\n"))
    assert s.index[1] == pd.Timestamp("1990-04-01") and season_of(s.index.freqstr) == 4


def test_one_timezone_is_kept(tmp_path):
    p = write(tmp_path, "t,v\n" + "".join(f"2020-01-0{d}T00:00:00+01:00,{d}\n"
                                          for d in range(1, 5)))
    s = read_series_csv(p)
    assert str(s.index.tz) == "UTC+01:00" and s.index.freqstr == "D"
    assert s.index[0] == pd.Timestamp("2020-01-01T00:00:00+01:00")


def test_daylight_saving_offsets(tmp_path):
    # daily at local midnight across the change: the local clock times are the series
    p = write(tmp_path, "t,v\n2020-03-28T00:00+01:00,1\n2020-03-29T00:00+01:00,2\n"
                        "2020-03-30T00:00+02:00,3\n2020-03-31T00:00+02:00,4\n")
    s = read_series_csv(p)
    assert s.index.tz is None and s.index.freqstr == "D"
    assert list(s.index.day) == [28, 29, 30, 31]
    # hourly across the change: in UTC they are regular
    p = write(tmp_path, "t,v\n2020-03-29T00:00+01:00,1\n2020-03-29T01:00+01:00,2\n"
                        "2020-03-29T03:00+02:00,3\n2020-03-29T04:00+02:00,4\n")
    s = read_series_csv(p)
    assert str(s.index.tz) == "UTC" and s.index.freqstr == "h"
    assert s.index[2] == pd.Timestamp("2020-03-29T01:00Z")


def test_mixed_date_formats_are_refused(tmp_path):
    p = write(tmp_path, "date,v\n2020-01-01,1\n01/02/2020,2\n2020-01-03,3\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "'date'", "'01/02/2020'", "data row 2", "2020-01-31")


def test_iso_variants_mix(tmp_path):
    p = write(tmp_path, "t,v\n2020-01-01,1\n2020-01-01 01:00,2\n2020-01-01T02:00:00,3\n")
    s = read_series_csv(p)
    assert s.index.freqstr == "h" and s.index[2] == pd.Timestamp("2020-01-01 02:00")


def test_day_first_dates(tmp_path):
    # 01/02/2020, 02/02/2020, 03/02/2020: only day first gives a regular series
    p = write(tmp_path, "t,v\n01/02/2020,1\n02/02/2020,2\n03/02/2020,3\n")
    s = read_series_csv(p)
    assert list(s.index) == list(pd.date_range("2020-02-01", periods=3, freq="D"))
    # both readings regular: month first, as pandas reads them, with a warning
    p = write(tmp_path, "t,v\n01/01/2020,1\n02/01/2020,2\n03/01/2020,3\n")
    with pytest.warns(UserWarning, match="read month first"):
        s = read_series_csv(p)
    assert s.index.freqstr == "MS"
    # a day past 12 after the first rows: day first, though the first row reads either way
    days = pd.date_range("2021-02-01", periods=20, freq="D")
    p = write(tmp_path, "t,v\n" + "".join(f"{d:%d/%m/%Y},{i}\n" for i, d in enumerate(days)))
    assert list(read_series_csv(p).index) == list(days)
    # month first but for one row: that row is named, not every row
    p = write(tmp_path, "t,v\n01/13/2020,1\n01/14/2020,2\n15/01/2020,3\n01/16/2020,4\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "1 value(s)", "'15/01/2020' on data row 3")


def test_unsorted_timestamps_are_sorted(tmp_path):
    p = write(tmp_path, "t,v\n2020-03,3\n2020-01,1\n2020-02,2\n2020-04,4\n")
    s = read_series_csv(p)
    assert s.index.is_monotonic_increasing
    np.testing.assert_array_equal(s.to_numpy(), [1, 2, 3, 4])


def test_duplicated_and_irregular_timestamps(tmp_path):
    p = write(tmp_path, "t,v\n2020-01,1\n2020-02,2\n2020-02,3\n2020-03,3\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "1 duplicated timestamp", "2020-02-01", "'t'")
    p = write(tmp_path, "date,value\n2020-01-01,1\n2020-01-05,2\n2020-03-01,3\n2020-03-02,4\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "irregular", "2020-01-05", "2020-03-01", "56 days", "--freq")


def test_timestamps_off_the_given_grid(tmp_path):
    p = write(tmp_path, "t,v\n2020-01-15,1\n2020-02-15,2\n2020-03-15,3\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p, freq="MS")
    one_sentence(err, p, "'MS' grid", "2020-01-15")


def test_empty_timestamp(tmp_path):
    p = write(tmp_path, "t,v\n2020-01,1\n,2\n2020-03,3\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "'t'", "empty on data row 2")


# -- files and encodings ----------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
                                      "utf-32"])
def test_unicode_encodings_with_or_without_bom(tmp_path, encoding):
    p = write(tmp_path, "Zeit,Menge (m³)\n" + monthly(4), encoding=encoding)
    s = read_series_csv(p)
    assert s.name == "Menge (m³)" and s.index.freqstr == "MS"
    np.testing.assert_array_equal(s.to_numpy(), [1, 2, 3, 4])


def test_windows_1252_file_reads_with_a_warning(tmp_path):
    p = write(tmp_path, "année,débit €\n" + monthly(4), encoding="cp1252")
    with pytest.warns(UnicodeWarning, match=r"is not UTF-8 .* read as Windows-1252"):
        s = read_series_csv(p)
    assert s.name == "débit €"  # not 'd\ufffdbit' nor 'dÃ©bit'
    assert read_series_csv(p, encoding="cp1252").name == "débit €"
    with pytest.raises(ValueError) as err:
        read_series_csv(p, encoding="utf-8")
    one_sentence(err, p, "not valid utf-8", "0xE9", "save it as UTF-8")


@pytest.mark.parametrize("content,what", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "a PNG image"),
    (b"PK\x03\x04\x14\x00\x06\x00", "a zip archive"),
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
    (b"\x1f\x8b\x08\x00\x00\x00", "gzip-compressed"),
    (b"t,v\n2020-01\x00\x07\xff,1\n", "binary file")])
def test_binary_file_is_refused(tmp_path, content, what):
    p = write(tmp_path, content)
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, what, "not")


def test_folder_missing_empty_header_only_one_row(tmp_path):
    with pytest.raises(IsADirectoryError) as err:
        read_series_csv(str(tmp_path))
    one_sentence(err, str(tmp_path), "is a folder")
    with pytest.raises(FileNotFoundError) as err:
        read_series_csv(str(tmp_path / "nope.csv"))
    one_sentence(err, "nope.csv", "no such file")
    for content in ("", "\n\n  \n"):
        p = write(tmp_path, content)
        with pytest.raises(ValueError) as err:
            read_series_csv(p)
        one_sentence(err, p, "is empty")
    p = write(tmp_path, "date,value\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "header but no rows")
    p = write(tmp_path, "date,value\n2020-01-01,5\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "1 row(s)", "at least 3", "--freq")
    s = read_series_csv(p, freq="D")  # with a frequency, one row is a series of one
    assert len(s) == 1 and s.iloc[0] == 5.0 and s.index.freqstr == "D"


def test_single_column_and_ragged_rows(tmp_path):
    p = write(tmp_path, "date value\n2020-01 1\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "single column", "['date value']")
    p = write(tmp_path, "t,v\n2020-01,1\n2020-02,2,3\n2020-03,3\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "separator ','", "line 3")


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_separators(tmp_path, sep):
    p = write(tmp_path, f"t{sep}v\n" + monthly(4).replace(",", sep))
    np.testing.assert_array_equal(read_series_csv(p).to_numpy(), [1, 2, 3, 4])


def test_excel_separator_line_names_the_separator_and_is_skipped(tmp_path):
    """A first line 'sep=;' (Excel's, with a BOM and CRLF too) was read as the header: a
    time column 'sep=' holding the header's 'date'."""
    for i, content in enumerate(("sep=;\nt;v\n" + monthly(4).replace(",", ";"),
                                 "\ufeffsep=,\r\nt,v\r\n" + monthly(4).replace("\n", "\r\n"),
                                 '"sep=|"\nt|v\n' + monthly(4).replace(",", "|"))):
        s = read_series_csv(write(tmp_path, content, name=f"x{i}.csv"))
        np.testing.assert_array_equal(s.to_numpy(), [1, 2, 3, 4])
        assert s.name == "v" and s.index[0] == pd.Timestamp("2020-01-01")


# -- columns and values --------------------------------------------------------------------
def test_a_column_asked_for_by_a_name_the_header_gives_twice_is_refused(tmp_path):
    """target='v' of 'date,v,v' took the first 'v' without a word (pandas renamed the
    second 'v.1'); by position (the default) the second column is meant."""
    p = write(tmp_path, "date,v, v\n" + "".join(
        f"{d:%Y-%m},{i + 1},{10 * i}\n"
        for i, d in enumerate(pd.date_range("2020-01", periods=4, freq="MS"))))
    with pytest.raises(ValueError) as err:
        read_series_csv(p, target="v")
    one_sentence(err, p, "names 'v' twice (columns 2 and 3)", "rename one of them")
    np.testing.assert_array_equal(read_series_csv(p).to_numpy(), [1, 2, 3, 4])


def test_wrong_column_lists_the_columns(tmp_path):
    p = write(tmp_path, "date, sales ,cost\n" + "2020-01,1,2\n2020-02,2,3\n2020-03,3,4\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p, target="revenue")
    one_sentence(err, p, "'revenue' not found", "['date', 'sales', 'cost']", "--target")
    with pytest.raises(ValueError) as err:
        read_series_csv(p, time_column="when")
    one_sentence(err, p, "'when' not found", "--time-column")
    with pytest.raises(ValueError) as err:
        read_series_csv(p, time_column="date", target="date")
    one_sentence(err, p, "both 'date'")
    assert read_series_csv(p, target="cost").iloc[0] == 2.0  # header blanks stripped


def test_non_numeric_and_infinite_targets(tmp_path):
    p = write(tmp_path, "t,v\n2020-01,1\n2020-02,abc\n2020-03,3\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "'v'", "1 non-numeric value(s)", "'abc'", "data row 2")
    p = write(tmp_path, "t,v\n2020-01,1\n2020-02,inf\n2020-03,3\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "'inf'", "data row 2", "finite")


def test_thousands_separators_and_decimal_commas(tmp_path):
    p = write(tmp_path, 't,v\n2020-01,"1,234"\n2020-02,"12,345.5"\n2020-03,"1,000,000"\n')
    np.testing.assert_array_equal(read_series_csv(p).to_numpy(), [1234, 12345.5, 1e6])
    p = write(tmp_path, "t;v\n2020-01;1,5\n2020-02;2,25\n2020-03;3\n")  # a ';' file
    np.testing.assert_array_equal(read_series_csv(p).to_numpy(), [1.5, 2.25, 3])
    p = write(tmp_path, 't,v\n2020-01,"1,5"\n2020-02,2\n2020-03,3\n')  # ambiguous in a ',' file
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "'1,5'", "decimal comma")


@pytest.mark.parametrize("marker", ["", "NA", "NaN", "null", "N/A", "None"])
def test_missing_markers_refused_or_interpolated(tmp_path, marker):
    p = write(tmp_path, f"t,v\n2020-01,1\n2020-02,{marker}\n2020-03,3\n2020-04,4\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "1 missing value(s)", "the first at 2020-02-01", "interpolate")
    s = read_series_csv(p, fill="interpolate")
    np.testing.assert_allclose(s.to_numpy(), [1, 2, 3, 4])


def test_gaps_in_the_time_grid_are_missing_values(tmp_path):
    p = write(tmp_path, "t,v\n" + "".join(f"2020-{m:02d},{m}\n" for m in range(1, 13)
                                          if m not in (5, 6)))
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "2 missing value(s)", "the first at 2020-05-01")
    s = read_series_csv(p, fill="interpolate")
    assert s.index.freqstr == "MS" and len(s) == 12
    np.testing.assert_allclose(s.to_numpy(), np.arange(1, 13))


def test_business_days_with_a_gap_stay_business_days(tmp_path):
    days = pd.bdate_range("2020-01-01", periods=10).delete(4)
    p = write(tmp_path, "t,v\n" + "".join(f"{d:%Y-%m-%d},{i}\n" for i, d in enumerate(days)))
    s = read_series_csv(p, fill="interpolate")
    assert s.index.freqstr == "B" and len(s) == 10 and (s.index.dayofweek < 5).all()


def test_missing_at_the_edges_cannot_be_interpolated(tmp_path):
    p = write(tmp_path, "t,v\n2020-01,\n2020-02,2\n2020-03,3\n2020-04,NA\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p, fill="interpolate")
    one_sentence(err, p, "the first 1 value(s)", "2020-01-01", "drop those rows")


def test_all_missing_target(tmp_path):
    p = write(tmp_path, "t,v,w\n2020-01,,1\n2020-02,NA,2\n2020-03,,3\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p, fill="interpolate")
    one_sentence(err, p, "'v' has no values", "all 3")


def test_bad_fill_and_freq(tmp_path):
    p = write(tmp_path, "t,v\n" + monthly(4))
    with pytest.raises(ValueError) as err:
        read_series_csv(p, fill="zero")
    one_sentence(err, "'zero'", "'refuse', 'interpolate'")
    with pytest.raises(ValueError) as err:
        read_series_csv(p, freq="monthly")
    one_sentence(err, "'monthly'", "'MS'")


# -- random files --------------------------------------------------------------------------
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252"]


@given(values=st.lists(st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 3)),
                       min_size=3, max_size=30),
       start=st.dates(pd.Timestamp("1900-01-01").date(), pd.Timestamp("2090-01-01").date()),
       freq=st.sampled_from(["D", "MS", "W-SUN", "YS", "h", "QS"]),
       encoding=st.sampled_from(ENCODINGS), sep=st.sampled_from([",", ";", "\t"]),
       order=st.randoms(use_true_random=False), crlf=st.booleans())
@SETTINGS
def test_any_regular_series_round_trips(values, start, freq, encoding, sep, order, crlf):
    index = pd.date_range(pd.Timestamp(start), periods=len(values), freq=freq)
    rows = [f"{t.isoformat()}{sep}{v!r}" for t, v in zip(index, values, strict=True)]
    order.shuffle(rows)  # unsorted rows are sorted by time
    end = "\r\n" if crlf else "\n"
    text = end.join([f"période{sep}débit"] + rows) + end
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "s.csv")
        with open(p, "wb") as fh:
            fh.write(text.encode(encoding))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnicodeWarning)  # cp1252: the announced fallback
            s = read_series_csv(p)
    assert s.name == "débit"
    assert list(s.index) == list(index)
    # the same grid (QS-OCT and QS-JAN name the same quarters)
    assert list(pd.date_range(s.index[0], periods=len(s) + 5, freq=s.index.freq)) == \
        list(pd.date_range(index[0], periods=len(s) + 5, freq=index.freq))
    np.testing.assert_array_equal(s.to_numpy(), values)


@given(content=st.binary(max_size=300))
@SETTINGS
def test_random_bytes_give_a_series_or_one_sentence(content):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "s.csv")
        with open(p, "wb") as fh:
            fh.write(content)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s = read_series_csv(p)
        except ValueError as err:
            msg = str(err)
            assert "\n" not in msg and (p in msg or "fill" in msg), msg
        else:
            assert s.index.freq is not None and np.isfinite(s.to_numpy()).all()


@given(header=st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1,
                      max_size=12).filter(lambda h: h.strip() not in ("", "t")
                                          and not set(h) & set(",;\t|\"")),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
@SETTINGS
def test_any_unicode_column_name_survives_its_encoding(header, encoding):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "s.csv")
        with open(p, "wb") as fh:
            fh.write(f"t,{header}\n{monthly(3)}".encode(encoding))
        s = read_series_csv(p)
    assert s.name == header.strip()


# -- season_of -------------------------------------------------------------------------------
SEASONS = {
    # yearly: no season within a year
    "Y": 1, "YE": 1, "YS": 1, "A": 1, "AS": 1, "A-DEC": 1, "YE-DEC": 1, "YS-JAN": 1, "BYS": 1,
    # quarterly, monthly, semi-monthly, weekly: steps per year
    "Q": 4, "QE": 4, "QS": 4, "Q-DEC": 4, "QE-DEC": 4, "QS-OCT": 4, "BQ": 4, "BQE": 4,
    "M": 12, "ME": 12, "MS": 12, "BM": 12, "BME": 12, "BMS": 12, "SM": 24, "SME": 24, "SMS": 24,
    "W": 52, "W-SUN": 52, "W-MON": 52,
    # days: a week; hours and minutes: a day; finer: none
    "D": 7, "B": 5, "C": 5, "H": 24, "h": 24, "BH": 8, "bh": 8, "T": 1440, "min": 1440,
    "S": 1, "s": 1, "L": 1, "ms": 1, "U": 1, "us": 1, "N": 1, "ns": 1,
    # multiples divide the period when they can
    "2h": 12, "6h": 4, "5h": 1, "15min": 96, "30T": 48, "2D": 1, "7D": 1, "2MS": 6, "3ME": 4,
    "5MS": 1, "2QS": 2, "2W": 26,
}


@pytest.mark.parametrize("alias", list(SEASONS))
def test_season_of_every_alias(alias):
    assert season_of(alias) == SEASONS[alias]


def test_season_of_case_matters_and_offsets_and_empty():
    assert season_of("MS") == 12 and season_of("ms") == 1  # month start vs milliseconds
    assert season_of(pd.tseries.frequencies.to_offset("MS")) == 12
    assert season_of(None) == season_of("") == 1
    with pytest.raises(ValueError) as err:
        season_of("fortnightly")
    one_sentence(err, "'fortnightly'", "'MS'")


def test_season_of_the_inferred_frequency_of_real_ranges():
    for freq, m in (("MS", 12), ("ME", 12), ("QS", 4), ("QE", 4), ("YS", 1), ("YE", 1),
                    ("W", 52), ("D", 7), ("B", 5), ("h", 24)):
        index = pd.date_range("2001-01-01", periods=30, freq=freq)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert season_of(pd.infer_freq(index)) == m, freq
            assert season_of(index.freqstr) == m, freq


# -- built-in series --------------------------------------------------------------------------
def test_builtin_yearly_series_are_years():
    s = load_builtin("sunspots")
    assert s.index[0] == pd.Timestamp("1700-01-01") and s.index.freqstr == "YS-JAN"
    assert s.index[-1].year == 2008 and len(s) == 309
    with pytest.raises(ValueError) as err:
        load_builtin("sunspot")
    one_sentence(err, "'sunspot'", "'sunspots'")



@pytest.mark.parametrize("sep", [",", ";"])
def test_a_separator_at_the_end_of_each_row_keeps_the_columns_in_place(tmp_path, sep):
    # pandas made the times the index and read the values as the times
    rows = "".join(f"2020-{m:02d}-01{sep}{m}{sep}\n" for m in range(1, 5))
    s = read_series_csv(write(tmp_path, f"date{sep}value\n" + rows))
    assert s.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert s.index[0] == pd.Timestamp("2020-01-01") and s.index.freqstr == "MS"


def test_a_field_beyond_the_header_is_refused_not_dropped(tmp_path):
    p = write(tmp_path, "date,value\n2020-01-01,1,\n2020-02-01,2,9\n2020-03-01,3,\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "data row 2 has more fields than the header")


def test_a_comma_that_could_separate_thousands_is_flagged(tmp_path):
    # 1,234 in a tab file read as 1.234 without a word: a factor of 1000 if it meant 1234
    p = write(tmp_path, "date\tvalue\n" + "".join(f"2020-{m:02d}-01\t{m},234\n"
                                                   for m in range(1, 5)))
    with pytest.warns(UserWarning, match="'1,234' in 'value' read with a decimal comma"):
        assert read_series_csv(p).tolist() == [1.234, 2.234, 3.234, 4.234]
    p = write(tmp_path, "date;value\n2020-01-01;1,5\n2020-02-01;2,25\n2020-03-01;3,125\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_series_csv(p).tolist() == [1.5, 2.25, 3.125]


def test_times_with_and_without_an_offset_are_refused(tmp_path):
    # the time without an offset was taken as UTC
    p = write(tmp_path, "date,value\n2020-01-01T00:00Z,1\n2020-01-01T01:00,2\n"
                        "2020-01-01T02:00+00:00,3\n2020-01-01T03:00Z,4\n")
    with pytest.raises(ValueError) as err:
        read_series_csv(p)
    one_sentence(err, p, "'2020-01-01T01:00' on data row 2", "with its offset, or none")
