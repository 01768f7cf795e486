import numpy as np
import pytest

from conftest import SHARED_DATA
from grukit.data.clinical import PHYSIONET_VARIABLES, read_long_csv, read_physionet2012
from grukit.data.clinical_steps import (
    Standardization,
    empirical_mean,
    grid_index,
    impute_forward,
    impute_mean,
    time_since_observed,
)

HR, TEMP, WEIGHT, GCS = (PHYSIONET_VARIABLES.index(v) for v in ("HR", "Temp", "Weight", "GCS"))

STAY_1 = """Time,Parameter,Value
00:00,RecordID,1
00:00,Age,70
00:00,Age,72
00:00,Gender,1
00:00,Height,-1
00:00,ICUType,2
00:00,Weight,70
00:30,HR,60
01:10,HR,80
01:10,HR,100
01:10,Temp,200
02:59,HR,70
03:00,Weight,72
48:00,HR,50
49:30,HR,40
"""
STAY_2 = """Time,Parameter,Value
00:00,RecordID,2
00:00,Age,50
00:00,Gender,0
00:00,Gender,1
00:00,Height,170
00:00,ICUType,3
00:00,Weight,-1
05:00,GCS,15
"""
OUTCOMES = """RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death
1,10,3,5,-1,0
2,12,4,9,7,1
3,8,2,4,-1,0
"""


def _set(tmp_path, stays=None, outcomes=OUTCOMES):
    """A PhysioNet-2012-like folder: set-a/<id>.txt and Outcomes-a.txt."""
    stays = {"1": STAY_1, "2": STAY_2} if stays is None else stays
    folder = tmp_path / "physionet"
    (folder / "set-a").mkdir(parents=True)
    for rid, text in stays.items():
        target = folder / "set-a" / f"{rid}.txt"
        (target.write_bytes if isinstance(text, bytes) else target.write_text)(text)
    if outcomes is not None:
        (folder / "Outcomes-a.txt").write_text(outcomes)
    return folder


def _read(tmp_path, **kw):
    return read_physionet2012(_set(tmp_path), **kw)


def test_time_since_observed_matches_hand_worked_example_on_a_grid():
    # m = 1 0 0 1 0 on an hourly grid: δ = 0, 1 (seen at t=0), 2, 3, 1 (seen at t=3)
    m = np.array([1, 0, 0, 1, 0], dtype=np.float32)[None, :, None]
    assert time_since_observed(m, 1.0)[0, :, 0].tolist() == [0, 1, 2, 3, 1]
    assert time_since_observed(m, 0.5)[0, :, 0].tolist() == [0, 0.5, 1, 1.5, 0.5]


def test_time_since_observed_with_irregular_stamps_follows_the_papers_recursion():
    # s = 0, 0.5, 2, 3.5, 4 and m = 1 0 1 0 0:
    # δ1 = 0.5 (m0 = 1); δ2 = 1.5 + 0.5 (m1 = 0); δ3 = 1.5 (m2 = 1); δ4 = 0.5 + 1.5
    m = np.array([1, 0, 1, 0, 0], dtype=np.float32)[None, :, None]
    s = np.array([0, 0.5, 2, 3.5, 4])
    assert time_since_observed(m, s)[0, :, 0].tolist() == [0, 0.5, 2.0, 1.5, 2.0]
    both = time_since_observed(np.concatenate([m, m]), np.stack([s, s]))
    assert np.array_equal(both[0], both[1])
    with pytest.raises(ValueError, match="times must be"):
        time_since_observed(m, np.arange(4))
    for times in (np.nan, np.array([0, 0.5, np.nan, 3.5, 4])):  # δ was NaN from there on
        with pytest.raises(ValueError, match=r"^times must be finite numbers of hours"):
            time_since_observed(m, times)


def test_grid_values_mask_delta_and_lengths_of_hand_made_stays(tmp_path):
    d = _read(tmp_path)
    assert d.X.shape == (2, 48, 37) and d.X.dtype == np.float32
    assert d.record_ids.tolist() == [1, 2]
    hr = d.X[0, :, HR]
    # 00:30 -> step 0; 01:10 twice (80, 100) -> mean 90 in step 1; 02:59 -> step 2;
    # 48:00 closes the window -> last step; 49:30 is after it
    assert hr[:3].tolist() == [60, 90, 70] and hr[47] == 50
    assert np.isnan(hr[3:47]).all()
    assert d.M[0, :, HR].sum() == 4 and d.M[0, 47, HR] == 1
    assert d.delta[0, :5, HR].tolist() == [0, 1, 1, 1, 2]
    assert d.delta[0, 47, HR] == 45  # last seen at step 2
    assert d.X[0, 3, WEIGHT] == 72 and d.M[0, :, WEIGHT].sum() == 1  # 00:00 Weight is static
    assert d.M[0, :, TEMP].sum() == 0  # 200 °C is implausible
    assert d.lengths.tolist() == [48, 6]  # one past the last step with a measurement
    assert d.X[1, 5, GCS] == 15 and d.delta[1, 5, GCS] == 5


