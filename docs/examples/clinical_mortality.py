"""In-hospital mortality from the first 48 hours of an ICU stay (PhysioNet/CinC Challenge
2012, set A) with GRU-D (Che et al. 2018), which reads the missing-value mask and the time
since each variable was last measured, against a GRU on mean-imputed inputs.

    python docs/examples/clinical_mortality.py                    # the full run
    GRUKIT_DOCS_SMALL=1 python docs/examples/clinical_mortality.py  # seconds: the docs' CI check

The data: ``$GRUKIT_SHARED_DATA/clinical/physionet2012/`` (``set-a/*.txt``, one stay a file,
and ``Outcomes-a.txt``; ODC-By 1.0).
"""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from grukit.data.clinical import read_physionet2012
from grukit.tasks.clinical import ClinicalClassifier

SMALL = os.environ.get("GRUKIT_DOCS_SMALL") == "1"
SHARED = Path(os.environ.get("GRUKIT_SHARED_DATA", "../shared/data"))
DATA = SHARED / "clinical" / "physionet2012"

if not (DATA / "set-a").is_dir():
    print(f"skipped: {DATA / 'set-a'} is absent; set GRUKIT_SHARED_DATA to the data folder")
    sys.exit(77)
folder = DATA
if SMALL:  # the first 300 stays, linked into a folder of their own (nothing is copied)
    links = tempfile.mkdtemp()
    atexit.register(shutil.rmtree, links, ignore_errors=True)
    folder = Path(links) / "physionet2012"
    (folder / "set-a").mkdir(parents=True)
    for stay in sorted((DATA / "set-a").glob("*.txt"))[:300]:
        (folder / "set-a" / stay.name).symlink_to(stay)
    ids = {p.stem for p in (folder / "set-a").iterdir()}
    rows = (DATA / "Outcomes-a.txt").read_text().splitlines()
    kept = [rows[0]] + [r for r in rows[1:] if r.split(",")[0] in ids]
    (folder / "Outcomes-a.txt").write_text("\n".join(kept) + "\n")

data = read_physionet2012(str(folder))  # 48 hourly steps, 37 variables, mask and deltas
print(f"{data.n_records} stays, {data.n_steps} hourly steps")

# a fixed shuffle: 80% of the stays to train, 20% to test
order = np.random.default_rng(0).permutation(data.n_records)
cut = int(0.8 * data.n_records)
train, test = order[:cut], order[cut:]

for name in ("grud", "gru-mean"):
    # hidden=None: the paper's width (49 GRU-D units, each baseline at GRU-D's size)
    clf = ClinicalClassifier(model=name, hidden=16 if SMALL else None,
                             epochs=1 if SMALL else 60, seed=0)
    clf.fit(data, train_indices=train)
    scores = clf.evaluate(data, test)
    print(f"{name:>9}: AUC-ROC {scores['auc_roc']:.3f}  AUC-PR {scores['auc_pr']:.3f}  "
          f"({scores['positives']} deaths in {scores['n']} test stays)")

risk = clf.risk_over_time(data, test[0])  # (48,): the risk after each hour
print("risk of the first test stay after 12, 24, 48 h:",
      " ".join(f"{risk[h - 1]:.2f}" for h in (12, 24, 48)))
