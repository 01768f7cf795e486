"""grukit.data.parallel: aligned files (plain, gzipped) and TSV read right; misaligned files,
bad TSV lines, empty and over-long lines are refused in one sentence or dropped and counted."""

import gzip

import pytest

from grukit.data.parallel import read_lines, read_parallel


def _write(path, lines, gz=False):
    data = "".join(f"{x}\n" for x in lines).encode()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return str(path)


def test_two_files_plain_and_gzipped_give_the_same_pairs(tmp_path):
    de, en = ["ein Hund", "zwei Katzen"], ["a dog", "two cats"]
    a = read_parallel(_write(tmp_path / "a.de", de), _write(tmp_path / "a.en", en))
    b = read_parallel(_write(tmp_path / "b.de.gz", de, gz=True),
                      _write(tmp_path / "b.en.gz", en, gz=True))
    assert (a.src, a.tgt) == (b.src, b.tgt) == (de, en)
    assert a.lines == [1, 2]


def test_lines_end_at_newline_only_and_a_byte_order_mark_is_dropped(tmp_path):
    """A bare carriage return inside a line is no line break (the output must line up with
    the input's lines, as `wc -l` counts them); CRLF endings and a UTF-8 BOM are stripped."""
    for name, opener in (("a.txt", open), ("a.txt.gz", gzip.open)):
        with opener(tmp_path / name, "wb") as f:
            f.write("\ufeffein Hund\r\nzwei\rKatzen\ndrei\n".encode())
        assert read_lines(str(tmp_path / name)) == ["ein Hund", "zwei\rKatzen", "drei"]


def test_a_file_whose_lines_all_end_in_a_bare_carriage_return_has_those_lines(tmp_path):
    """Classic Mac OS line ends (no \\n in the whole file): two such files were read as one
    pair of three-sentence 'lines', silently; Python's universal newlines (and so sacreBLEU)
    read three."""
    for name, opener in (("m.de", open), ("m.en.gz", gzip.open)):
        with opener(tmp_path / name, "wb") as f:
            f.write(b"ein Hund\rzwei Katzen\rdrei\r" if name == "m.de" else
                    b"a dog\rtwo cats\rthree")
    p = read_parallel(str(tmp_path / "m.de"), str(tmp_path / "m.en.gz"))
    assert p.src == ["ein Hund", "zwei Katzen", "drei"]
    assert p.tgt == ["a dog", "two cats", "three"] and p.lines == [1, 2, 3]
    with open(tmp_path / "m.de", encoding="utf-8") as f:  # universal newlines
        assert p.src == f.read().splitlines()


def test_tsv_gives_the_pairs(tmp_path):
    p = read_parallel(_write(tmp_path / "x.tsv", ["ein Hund\ta dog", "Katze\tcat"]))
    assert p.src == ["ein Hund", "Katze"] and p.tgt == ["a dog", "cat"]


def test_misaligned_files_are_refused_with_both_counts(tmp_path):
    with pytest.raises(ValueError, match="not aligned.*3 lines.*2") as err:
        read_parallel(_write(tmp_path / "a", ["x", "y", "z"]), _write(tmp_path / "b", ["x", "y"]))
    assert "\n" not in str(err.value)


def test_tsv_line_without_one_tab_is_refused_naming_the_line(tmp_path):
    with pytest.raises(ValueError, match="line 2 has 2 tabs"):
        read_parallel(_write(tmp_path / "x.tsv", ["a\tb", "a\tb\tc"]))


def test_empty_lines_are_dropped_and_counted_or_refused(tmp_path):
    s = _write(tmp_path / "s", ["eins", "", "drei"])
    t = _write(tmp_path / "t", ["one", "two", "three"])
    with pytest.warns(UserWarning, match="1 pair"):
        p = read_parallel(s, t)
    assert p.src == ["eins", "drei"] and p.lines == [1, 3] and p.dropped["empty"] == 1
    with pytest.raises(ValueError, match="line 2 is empty on the source side"):
        read_parallel(s, t, empty="error")
    # without a length limit the warning says nothing of one ("0 over None characters")
    with pytest.warns(UserWarning, match=r"left out 1 pair\(s\) with an empty side; 2 kept\.$"):
        read_parallel(s, t, max_chars=None)
    # a TSV's empty line is an empty pair, refused as such (it was "has 0 tabs")
    tsv = tmp_path / "p.tsv"
    tsv.write_text("eins\tone\n\ndrei\tthree\n")
    with pytest.raises(ValueError, match="line 2 is empty on the source side"):
        read_parallel(str(tsv), empty="error")


