import numpy as np
import pytest

from grukit.data.uea import UEA, load_uea

pytest.importorskip("sktime", reason="the UEA sets come with sktime (pip install grukit[uea])")


def test_japanese_vowels_official_split():
    x, y = load_uea("JapaneseVowels", "train")
    assert len(x) == len(y) == 270 and UEA["JapaneseVowels"].train == 270
    assert all(s.dtype == np.float32 and s.ndim == 2 and s.shape[1] == 12 for s in x)
    lengths = {len(s) for s in x}
    assert min(lengths) == 7 and max(lengths) == 26  # variable length
    assert sorted(set(y)) == [str(i) for i in range(1, 10)]
    xt, yt = load_uea("JapaneseVowels", "test")
    assert len(xt) == 370 and max(len(s) for s in xt) == 29
    xa, ya = load_uea("JapaneseVowels", "all")
    assert len(xa) == 640 and np.array_equal(ya, np.concatenate([y, yt]))


def test_univariate_sets_have_one_channel():
    x, y = load_uea("GunPoint", "train")
    assert len(x) == 50 and x[0].shape == (150, 1) and set(y) == {"1", "2"}


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match=r"unknown UEA data set 'Vowels'; choose one of"):
        load_uea("Vowels")
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all'"):
        load_uea("JapaneseVowels", "valid")


def test_wrong_case_and_type_get_a_hint():
    with pytest.raises(ValueError, match=r"unknown UEA data set 'japanesevowels' \(did you mean "
                                         r"'JapaneseVowels'\?\); choose one of"):
        load_uea("japanesevowels")
    with pytest.raises(ValueError, match=r"unknown UEA data set None; choose one of"):
        load_uea(None)
