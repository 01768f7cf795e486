"""Bad input for the labelled-text reader: each case reads the correct rows or raises one
sentence naming the file, the column or the value and what would be valid."""

import csv
import io
import os
import tempfile
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grukit.data.text import read_labelled_text, read_text_file

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def write(tmp_path, content, name="t.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return str(p)


def one_sentence(err, *names):
    msg = str(err.value)
    assert "\n" not in msg and msg.endswith("."), msg
    for n in names:
        assert n in msg, (n, msg)
    return msg


ROWS = "text,label\ncafé crème,positif\nnaïve “idea”,négatif\n"


# -- encodings -----------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
                                      "utf-32"])
def test_unicode_files_read_exactly(tmp_path, encoding):
    d = read_labelled_text(write(tmp_path, ROWS, encoding=encoding))
    assert d.texts == ["café crème", "naïve “idea”"]
    assert list(d.labels) == ["positif", "négatif"]


def test_windows_1252_file_is_read_as_such_with_a_warning(tmp_path):
    p = write(tmp_path, ROWS + "prix 5 €,positif\n", encoding="cp1252")
    with pytest.warns(UnicodeWarning) as rec:
        d = read_labelled_text(p)
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert "\n" not in msg and all(w in msg for w in (p, "not UTF-8", "0xE9", "Windows-1252"))
    # curly quotes and the euro sign too, which Latin-1 would turn into control characters
    assert d.texts == ["café crème", "naïve “idea”", "prix 5 €"]
    assert list(d.labels) == ["positif", "négatif", "positif"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit encoding: no warning
        assert read_labelled_text(p, encoding="cp1252").texts == d.texts
    with pytest.raises(ValueError) as err:
        read_labelled_text(p, encoding="utf-8")
    one_sentence(err, p, "not valid utf-8", "offset")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p, encoding="klingon")
    one_sentence(err, p, "unknown encoding 'klingon'", "'utf-8'")


def test_bare_utf16_without_bom(tmp_path):
    p = write(tmp_path, ROWS.encode("utf-16-le"))
    assert read_labelled_text(p).texts[0] == "café crème"


@pytest.mark.parametrize("content,what", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00", "an Excel .xlsx workbook?"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
    (b"text,label\nok\x00\x01\x02,1\n\x00", "binary file")])
def test_binary_files_are_refused(tmp_path, content, what):
    p = write(tmp_path, content)
    with pytest.raises(ValueError) as err:
        read_labelled_text(p)
    one_sentence(err, p, what)


def test_invalid_bytes_after_a_bom_are_refused(tmp_path):
    p = write(tmp_path, b"\xef\xbb\xbftext,label\ncaf\xe9,1\n")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p)
    one_sentence(err, p, "not valid UTF-8", "byte-order mark", "0xE9")


# -- files ---------------------------------------------------------------------------------
def test_folder_missing_empty_and_header_only(tmp_path):
    with pytest.raises(IsADirectoryError) as err:
        read_labelled_text(str(tmp_path))
    one_sentence(err, str(tmp_path), "is a folder", "*.csv")
    with pytest.raises(FileNotFoundError) as err:
        read_labelled_text(str(tmp_path / "nope.csv"))
    one_sentence(err, "nope.csv", "no such file")
    with pytest.raises(FileNotFoundError) as err:
        read_labelled_text(str(tmp_path / "*.tsv"))
    one_sentence(err, "*.tsv", "no file matches")
    p = write(tmp_path, b"")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p)
    one_sentence(err, p, "is empty")
    p = write(tmp_path, "text,label\n")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p)
    one_sentence(err, p, "header but no rows")


def test_one_row_is_read(tmp_path):
    d = read_labelled_text(write(tmp_path, "text,label\nonly one,yes\n"))
    assert d.texts == ["only one"] and list(d.labels) == ["yes"]


# -- columns and values -------------------------------------------------------------------
def test_wrong_column_lists_the_columns(tmp_path):
    p = write(tmp_path, "review,stars\ngood,5\nbad,1\n")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p, label_column="label")
    one_sentence(err, "'label' not found", "['review', 'stars']")


