"""Session-based recommendation with GRU4Rec (Hidasi et al. 2016) on a sample of the
Diginetica item views (CIKM Cup 2016): predict each session's next item, scored against
most-popular and item-kNN baselines.

    python docs/examples/recommend_sessions.py                    # the full run
    GRUKIT_DOCS_SMALL=1 python docs/examples/recommend_sessions.py  # seconds: the docs' CI check

The data: ``$GRUKIT_SHARED_DATA/sessions/diginetica_sample_train-item-views.csv``
(``session_id;user_id;item_id;timeframe;eventdate``).
"""

import os
import sys
from pathlib import Path

from grukit.data.sessions import index_sessions, read_events, split_by_days
from grukit.tasks.recommend import GRU4Rec, ItemKNN, MostPopular, evaluate

SMALL = os.environ.get("GRUKIT_DOCS_SMALL") == "1"
DATA = Path(os.environ.get("GRUKIT_SHARED_DATA", "../shared/data")) / "sessions"
FILE = DATA / "diginetica_sample_train-item-views.csv"

if not FILE.is_file():
    print(f"skipped: {FILE} is absent; set GRUKIT_SHARED_DATA to the data folder")
    sys.exit(77)
events = read_events(str(FILE))  # columns session, item, time, day
train_events, test_events = split_by_days(events, test_days=7)  # the last week is the test
if SMALL:  # 300 training sessions: fewer items, fewer batches
    keep = train_events["session"].drop_duplicates().iloc[:300]
    train_events = train_events[train_events["session"].isin(keep)]
train, test = index_sessions(train_events, test_events)  # item ids -> indices; short dropped
print(f"train: {train.report}\ntest:  {test.report}")

results = {
    "most popular": evaluate(MostPopular().fit(train).score_step, test),
    "item kNN": evaluate(ItemKNN().fit(train).score_step, test),
}
model = GRU4Rec(hidden=32 if SMALL else 100, epochs=1 if SMALL else 10, seed=0)
model.fit(train)
results["GRU4Rec"] = model.evaluate(test)
for name, scores in results.items():
    print(f"{name:>12}: Recall@20 {scores['recall@20']:.3f}  MRR@20 {scores['mrr@20']:.3f}")

# the next items after the first three views of a training session (item ids of the file)
session = list(train_events.groupby("session")["item"].apply(list).iloc[0][:3])
print(f"after {session}: {model.recommend(session, k=5)}")
