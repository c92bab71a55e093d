"""Bring your own XGBoost and LightGBM model, Adult edition: train, save, check.

Trains on UCI Adult's six numeric columns (age, fnlwgt, education-num,
capital-gain, capital-loss, hours-per-week; label Y, ">50K" the positive
class), with 2% of ages missing so the trees learn where missing values go:
  xgb.json  XGBClassifier(n_estimators=200, max_depth=6, learning_rate=0.1,
            tree_method="hist", random_state=0, n_jobs=1), saved as JSON
  xgb.ubj   the same model saved as UBJSON
  lgbm.txt  LGBMClassifier(n_estimators=200, num_leaves=63, learning_rate=0.1,
            random_state=0, n_jobs=1, deterministic=True), saved as text
(the frameworks' own safe formats: no pickle), and writes into OUT:
  train.csv, test.csv    the data Warden ingests (the six columns and Y)
  NAME.toml              the import schemas (classes in index order)
  NAME.check.csv         500 test rows with the framework's probabilities
                         (scripts/byom/warden_check.py)
  batch.csv              100,000 test rows (the test set repeated) to predict
  boosted.json           the framework's labels for batch.csv and the CPU
                         seconds of its predict (best of 3, one thread)

Usage: python boosted_adult.py ADULT_DIR OUT
(run by scripts/byom-boosted.sh in the scan-models virtualenv).
"""

import json
import os
import sys
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from warden_check import write_check  # noqa: E402

FEATURES = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
CLASSES = ["<=50K", ">50K"]


def load(path):
    d = pd.read_csv(path, skipinitialspace=True)
    y = (d["Y"].str.rstrip(".") == ">50K").astype(int)
    return d[FEATURES].astype("float64"), y


def cpu(f):
    best = float("inf")
    out = None
    for _ in range(3):
        t = time.process_time()
        out = f()
        best = min(best, time.process_time() - t)
    return out, best


def main():
    adult, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    xtr, ytr = load(os.path.join(adult, "adult.data.csv"))
    xte, yte = load(os.path.join(adult, "adult.test.csv"))
    rng = np.random.default_rng(20261207)
    xtr.loc[rng.random(len(xtr)) < 0.02, "age"] = np.nan
    label = lambda y: pd.Series(np.array(CLASSES)[y.to_numpy()], name="Y")
    pd.concat([xtr, label(ytr)], axis=1).to_csv(os.path.join(out, "train.csv"), index=False)
    pd.concat([xte, label(yte)], axis=1).to_csv(os.path.join(out, "test.csv"), index=False)
    reps = -(-100_000 // len(xte))
    batch = pd.concat([xte] * reps, ignore_index=True).iloc[:100_000]
    batch.to_csv(os.path.join(out, "batch.csv"), index=False)
    result = {"rows": len(batch), "models": {}}
    x = xgb.XGBClassifier(n_estimators=200, max_depth=6, learning_rate=0.1,
                          tree_method="hist", random_state=0, n_jobs=1).fit(xtr, ytr)
    x.get_booster().save_model(os.path.join(out, "xgb.json"))
    x.get_booster().save_model(os.path.join(out, "xgb.ubj"))
    g = lgb.LGBMClassifier(n_estimators=200, num_leaves=63, learning_rate=0.1, random_state=0,
                           n_jobs=1, deterministic=True, force_col_wise=True,
                           verbose=-1).fit(xtr, ytr)
    g.booster_.save_model(os.path.join(out, "lgbm.txt"))
    for name, m in [("xgb", x), ("xgb-ubj", x), ("lgbm", g)]:
        with open(os.path.join(out, f"{name}.toml"), "w") as f:
            f.write("classes = [" + ", ".join(json.dumps(c) for c in CLASSES) + "]\n")
            f.write('target = "Y"\n')
            for c in FEATURES:
                f.write(f'[[features]]\nname = "{c}"\n')
        write_check(m, xte.iloc[:500], os.path.join(out, f"{name}.check.csv"), classes=CLASSES)
        labels, secs = cpu(lambda: m.predict(batch))
        result["models"][name] = {
            "framework_labels": [CLASSES[int(v)] for v in labels],
            "framework_cpu_s": secs,
            "test_accuracy": float((m.predict(xte) == yte).mean()),
        }
    with open(os.path.join(out, "boosted.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
