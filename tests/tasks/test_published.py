"""The music report shows published figures only for the data set they were measured on
(identified by its train/valid/test sequence counts); other data gets a note that no
published figure is known, never another set's numbers."""

import numpy as np
import pytest
import scipy.io

from conftest import SHARED_DATA
from grukit.tasks.compare import CompareConfig, compare, published, report, tasks

JSB = SHARED_DATA / "music" / "JSB_Chorales.mat"
CHUNG = "Chung et al. 2014"


def tiny_mat(path, counts, lo=4, hi=10):
    """A synthetic piano-roll .mat with ``counts`` train/valid/test sequences."""
    rng = np.random.default_rng(0)
    splits = {}
    for key, n in zip(("traindata", "validdata", "testdata"), counts, strict=True):
        cell = np.empty((1, n), dtype=object)
        for i in range(n):
            cell[0, i] = (rng.random((int(rng.integers(lo, hi)), 88)) < 0.1).astype(np.uint8)
        splits[key] = cell
    scipy.io.savemat(path, splits)
    return path


def _notes_text(notes: dict) -> str:
    return " ".join(f"{k} {v}" for k, v in notes.items())


def test_data_matching_no_known_set_shows_no_published_row(tmp_path):
    path = tiny_mat(tmp_path / "other.mat", counts=(6, 3, 3))
    notes = tasks.prepare("music", str(path)).notes
    assert notes["published test NLL"].startswith("no published figure is known for this "
                                                  "data (its train/valid/test sequence counts "
                                                  "6/3/3")
    text = _notes_text(notes)
    assert CHUNG not in text and "8.54" not in text and "9.1" not in text

    out = compare(CompareConfig(task="music", data=str(path), models=("gru",), seeds=1,
                                hidden=4, epochs=1, memory_steps=0, latency_batch=(2, 5)),
                  log=lambda *_: None)
    md = report.markdown(out)
    assert "no published figure is known for this data" in md
    assert CHUNG not in md and "8.540" not in md


def test_data_with_jsb_counts_shows_jsb_row(tmp_path):
    path = tiny_mat(tmp_path / "renamed.mat", counts=(229, 76, 77), lo=2, hi=4)
    notes = tasks.prepare("music", str(path)).notes
    assert "JSB Chorales" in notes["data set"] and "229/76/77" in notes["data set"]
    chung = next(v for k, v in notes.items() if CHUNG in k)
    assert chung == {"tanh RNN": 9.10, "GRU": 8.54, "LSTM": 8.67}
    assert any("Table 2" in k for k in notes if CHUNG in k)
    assert "published test NLL" not in notes  # no "none known" line beside the figures

    out = compare(CompareConfig(task="music", data=str(path), models=("gru",), seeds=1,
                                hidden=4, epochs=1, memory_steps=0, latency_batch=(2, 5)),
                  log=lambda *_: None)
    md = report.markdown(out)
    assert f"published test NLL on JSB Chorales ({CHUNG}" in md and "GRU 8.540" in md


@pytest.mark.parametrize("counts", [(229, 76, 76), (228, 76, 77), (76, 229, 77)])
def test_near_misses_of_jsb_counts_match_nothing(counts):
    assert published.lookup(dict(zip(("train", "valid", "test"), counts,
                                      strict=True))) is None


def test_every_figure_names_its_paper_table_and_source():
    for d in published.KNOWN:
        assert len(d.counts) == 3 and d.figures
        for f in d.figures:
            assert f.paper and "Table" in f.table and f.source and f.values


@pytest.mark.skipif(not JSB.exists(), reason=f"shared data not found at {JSB}")
def test_the_real_jsb_file_is_recognised():
    notes = tasks.prepare("music", str(JSB)).notes
    assert "JSB Chorales" in notes["data set"]
    assert any(CHUNG in k for k in notes)
