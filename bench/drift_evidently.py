"""Evidently's DataDriftPreset on two all-numeric CSV files, timed.

Reads both files with pandas (timed as read_s), declares every column
numerical, then builds Evidently datasets and runs a Report holding
DataDriftPreset() with its default options (timed as drift_s; with more than
1000 reference rows every column gets the normed Wasserstein distance).
Prints one JSON object: {"read_s", "drift_s", "total_s", "drifted"}, where
drifted is the number of drifted columns Evidently reports.

Runs in the virtualenv that scripts/evidently-fixtures.sh builds (the same
pinned Evidently 0.7.23 / pandas 2.3.3 / scipy 1.17.1):

    target/evidently-venv/bin/python bench/drift_evidently.py \
        --reference /tmp/ref.csv --current /tmp/cur.csv

Inputs from bench/gen_drift_data.py (15 float columns f0..f14).
"""

import argparse
import json
import time
import warnings

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True, metavar="REF.csv")
    ap.add_argument("--current", required=True, metavar="CUR.csv")
    a = ap.parse_args()

    t0 = time.perf_counter()
    reference = pd.read_csv(a.reference)
    current = pd.read_csv(a.current)
    t1 = time.perf_counter()

    columns = list(reference.columns)
    definition = DataDefinition(numerical_columns=columns, categorical_columns=[])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()]).run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
        )
        drifted = None
        for metric in snapshot.dict()["metrics"]:
            if metric["config"]["type"] == "evidently:metric_v2:DriftedColumnsCount":
                drifted = int(metric["value"]["count"])
    t2 = time.perf_counter()

    print(json.dumps({
        "read_s": round(t1 - t0, 3),
        "drift_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
        "drifted": drifted,
    }))


if __name__ == "__main__":
    main()