def test_empty_lines_can_be_kept_for_scoring(tmp_path):
    import warnings

    s = _write(tmp_path / "s", ["eins", "", "drei"])
    t = _write(tmp_path / "t", ["one", "two", ""])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left out, nothing to warn of
        p = read_parallel(s, t, empty="keep")
    assert (p.src, p.tgt, p.lines) == (["eins", "", "drei"], ["one", "two", ""], [1, 2, 3])
    tsv = tmp_path / "p.tsv"
    tsv.write_text("eins\tone\n\nzwei\t\n")
    p = read_parallel(str(tsv), empty="keep")
    assert (p.src, p.tgt) == (["eins", "", "zwei"], ["one", "", ""])


def test_over_long_lines_are_dropped_or_refused(tmp_path):
    s = _write(tmp_path / "s", ["kurz", "x" * 50])
    t = _write(tmp_path / "t", ["short", "y"])
    with pytest.warns(UserWarning):
        p = read_parallel(s, t, max_chars=20)
    assert p.src == ["kurz"] and p.dropped["long"] == 1
    with pytest.raises(ValueError, match="line 2 has 50 characters, over max_chars=20"):
        read_parallel(s, t, max_chars=20, long="error")
    # numpy's integers as Python's (np.int64(20) was refused as no positive integer)
    import numpy as np

    with pytest.warns(UserWarning, match="1 over 20 characters"):
        assert read_parallel(s, t, max_chars=np.int64(20)).src == ["kurz"]


def test_bad_files_and_settings_are_one_sentence(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_parallel(str(tmp_path / "missing"), str(tmp_path / "missing2"))
    with pytest.raises(ValueError, match="is a folder"):
        read_lines(str(tmp_path))
    bad = tmp_path / "latin1"
    bad.write_bytes("Gr\xfc\xdfe\n".encode("latin-1"))
    with pytest.raises(ValueError, match="line 1 is not UTF-8"):
        read_lines(str(bad))
    empty = _write(tmp_path / "e", [])
    with pytest.raises(ValueError, match="no sentences"):
        read_parallel(empty, empty)
    with pytest.raises(ValueError, match="empty must be one of"):
        read_parallel(empty, empty, empty="drop")
    with pytest.raises(ValueError, match="max_chars must be a positive integer or None; got "
                                         "True"):
        read_parallel(empty, empty, max_chars=True)


def test_multi30k_reads_aligned_with_its_published_sizes():
    from conftest import SHARED_DATA

    d = SHARED_DATA / "translation" / "multi30k" if SHARED_DATA else None
    if d is None or not (d / "val.de.gz").is_file():
        pytest.skip(f"Multi30K is not at {d} (set GRUKIT_SHARED_DATA)")
    for split, n in (("val", 1014), ("test_2016_flickr", 1000)):
        p = read_parallel(str(d / f"{split}.de.gz"), str(d / f"{split}.en.gz"))
        assert len(p) == n and sum(p.dropped.values()) == 0
    assert p.src[0].startswith("Ein Mann") and p.tgt[0].startswith("A man")


@pytest.mark.parametrize("gz", [False, True])
def test_a_utf16_file_is_named_as_utf16(tmp_path, gz):
    # it was "line 1 is not UTF-8 text", as if one byte of line 1 were bad
    body = "eins\nzwei\n".encode("utf-16")
    p = tmp_path / "s.txt"
    p.write_bytes(gzip.compress(body) if gz else body)
    with pytest.raises(ValueError, match=r"is UTF-16 text \(it starts with a UTF-16 byte-order "
                                         r"mark\); convert it to UTF-8"):
        read_lines(str(p))


@pytest.mark.parametrize("source", ["plain", "gz", "stream"])
def test_a_byte_that_is_not_utf8_is_named_with_its_own_line(tmp_path, source):
    import gzip
    import io

    body = "".join(f"sentence {i}\n" for i in range(50)).encode() + b"caf\xe9\nend\n"
    if source == "stream":  # what grukit translate makes of stdin; it was named as line 1
        data = io.BytesIO(body)
        data.name = "<stdin>"
        arg = io.TextIOWrapper(data, encoding="utf-8-sig", newline="\n")
    else:
        p = tmp_path / ("t.gz" if source == "gz" else "t.txt")
        p.write_bytes(gzip.compress(body) if source == "gz" else body)
        arg = str(p)
    with pytest.raises(ValueError, match="line 51 is not UTF-8"):
        read_lines(arg)