def test_every_label_distinct_warns(tmp_path):
    rows = "".join(f"the text number {i},{i * 7}\n" for i in range(12))
    p = write(tmp_path, "text,id\n" + rows)
    with pytest.warns(UserWarning, match=r"'id' of .*t\.csv has a different value on each of "
                                         r"its 12 rows .* most likely not the labels"):
        read_labelled_text(p)
    p = write(tmp_path, "text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(12)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_labelled_text(p).texts) == 12  # two classes: no warning


def test_empty_and_na_texts(tmp_path):
    p = write(tmp_path, 'text,label\n,pos\n"",neg\nNA,pos\nNaN,neg\nNone,pos\ngood,neg\n')
    d = read_labelled_text(p)
    # empty texts are kept as ""; NA, NaN, None are words like any other
    assert d.texts == ["", "", "NA", "NaN", "None", "good"]
    assert list(d.labels) == ["pos", "neg", "pos", "neg", "pos", "neg"]
    p = write(tmp_path, "text,label\n,pos\n ,neg\n")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p)
    one_sentence(err, p, "'text'", "empty on every row")


@pytest.mark.parametrize("label", ["", " ", "nan", "NaN"])
def test_missing_labels_name_the_file_and_row(tmp_path, label):
    a = write(tmp_path, "text,label\ngood,1\nbad,0\n", name="a.csv")
    b = write(tmp_path, f"text,label\nfine,1\nno label,{label}\n", name="b.csv")
    with pytest.raises(ValueError) as err:
        read_labelled_text([a, b])
    one_sentence(err, b, "'label' is empty on 1 row(s)", "data row 2")


def test_short_row_has_no_label(tmp_path):
    p = write(tmp_path, "text,label\ngood,1\nno separator here\nok,0\n")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p)
    one_sentence(err, p, "empty on 1 row(s)", "data row 2")


def test_a_row_with_a_field_more_than_the_header_is_refused_naming_its_line(tmp_path):
    # every row one field more: pandas took the first column for an index, so the texts
    # were read as "movie", "really bad", "film" (or, with an empty last field, "label is
    # empty")
    p = write(tmp_path, "text,label\ngood, movie,pos\nbad, really bad,neg\nfine, film,pos\n")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p)
    one_sentence(err, p, "line 2 has 3 fields with separator ','", "the header has 2",
                 "double quotes")
    p = write(tmp_path, "text,label\ngood movie,pos,\nbad movie,neg,\n", name="end.csv")
    with pytest.raises(ValueError) as err:  # a separator at each line's end
        read_labelled_text(p)
    one_sentence(err, p, "line 2 has 3 fields", "at the line's end")
    p = write(tmp_path, 'text,label\n"two\n\nlines",pos\nok,neg\nbad, so bad,neg\n',
              name="later.csv")
    with pytest.raises(ValueError) as err:  # the line of the file, quoted line ends counted
        read_labelled_text(p)
    one_sentence(err, p, "line 6 has 3 fields", "the header has 2")
    p = write(tmp_path, "great\t1\nbad\tawful\t0\n", name="t.tsv")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p, header=False)
    one_sentence(err, p, "line 2 has 3 fields with separator '\\t'", "the first row has 2")
    p = write(tmp_path, 'text,label\n"good, movie",pos\n"bad, really bad",neg\n', name="q.csv")
    d = read_labelled_text(p)  # quoted, the same texts are read as they are
    assert d.texts == ["good, movie", "bad, really bad"] and list(d.labels) == ["pos", "neg"]


def test_no_header_with_a_header_present(tmp_path):
    p = write(tmp_path, "text,label\ngood,1\nbad,0\nok,1\n")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p, header=False)
    one_sentence(err, p, "('text', 'label') looks like a header", "--no-header")
    p = write(tmp_path, "sentence\tsentiment\ngood\t1\nbad\t0\n", name="t.tsv")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p, header=False)
    one_sentence(err, p, "looks like a header")
    p = write(tmp_path, "review,rating\ngood,5\nbad,1\n")  # the label's name is no known one:
    with pytest.raises(ValueError) as err:  # 'rating' trained as a class of one row
        read_labelled_text(p, header=False)
    one_sentence(err, p, "('review', 'rating') looks like a header", "--no-header")
    p = write(tmp_path, "review,5\ngood,5\nbad,1\n")  # 'review' is a text here: its label
    assert read_labelled_text(p, header=False).texts == ["review", "good", "bad"]  # recurs


def test_header_missing_from_a_file_without_one(tmp_path):
    p = write(tmp_path, "Great movie\t1\nBad one\t0\nFine\t1\n", name="t.tsv")
    with pytest.raises(ValueError) as err:
        read_labelled_text(p)
    one_sentence(err, p, "looks like a first data row", "header=False")
    d = read_labelled_text(p, header=False)
    assert d.texts == ["Great movie", "Bad one", "Fine"] and list(d.labels) == ["1", "0", "1"]