@pytest.mark.parametrize("step", [1.0, 0.5, 0.25, 0.2, 0.1])
def test_a_time_on_a_step_boundary_lands_in_the_step_it_opens(step):
    minutes = np.arange(48 * 60 + 1)  # every minute of the window, 48:00 included
    width, n = round(step * 60), round(48 / step)  # minutes per step, steps
    expected = np.minimum(minutes // width, n - 1).tolist()  # 48:00 closes the last step
    physionet = minutes // 60 + (minutes % 60) / 60.0  # HH:MM as the stay reader turns it
    long_csv = minutes * (1 / 60)  # read_long_csv(..., time_unit=1/60)
    assert grid_index(physionet, step, n).tolist() == expected
    assert grid_index(long_csv, step, n).tolist() == expected
    assert grid_index(np.array([48 + 1 / 60]), step, n).tolist() == [-1]


def test_boundary_times_in_both_readers_land_in_the_step_they_open(tmp_path):
    stay = "Time,Parameter,Value\n00:00,RecordID,1\n00:18,HR,81\n00:36,HR,82\n00:42,HR,83\n"
    d = read_physionet2012(_set(tmp_path, {"1": stay}, outcomes=None), outcomes=None,
                           step=0.1, n_steps=480)
    assert np.flatnonzero(d.M[0, :, HR]).tolist() == [3, 6, 7]
    csv = tmp_path / "long.csv"
    csv.write_text("id,time,variable,value\na,18,hr,81\na,36,hr,82\n")
    d = read_long_csv(csv, time_unit=1 / 60, step=0.2, n_steps=240)
    assert np.flatnonzero(d.M[0, :, 0]).tolist() == [1, 3]


def test_static_descriptors_minus_one_duplicates_and_conflicts(tmp_path):
    d = _read(tmp_path)
    assert d.static_names == ("Age", "Gender", "Height", "ICUType", "Weight")
    s = d.static
    assert s[0].tolist()[:2] == [71, 1]  # Age 70 and 72 -> mean
    assert np.isnan(s[0, 2])  # Height -1 -> unknown
    assert s[0, 3:].tolist() == [2, 70]
    assert np.isnan(s[1, 1])  # Gender 0 and 1 -> conflicting, missing
    assert np.isnan(s[1, 4])  # Weight -1
    r = d.report
    assert r.dropped[("Height", "unknown (-1)")] == 1
    assert r.dropped[("Weight (descriptor)", "unknown (-1)")] == 1
    assert r.dropped[("Gender", "conflicting")] == 1
    assert r.dropped[("Temp", "implausible")] == 1
    assert r.duplicates == {"HR": 1, "Age": 1, "Gender": 1}
    assert r.out_of_window == {"HR": 1} and r.stays_beyond_window == 1
    assert r.same_step == {}  # no two HR times share an hour once duplicates are merged
    assert "after the window" in str(r) and "implausible" in r.table()["what"].tolist()


def test_outcomes_by_name_and_records_without_file_or_outcome_are_reported(tmp_path):
    folder = _set(tmp_path, {"1": STAY_1, "2": STAY_2, "4": STAY_1.replace(",RecordID,1",
                                                                         ",RecordID,4")})
    d = read_physionet2012(folder)
    assert d.outcome == "In-hospital_death"
    assert d.y[:2].tolist() == [0, 1] and np.isnan(d.y[2])
    assert d.report.without_file == ["3"] and d.report.without_outcome == [4]
    assert "1 outcome rows without a record file: 3" in str(d.report)
    assert d.with_outcome("SOFA").y[:2].tolist() == [3, 4]
    with pytest.raises(ValueError, match="no outcome column 'Death'"):
        read_physionet2012(folder, outcome="Death")
    nothing = read_physionet2012(folder, outcomes=None)
    assert nothing.outcome is None and np.isnan(nothing.y).all()
    # an outcome asked of no outcome file was dropped in silence (read_long_csv refuses it)
    with pytest.raises(ValueError, match=r"outcome='SOFA' reads the outcome file, and "
                                         r"outcomes=None reads none"):
        read_physionet2012(folder, outcomes=None, outcome="SOFA")


def test_outcome_ids_with_leading_zeros_match_their_records(tmp_path):
    d = read_physionet2012(_set(tmp_path, outcomes="RecordID,In-hospital_death\n0001,1\n"
                                                   "2,0\n007,1\n"))
    assert d.y.tolist() == [1, 0]
    assert d.report.without_outcome == [] and d.report.without_file == ["007"]
    assert "1 outcome rows without a record file: 007" in str(d.report)
    with pytest.raises(ValueError, match=r"lists record 1 twice \(as '1' and '01'\)"):
        read_physionet2012(_set(tmp_path / "twice", outcomes="RecordID,In-hospital_death\n"
                                                             "1,1\n01,0\n2,0\n"))


def test_an_empty_outcome_cell_is_reported_with_its_records(tmp_path):
    d = read_physionet2012(_set(tmp_path, outcomes="RecordID,SOFA,In-hospital_death\n"
                                                   "1,,1\n2,4,\n"))
    assert d.y[0] == 1 and np.isnan(d.y[1])
    assert d.report.empty_outcome == [2] and d.report.without_outcome == []
    assert "1 records whose outcome cell is empty (no label): 2" in str(d.report)
    sofa = d.with_outcome("SOFA")
    assert sofa.report.empty_outcome == [1] and d.report.empty_outcome == [2]


def test_raw_irregular_events_keep_every_cleaned_measurement(tmp_path):
    d = _read(tmp_path)
    times, values = d.record_events(0)
    assert times.tolist() == [0.5, 70 / 60, 179 / 60, 3.0, 48.0, 49.5]
    assert values[1, HR] == 90 and np.isnan(values[1, TEMP])  # duplicate averaged, 200 gone
    assert values[-1, HR] == 40  # after the window: in the raw events, not on the grid
    assert np.isnan(values[:, WEIGHT]).sum() == 5
    for i in (-1, 2, 0.0):  # -1 gave an empty series, not the last record's
        with pytest.raises(ValueError, match=r"^i must be a record position in 0\.\.1; got"):
            d.record_events(i)


def test_standardization_and_empirical_mean_use_training_records_only():
    x = np.array([[[1.0], [3.0]], [[5.0], [np.nan]], [[100.0], [200.0]]], dtype=np.float32)
    m = (~np.isnan(x)).astype(np.float32)
    st = Standardization.fit(x, m, train_indices=[0, 1])
    assert st.mean.tolist() == [3.0] and np.allclose(st.std, np.std([1, 3, 5]))
    z = st.apply(x)
    assert np.isnan(z[1, 1, 0]) and np.isclose(z[2, 0, 0], (100 - 3) / np.std([1, 3, 5]))
    assert np.allclose(st.invert(z[0]), x[0])
    assert empirical_mean(x, m, [0, 1]).tolist() == [3.0]
    assert empirical_mean(x, m, np.array([False, False, True])).tolist() == [150.0]
    with pytest.raises(ValueError, match="never observed in the training records"):
        empirical_mean(x[:, 1:], m[:, 1:], [1], names=["HR"])  # record 1 has no step 1
    with pytest.raises(ValueError, match="train_indices holds positions outside"):
        Standardization.fit(x, m, train_indices=[0, 7])
    seen = np.ones_like(m)  # marks record 1's NaN observed: the statistics were NaN
    for fit in (lambda: Standardization.fit(x, seen, [0, 1]),
                lambda: empirical_mean(x, seen, [0, 1])):
        with pytest.raises(ValueError, match=r"^x holds NaN or inf where the mask marks a "
                                             r"value observed"):
            fit()
    assert Standardization.fit(x, seen, [0, 2]).mean.tolist() == [76.0]  # NaN not in them


def test_mean_and_forward_imputation():
    x = np.array([[[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan]]], dtype=np.float32)
    m = (~np.isnan(x)).astype(np.float32)
    mean = np.array([9.0, 8.0], dtype=np.float32)
    assert impute_mean(x, m, mean)[0].tolist() == [[9, 1], [2, 8], [9, 8]]
    # forward: the mean before the first observation, then the last observed value
    assert impute_forward(x, m, mean)[0].tolist() == [[9, 1], [2, 1], [2, 1]]


def test_data_level_transforms_fit_on_training_indices(tmp_path):
    d = _read(tmp_path)
    # most variables are never measured in the tiny set: no statistics to fit for them
    with pytest.raises(ValueError, match="ALP is never observed in the training records"):
        d.fit_standardization([0])
    with pytest.raises(ValueError, match="ALP is never observed in the training records"):
        d.empirical_mean([0])
    st = Standardization.fit(d.X[..., HR:HR + 1], d.M[..., HR:HR + 1], [0])
    assert np.isclose(st.mean[0], np.mean([60, 90, 70, 50]))  # record 1 (no HR) not used
    assert np.isclose(d.fit_static_standardization([0, 1]).mean[0], (71 + 50) / 2)
    filled = d.imputed("forward", np.zeros(37, dtype=np.float32))
    assert filled[0, 3, HR] == 70 and filled[0, 0, TEMP] == 0
    with pytest.raises(ValueError, match="how='median' is not an imputation"):
        d.imputed("median", np.zeros(37))


def test_summary_features_per_variable_inside_the_window(tmp_path):
    d = _read(tmp_path)
    feats, names = d.summary_features()
    col = {n: i for i, n in enumerate(names)}
    assert feats.shape == (2, 37 * 7 + 5)
    # HR of stay 1 inside the window: 60, 90 (two at 01:10 averaged), 70, 50; 40 is after it
    assert feats[0, col["HR_count"]] == 4 and feats[0, col["HR_mean"]] == 67.5
    assert feats[0, col["HR_min"]] == 50 and feats[0, col["HR_max"]] == 90
    assert feats[0, col["HR_first"]] == 60 and feats[0, col["HR_last"]] == 50
    assert feats[1, col["HR_count"]] == 0 and np.isnan(feats[1, col["HR_mean"]])
    assert feats[0, col["Age"]] == 71
    with pytest.raises(ValueError, match="unknown summary statistic 'median'"):
        d.summary_features(statistics=("median",))


@pytest.mark.parametrize("stay, message", [
    ("", "is empty"),
    ("Time,Parameter,Value\n", "has no rows below its header"),
    ("Hour;Param;Val\n00:00;RecordID;9\n", "not the header Time,Parameter,Value"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n00:10,HR\n", "line 3: '00:10,HR' has 2 fields"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n00:10,HR,7,8\n", "line 3: .* has 4 fields"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n7h30,HR,70\n", "line 3: time '7h30' is not HH"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n07:75,HR,70\n", "line 3: time '7:75' is not HH"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n-0:30,HR,70\n", "line 3: time '-0:30' is not HH"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n1e1:30,HR,70\n", "line 3: time '1e1:30' is not"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n+1:30,HR,70\n", "line 3: time '\\+1:30' is not"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n1.0:30,HR,70\n", "line 3: time '1.0:30' is not"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n1:5,HR,70\n", "line 3: time '1:5' is not HH:MM"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n01:005,HR,70\n", "line 3: time '01:005' is not"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n01:00,HR,fast\n", "line 3: value 'fast' of 'HR'"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n01:00,HR,\n", "line 3: value '' of 'HR'"),
    ("Time,Parameter,Value\n00:00,RecordID,9\n01:00,Mood,3\n", "line 3: unknown parameter "
     "'Mood'"),
    ("Time,Parameter,Value\n00:00,RecordID,8\n", "RecordID 8 does not match the file name"),
    ("Time,Parameter,Value\n00:00,RecordID,-1\n", "line 2: RecordID -1 is not a record number"),
    ("Time,Parameter,Value\n00:00,RecordID,9.5\n", "RecordID 9.5 is not a record number"),
    ("Time,Parameter,Value\n00:00,RecordID,1e20\n", r"RecordID 1e\+20 is not a record number"),
    (b"\x89PNG\r\n\x1a\n", "is a PNG image, not a text file"),
])
def test_bad_stay_file_is_refused_with_one_sentence(tmp_path, stay, message):
    folder = _set(tmp_path, {"9": stay}, outcomes=None)
    with pytest.raises(ValueError, match=message) as err:
        read_physionet2012(folder, outcomes=None)
    assert "9.txt" in str(err.value) and "\n" not in str(err.value)


def test_two_stay_files_of_one_record_are_refused_naming_both(tmp_path):
    for i, stays in enumerate([{"1": STAY_1, "1 (copy)": STAY_1, "2": STAY_2},
                               {"2": STAY_2, "abc": STAY_2}, {"1": STAY_1, "0001": STAY_1}]):
        with pytest.raises(ValueError, match="both hold RecordID") as err:
            read_physionet2012(_set(tmp_path / str(i), stays), outcomes=None)
        first, second = sorted(f"{n}.txt" for n in stays if stays[n] == stays[min(stays)])
        assert first in str(err.value) and second in str(err.value)
        assert "keep one file per stay" in str(err.value) and "\n" not in str(err.value)


def test_hidden_files_in_the_stay_folder_are_not_read_but_listed(tmp_path):
    folder = _set(tmp_path, {"1": STAY_1, "2": STAY_2, ".1": STAY_1,
                             "._2": b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X"})
    d = read_physionet2012(folder)
    assert d.record_ids.tolist() == [1, 2]
    assert d.report.hidden_files == [".1.txt", "._2.txt"]
    assert "2 hidden files not read (names starting with '.'): .1.txt, ._2.txt" in str(d.report)


def test_a_record_number_too_large_is_refused_in_one_sentence(tmp_path):
    folder = _set(tmp_path, {"99999999999999999999": "Time,Parameter,Value\n01:00,HR,80\n"},
                  outcomes=None)
    with pytest.raises(ValueError, match=r"99999999999999999999.txt': the number .* too large "
                                         r"for a RecordID \(at most 2\^53"):
        read_physionet2012(folder, outcomes=None)


def test_windows_line_ends_blank_lines_and_utf16_read_like_plain_ones(tmp_path):
    plain = _read(tmp_path / "plain")
    messy = read_physionet2012(_set(tmp_path / "messy", {
        "1": STAY_1.replace("00:30,HR,60\n", "\n00:30,HR,60\n\n").replace("\n", "\r\n"),
        "2": (STAY_2 + "\n\n").encode("utf-16")}))  # with its byte-order mark
    assert np.array_equal(plain.X, messy.X, equal_nan=True)
    assert np.array_equal(plain.static, messy.static, equal_nan=True)
    spaced = read_physionet2012(_set(tmp_path / "spaced", {
        "1": STAY_1.replace(",", ", "), "2": STAY_2.replace(",", " , ")}))  # names stripped
    assert np.array_equal(plain.X, spaced.X, equal_nan=True)
    assert np.array_equal(plain.static, spaced.static, equal_nan=True)
    with pytest.raises(ValueError, match="1.txt' line 11: '00:10,HR' has 2 fields"):
        read_physionet2012(_set(tmp_path / "bad", {
            "1": STAY_1.replace("00:30,HR,60\n", "\n00:30,HR,60\n00:10,HR\n")}))


def test_model_inputs_fill_missing_values_after_z_scoring(tmp_path):
    d = _read(tmp_path)
    st = Standardization(mean=np.full(37, 10.0), std=np.full(37, 2.0))
    x, m, delta = d.inputs(st)
    assert x.dtype == m.dtype == delta.dtype == np.float32 and not np.isnan(x).any()
    assert x[0, 0, HR] == (60 - 10) / 2 and x[0, 3, HR] == 0 and m[0, 3, HR] == 0


def test_unknown_parameters_dropped_or_kept_on_request_and_counted(tmp_path):
    stay = STAY_2 + "06:00,Mood,3\n07:00,Mood,4\n"
    folder = _set(tmp_path, {"2": stay})
    dropped = read_physionet2012(folder, unknown="drop")
    assert dropped.report.unknown_parameters == {"Mood": 2} and len(dropped.variables) == 37
    kept = read_physionet2012(folder, unknown="keep")
    assert kept.variables[-1] == "Mood" and kept.X[0, 6:8, -1].tolist() == [3, 4]
    assert "unknown parameter (keep)" in str(kept.report)
    with pytest.raises(ValueError, match="unknown='maybe' is not a policy"):
        read_physionet2012(folder, unknown="maybe")


def test_bad_folder_and_outcome_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        read_physionet2012(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no stay files"):
        read_physionet2012(tmp_path / "empty")
    cases = [
        (None, FileNotFoundError, "no outcome file"),
        ("RecordID,In-hospital_death\n77,1\n78,0\n", ValueError, "matches none of the 2"),
        ("RecordID,In-hospital_death\n1,1\n1,0\n", ValueError, "lists record '1' twice"),
        ("ID,In-hospital_death\n1,1\n", ValueError, "has no 'RecordID' column"),
        ("RecordID,In-hospital_death\n1,yes\n", ValueError, "line 2: In-hospital_death 'yes'"),
        # a cell of inf was taken as an outcome and its record left out of training unlisted
        ("RecordID,In-hospital_death\n1,1\n\n2,inf\n", ValueError,
         r"line 4: In-hospital_death 'inf' is not a finite number; write each outcome as"),
        # a row with a field too many shifted every column onto the next (ids read from
        # SAPS-I), with an error about duplicated records at best
        ("RecordID,SAPS-I,In-hospital_death\n1,12,0,\n2,12,1\n", ValueError,
         r"is not a readable CSV \(Error tokenizing data. C error: Expected 3 fields in line "
         r"2, saw 4\)\.$"),
        ("RecordID,In-hospital_death,In-hospital_death\n1,1,0\n2,0,1\n", ValueError,
         "names the column 'In-hospital_death' twice in its header; give each column once"),
    ]
    for i, (outcomes, error, message) in enumerate(cases):
        folder = _set(tmp_path / str(i), outcomes=outcomes)
        with pytest.raises(error, match=message):
            read_physionet2012(folder)
    with pytest.raises(ValueError, match="n_steps must be a positive integer"):
        _read(tmp_path / "grid", n_steps=0)
    ranged = _read(tmp_path / "ranged", ranges={"HR": (np.int64(0), np.int64(65))})
    assert ranged.report.dropped[("HR", "implausible")] == 3  # np.int64 bounds were refused
    with pytest.raises(ValueError, match=r"ranges\['HR'\] must be \(low, high\) numbers"):
        _read(tmp_path / "flag", ranges={"HR": (True, 300)})
    trailing = _set(tmp_path / "trailing", outcomes=OUTCOMES.replace("\n", ",,\n"))
    assert read_physionet2012(trailing).y.tolist() == [0, 1]  # empty columns of no name


def test_long_csv_with_named_columns_numeric_or_clock_times(tmp_path):
    csv = tmp_path / "long.csv"
    csv.write_text("patient,minutes,item,reading\n"
                   "a,0,age,40\nb,0,age,-1\na,30,hr,80\na,30,hr,90\na,45,hr,95\na,150,hr,70\n"
                   "a,200,spo2,300\nb,600,spo2,95\n")
    out = tmp_path / "out.csv"
    out.write_text("patient,died\na,1\nc,0\n")
    d = read_long_csv(csv, id_column="patient", time_column="minutes", variable_column="item",
                      value_column="reading", time_unit=1 / 60, statics=("age",),
                      missing_values=(-1,), ranges={"spo2": (0, 100)}, outcomes=out,
                      outcome="died", n_steps=12)
    assert d.variables == ("hr", "spo2") and d.record_ids.tolist() == ["a", "b"]
    # 80 and 90 at 30 min -> 85 (duplicate timestamp); with 95 at 45 min in hour 0 -> 90
    assert d.X[0, 0, 0] == 90 and d.X[0, 2, 0] == 70 and d.report.same_step == {"hr": 1}
    assert d.M[0, :, 1].sum() == 0 and d.X[1, 10, 1] == 95
    assert d.static[:, 0].tolist()[0] == 40 and np.isnan(d.static[1, 0])
    assert d.report.dropped == {("age", "unknown (-1)"): 1, ("spo2", "implausible"): 1}
    assert d.report.duplicates == {"hr": 1}
    assert d.lengths.tolist() == [3, 11] and d.y[0] == 1 and np.isnan(d.y[1])
    assert d.report.without_file == ["c"] and d.report.without_outcome == ["b"]
    clock = tmp_path / "clock.csv"
    clock.write_text("id,time,variable,value\nx,00:30,hr,70\nx,02:00,hr,75\n")
    c = read_long_csv(clock, n_steps=4)
    assert c.X[0, :, 0].tolist()[:1] == [70] and c.X[0, 2, 0] == 75
    assert c.delta[0, :, 0].tolist() == [0, 1, 2, 1]


def test_long_csv_bad_input(tmp_path):
    csv = tmp_path / "long.csv"
    csv.write_text("id,time,variable,value\nx,1,hr,70\nx,-2,hr,75\n")
    with pytest.raises(ValueError, match="line 3: time '-2' is not a number of hours"):
        read_long_csv(csv)
    with pytest.raises(ValueError, match="time_column='t' is not a column of .*'id', 'time'"):
        read_long_csv(csv, time_column="t")
    csv.write_text("id,time,variable,value\nx,1,hr,high\n")
    with pytest.raises(ValueError, match="line 2: value 'high' of 'hr' is not a number"):
        read_long_csv(csv)
    csv.write_text("id,time,variable,value\n")
    with pytest.raises(ValueError, match="has no measurement rows"):
        read_long_csv(csv)
    csv.write_text("id,time,variable,value\n\nx,1,hr,70\n\n,2,hr,80\n")
    with pytest.raises(ValueError, match="line 5: the row has no record id"):
        read_long_csv(csv)  # blank lines are skipped but still counted
    csv.write_text("id,time,variable,value\nx,1,hr,70,9\n")
    with pytest.raises(ValueError, match="not a readable CSV"):
        read_long_csv(csv)
    csv.write_text("id,time,variable,value\nx,1,hr,70\nx,5,hr,80\n")
    for unit in (0, -1, float("nan"), "1"):  # 0 put both values at admission, in step 0
        with pytest.raises(ValueError, match=r"^time_unit must be a positive number, the "
                                             r"hours in one unit of the time column"):
            read_long_csv(csv, time_unit=unit)
    csv.write_text("id,time,variable,value\nx,1,hr,70\nx,2,crp,1e39\n")  # inf as float32
    with pytest.raises(ValueError, match=r"line 3: value 1e\+39 of 'crp' is beyond the range "
                                         r"of float32 \(3.4e38\)"):
        read_long_csv(csv)
    assert read_long_csv(csv, ranges={"crp": (0, 100)}).report.dropped == {
        ("crp", "implausible"): 1}
    csv.write_text("id,time,variable,value,value\nx,1,hr,70,80\n")  # which value?
    with pytest.raises(ValueError, match="names the column 'value' twice in its header"):
        read_long_csv(csv)
    csv.write_text("id,time,variable,value\nx,1,hr,70\nx,5,hr,80\n")
    with pytest.raises(ValueError, match=r"^missing_values must be numbers, the codes "):
        read_long_csv(csv, missing_values=("NA",))  # numpy's 'could not convert string'
    assert read_long_csv(csv, missing_values=70).report.dropped == {("hr", "unknown (-1)"): 1}
    for kw in (dict(outcome="died"), dict(outcome_id_column="pid")):  # were ignored: no y
        with pytest.raises(ValueError, match=r"reads the outcome file, and none is given; "
                                             r"pass outcomes=PATH"):
            read_long_csv(csv, **kw)
    # a string of names was read as its letters: statics="age" made age a series variable
    for kw, match in ((dict(statics="age"), r"^statics must be a list of names; got the "
                                            r"string 'age' \(for one name write \('age',\)\)"),
                      (dict(variables="hr"), "^variables must be a list of names"),
                      (dict(variables=("hr", "hr")), "^variables names 'hr' twice"),
                      (dict(statics=("hr",)), "^variables is empty; give at least one")):
        with pytest.raises(ValueError, match=match):
            read_long_csv(csv, **kw)
    for i, (kw, match) in enumerate(((dict(variables="HR"), "^variables must be a list of"),
                                     (dict(step="1"), "^step must be a positive number"),
                                     (dict(n_steps=True), "^n_steps must be a positive"))):
        with pytest.raises(ValueError, match=match):
            _read(tmp_path / f"set{i}", **kw)
    csv.write_text("id,time,variable,value\nx,1,hr,70\nx,2,bp,80\n")
    with pytest.raises(ValueError, match=r"ranges\['hr'\] must be \(low, high\)"):
        read_long_csv(csv, ranges={"hr": (300, 0)})
    with pytest.raises(ValueError, match="line 3: unknown parameter 'bp'"):
        read_long_csv(csv, variables=("hr",))


def test_physionet_set_a(shared_data_clinical):
    d = read_physionet2012(shared_data_clinical)
    assert d.n_records == 3996 and d.X.shape == (3996, 48, 37) and len(d.variables) == 37
    assert sorted(d.report.without_file) == ["139060", "140501", "140936", "141264"]
    assert d.report.without_outcome == [] and int(np.nansum(d.y)) == 554
    assert 0.75 < 1 - d.M.mean() < 0.85  # Che et al. report about 80% missing
    assert d.M[..., HR].mean() > 0.85 and d.M[..., PHYSIONET_VARIABLES.index("Cholesterol")
                                             ].mean() < 0.01
    assert (d.lengths >= 1).all() and (d.lengths <= 48).all()
    assert d.report.dropped[("Height", "unknown (-1)")] > 1000
    assert np.nanmax(d.static[:, 0]) <= 120 and np.nanmin(d.X[..., TEMP]) >= 14.2


@pytest.fixture
def shared_data_clinical():
    folder = SHARED_DATA / "clinical" / "physionet2012"
    if not (folder / "set-a").is_dir():
        pytest.skip(f"PhysioNet 2012 set A is not at {folder} (set GRUKIT_SHARED_DATA)")
    return folder


def test_ranges_replace_the_plausible_range_of_the_variables_they_name_only(tmp_path):
    """A range given for HR leaves every other variable's: Temp 200 stays implausible (it was
    read as a temperature when any range was given); (-inf, inf) lifts one range."""
    data = _read(tmp_path / "hr", ranges={"HR": (0, 65)})
    assert data.report.dropped[("HR", "implausible")] == 3
    assert data.report.dropped[("Temp", "implausible")] == 1
    assert not data.M[0, :, TEMP].any()
    lifted = _read(tmp_path / "temp", ranges={"Temp": (-np.inf, np.inf)})
    assert ("Temp", "implausible") not in lifted.report.dropped
    assert lifted.X[0, 1, TEMP] == 200


def test_long_csv_refuses_a_categorical_name_that_is_no_descriptor(tmp_path):
    """categorical=("sex",) without statics=("sex",) was dropped in silence: sex became a
    series variable read as a number."""
    csv = tmp_path / "long.csv"
    csv.write_text("id,time,variable,value\nx,0,sex,1\nx,1,hr,70\ny,0,sex,0\ny,2,hr,80\n")
    with pytest.raises(ValueError, match=r"^categorical names 'sex', which is not in statics; "
                                         r"categorical marks descriptors: give statics=\("
                                         r"'sex',\) too\.$"):
        read_long_csv(csv, categorical=("sex",))
    d = read_long_csv(csv, statics=("sex",), categorical=("sex",))
    assert d.categorical == ("sex",) and d.variables == ("hr",)


def test_integer_and_boolean_values_are_z_scored_and_imputed_as_floats():
    """Integer x was cast back to integers: z-scores of 70..100 bpm became -1, 0, 0, 1 and
    the mean 85.5 imputed as 85 (booleans became True everywhere)."""
    x = np.array([[[70, 1], [80, 0]], [[90, 1], [100, 0]]])  # (N, T, D) int64
    m = np.array([[[1, 1], [0, 0]], [[1, 1], [1, 0]]])
    st = Standardization.fit(x, np.ones_like(x))
    want = (x - st.mean) / st.std
    np.testing.assert_allclose(st.apply(x), want, rtol=1e-12)
    np.testing.assert_allclose(st.apply(x.astype(bool)), (x.astype(bool) - st.mean) / st.std,
                               rtol=1e-12)
    np.testing.assert_allclose(st.invert(np.array([[1, 0]])), [[85 + st.std[0], 0.5]],
                               rtol=1e-12)
    mean = np.array([85.5, 0.5])
    np.testing.assert_array_equal(impute_mean(x, m, mean)[0, 1], mean)
    np.testing.assert_array_equal(impute_forward(x, m, mean)[0], [[70, 1], [70, 1]])
    np.testing.assert_array_equal(impute_forward(x, 1 - m, mean)[0, 0], mean)
    assert st.apply(x.astype(np.float32)).dtype == np.float32  # a float keeps its dtype


def test_static_standardization_leaves_a_descriptor_never_given_missing(tmp_path):
    """A descriptor no training record gives (PhysioNet set A has no ICUType at all) made
    fit_static_standardization refuse every fit; it gets no statistics and reads as NaN."""
    d = _read(tmp_path)
    height = d.static_names.index("Height")  # -1 (unknown) in record 0, 170 in record 1
    st = d.fit_static_standardization([0])
    assert np.isnan(st.mean[height]) and np.isnan(st.std[height])
    z = st.apply(d.static)
    assert np.isnan(z[:, height]).all() and z[0, d.static_names.index("Age")] == 0
    assert np.isclose(d.fit_static_standardization([0, 1]).mean[height], 170)


def test_an_outcome_written_as_a_word_names_the_numbers_to_write(tmp_path):
    """True/False labels were told "leave the cell empty": the fix is 1 and 0."""
    for word in ("True", "yes"):
        folder = _set(tmp_path / word, outcomes=f"RecordID,In-hospital_death\n1,{word}\n2,0\n")
        with pytest.raises(ValueError, match=rf"line 2: In-hospital_death '{word}' is not a "
                                             rf"finite number; write each outcome as a number "
                                             rf"\(1 for yes or true, 0 for no or false\), or "
                                             rf"leave the cell empty when it is unknown\.$"):
            read_physionet2012(folder)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_a_time_far_past_the_window_is_counted_without_a_cast_warning():
    # numpy warned "invalid value encountered in cast" on flooring 1e300 steps to int64
    k = grid_index(np.array([0.5, 1e300, 48.0, 60.0]), 1.0, 48)
    assert k.tolist() == [0, -1, 47, -1]