def test_a_row_that_repeats_the_header_is_refused_not_read_as_a_class(tmp_path):
    # two files joined with their headers (and byte-order marks): 'label' was a class of one row
    part = "text,label\ngood,1\nbad,0\n"
    for joined in ((part + part).encode(), b"\xef\xbb\xbf" + (part + "\ufeff" + part).encode()):
        p = write(tmp_path, joined)
        with pytest.raises(ValueError) as err:
            read_labelled_text(p)
        one_sentence(err, p, "data row 3 repeats the header ('text', 'label')", "delete that row")
    d = read_labelled_text(write(tmp_path, "text,label\ntext,pos\nlabel,neg\n"))
    assert d.texts == ["text", "label"]  # a text or a label alike the header's is data


def test_excel_separator_line_names_the_separator_and_is_skipped(tmp_path):
    # 'sep=;' was read as the header (columns 'sep=' and 'Unnamed: 1'), the real header as a
    # row: a text 'text' of class 'label'
    p = write(tmp_path, "\ufeffsep=;\r\ntext;label\r\ngood, truly;pos\r\nbad;neg\r\n")
    d = read_labelled_text(p)
    assert (d.text_column, d.label_column) == ("text", "label")
    assert d.texts == ["good, truly", "bad"] and list(d.labels) == ["pos", "neg"]
    p = write(tmp_path, "sep=,\ntext,label\ngood,pos\nbad,neg,extra\n")
    with pytest.raises(ValueError) as err:  # line numbers stay the file's
        read_labelled_text(p)
    one_sentence(err, p, "line 4 has 3 fields")
    for only in ("sep=;\n", "sep=;\r\n\r\n"):  # the line and nothing else: IndexError
        p = write(tmp_path, only)
        with pytest.raises(ValueError) as err:
            read_labelled_text(p)
        one_sentence(err, p, "is empty")


def test_line_ends_are_normalised(tmp_path):
    assert read_text_file(write(tmp_path, "a\r\nb\rc\n")) == "a\nb\nc\n"


# -- random files --------------------------------------------------------------------------
ASCII = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=8)
ACCENTED = st.text(st.sampled_from("éèêàâçüöäßñÉÀÇøåæ"), min_size=1, max_size=4)
# Windows-1252 signs in 0x80-0xBF: in text they follow a space or a letter a-z, never an
# accented letter (only such a sequence could also be valid UTF-8)
SIGNS = st.sampled_from(["€", "“", "”", "’", "—", "…", "°", "£", "½"])


@st.composite
def texts(draw, cp1252: bool):
    if cp1252:
        words = draw(st.lists(st.one_of(ASCII.map(lambda w: w.replace("\\", "/")), ACCENTED,
                                        SIGNS), min_size=1, max_size=6))
        return " ".join(words)
    return draw(st.text(st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"],
                                      blacklist_characters="\x85\ufeff"),
                        min_size=0, max_size=30))


@given(data=st.data(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
       sep=st.sampled_from([",", "\t", ";"]), n=st.integers(2, 12),
       classes=st.lists(st.text(st.characters(min_codepoint=97, max_codepoint=122),
                                min_size=1, max_size=6), min_size=2, max_size=3, unique=True))
@SETTINGS
def test_any_labelled_file_round_trips(data, encoding, sep, n, classes):
    cp1252 = encoding == "cp1252"
    rows = [(data.draw(texts(cp1252)), classes[i % len(classes)]) for i in range(n)]
    if not any(t.strip() for t, _ in rows):
        rows[0] = ("some words", rows[0][1])
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(["text", "label"])
    w.writerows(rows)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.csv")
        with open(p, "wb") as fh:
            fh.write(buf.getvalue().encode(encoding))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnicodeWarning)  # cp1252: the announced fallback
            got = read_labelled_text(p, sep=sep)
    assert got.texts == [t.strip() for t, _ in rows]
    assert list(got.labels) == [lab for _, lab in rows]


@given(content=st.binary(max_size=300))
@SETTINGS
def test_random_bytes_give_rows_or_one_sentence(content):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.csv")
        with open(p, "wb") as fh:
            fh.write(content)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = read_labelled_text(p)
        except ValueError as err:
            msg = str(err)
            assert "\n" not in msg and (p in msg or "column" in msg), msg
        else:
            assert len(got.texts) == len(got.labels) > 0 and all(got.labels)


@pytest.mark.parametrize("sep", [",", "\t"])
def test_texts_quoted_over_several_lines_stay_one_text(tmp_path, sep):
    """Each line of these texts holds one separator, so each line alone reads as a row of
    two fields; the file's quoting makes them one text each, as the csv module reads it."""
    rows = [("great" + sep + " truly\ngreat", "pos"), ("fine", "neg"),
            ("bad" + sep + " very\n\nbad indeed", "neg")]
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n").writerows([("text", "label"), *rows])
    got = read_labelled_text(write(tmp_path, buf.getvalue()), sep=sep)
    assert got.texts == [t for t, _ in rows] and list(got.labels) == ["pos", "neg", "neg"]


def test_rows_joined_by_a_stray_quote_are_read_one_a_line(tmp_path):
    """A quote that is a literal character (imdb_labelled.txt) joins lines in a CSV reading;
    those lines hold rows with the file's labels, and are read one row a line."""
    content = 'a fine film\t1\n"You\'ll love it!\t1\nThis movie is BAD.\t0\nSo bad.\t0\n' \
              'the end"\t1\nok\t0\n'
    got = read_labelled_text(write(tmp_path, content), sep="\t", header=False)
    assert len(got.texts) == 6 and list(got.labels) == ["1", "1", "0", "0", "1", "0"]


def test_a_whole_number_label_written_two_ways_is_refused(tmp_path):
    """'1' and '1.0' (a second file written by pandas from a column that held a missing value)
    were read as written, two classes of one; '01' beside '1' is the same number too."""
    (tmp_path / "a.csv").write_text("text,label\ngood,1\nbad,0\n")
    (tmp_path / "b.csv").write_text("text,label\nfine,1.0\nawful,0.0\n")
    with pytest.raises(ValueError, match=r"writes one number two ways, '1' and '1\.0' \(data "
                                         r"row 1 of .*b\.csv\).*write every label one way"):
        read_labelled_text([tmp_path / "a.csv", tmp_path / "b.csv"])
    (tmp_path / "c.csv").write_text("text,label\ngood,1\nbad,0\nok,2\n")
    assert list(read_labelled_text(tmp_path / "c.csv").labels) == ["1", "0", "2"]
    (tmp_path / "d.csv").write_text("text,label\ngood,1.0\nbad,0.0\nok,2.5\n")
    assert list(read_labelled_text(tmp_path / "d.csv").labels) == ["1.0", "0.0", "2.5"]


@pytest.mark.parametrize("ways", [("-01", "-1"), ("-1.0", "-1"), ("-0", "0"), ("+2", "2")])
def test_a_signed_label_written_two_ways_is_refused(tmp_path, ways):
    """'-01' beside '-1' was read as two classes: the leading zeros were stripped only from
    numbers without a sign."""
    (tmp_path / "a.csv").write_text(f"text,label\ngood,{ways[0]}\nbad,5\nfine,{ways[1]}\n")
    with pytest.raises(ValueError, match=f"writes one number two ways, '\\{ways[0]}' and "
                                         f"'{ways[1]}'"):
        read_labelled_text(tmp_path / "a.csv")


def test_a_number_and_its_negative_are_two_classes(tmp_path):
    (tmp_path / "a.csv").write_text("text,label\ngood,1\nbad,-1\nok,0\nfine,-1\n")
    assert list(read_labelled_text(tmp_path / "a.csv").labels) == ["1", "-1", "0", "-1"]


@pytest.mark.parametrize("given", [{}, {"label_column": "label"}], ids=["found", "named"])
def test_a_header_naming_the_label_column_twice_is_refused(tmp_path, given):
    """'text,label,label': pandas renamed the second 'label.1', and the first was read as the
    labels without a word."""
    (tmp_path / "d.csv").write_text("text,label,label\nhi,a,x\nbye,b,y\n")
    with pytest.raises(ValueError, match=r"d\.csv: the header names the label column 'label' "
                                         r"twice \(columns 2 and 3\).*rename one of them"):
        read_labelled_text(tmp_path / "d.csv", **given)
    (tmp_path / "e.csv").write_text("text,label,label.1\nhi,a,x\nbye,b,y\n")
    assert list(read_labelled_text(tmp_path / "e.csv").labels) == ["a", "b"]
