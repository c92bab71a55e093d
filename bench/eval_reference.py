"""The Python side of the evaluation benchmark: IBM ART's attacks and fairlearn's
MetricFrame on the same model and data that `warden eval` measures.

bench/eval.sh calls it with the virtualenv ~/.cache/warden/venv-eval (PyPI:
adversarial-robustness-toolbox scikit-learn fairlearn pandas numpy):

    ~/.cache/warden/venv-eval/bin/python bench/eval_reference.py \
        --csv data.csv --package PKG_DIR --sensitive sex --sensitive age_band \
        --eps 0.05,0.1,0.3 --steps 20 --seed 0

PKG_DIR is a warden model package (manifest.json + weights.safetensors) of a binary
logistic regression. The CSV is encoded into the model's columns exactly as
warden's preprocessing does; the sklearn LogisticRegression gets the package's
weights (no fitting). PGD/FGSM (L-inf, eps in standardised units, true labels)
move only the standardised numeric columns (ART's `mask=`); no bounds or integer
rounding, unlike warden's tabular constraints. Human-readable results go to
stderr; stdout is one JSON object.
"""

import argparse
import json
import platform
import struct
import sys
import time
import warnings

import numpy as np
import pandas as pd
import sklearn
import art
import fairlearn
from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
from art.estimators.classification import SklearnClassifier
from fairlearn.metrics import (MetricFrame, count, demographic_parity_difference,
                               demographic_parity_ratio, equalized_odds_difference,
                               equalized_odds_ratio, false_positive_rate, selection_rate,
                               true_positive_rate)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score


def log(*a):
    print(*a, file=sys.stderr)


def read_safetensors(path):
    # 8-byte LE header length, JSON header, then raw LE data (offsets after the header).
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header, base = json.loads(raw[8:8 + n]), 8 + n
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        assert spec["dtype"] == "F64", spec
        a, b = spec["data_offsets"]
        out[name] = np.frombuffer(raw[base + a:base + b], dtype="<f8").reshape(spec["shape"])
    return out


def design_matrix(df, features):
    # One block per feature, in the manifest's (= model's) column order.
    blocks, numeric = [], []
    for f in features:
        s, t = df[f["name"]], f["transform"]
        if t["kind"] == "standardise":
            x = np.fromiter((t["impute"] if v == "" else float(v) for v in s), np.float64, len(s))
            blocks.append(((x - t["mean"]) / t["scale"])[:, None])
            numeric.append(True)
        elif t["kind"] == "one_hot":
            levels = t["levels"]
            index = {lv: i for i, lv in enumerate(levels)}
            idx = np.fromiter((index.get(t["impute"] if v == "" else v, len(levels)) for v in s),
                              np.int64, len(s))
            block = np.zeros((len(s), len(levels) + 1))
            block[np.arange(len(s)), idx] = 1.0   # unseen values -> last column
            blocks.append(block)
            numeric += [False] * (len(levels) + 1)
        else:
            raise ValueError(f"unknown transform {t['kind']!r}")
    return np.hstack(blocks), np.array(numeric)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--package", required=True)
    ap.add_argument("--sensitive", action="append", default=[])
    ap.add_argument("--eps", default="0.05,0.1,0.3")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=1 << 20)
    a = ap.parse_args()
    np.random.seed(a.seed)  # ART's random start draws from numpy's global generator

    # --- data and model ------------------------------------------------------
    man = json.load(open(f"{a.package}/manifest.json"))
    arch, labels = man["model"]["architecture"], man["labels"]
    assert arch["kind"] == "logreg" and arch["classes"] == 2, arch
    t0 = time.perf_counter()
    df = pd.read_csv(a.csv, dtype=str, keep_default_na=False)
    X, numeric = design_matrix(df, man["preprocessing"]["features"])
    cls = {c: i for i, c in enumerate(labels["classes"])}
    y = df[labels["target"]].map(cls).to_numpy()
    assert not pd.isna(y).any(), "target values outside manifest classes"
    y = y.astype(np.int64)
    prep_seconds = time.perf_counter() - t0
    assert X.shape[1] == arch["inputs"], (X.shape, arch)

    w = read_safetensors(f"{a.package}/weights.safetensors")
    lr = LogisticRegression()
    lr.coef_, lr.intercept_ = w["coef"].reshape(1, -1), w["intercept"].reshape(1)
    lr.classes_, lr.n_features_in_ = np.array([0, 1]), X.shape[1]
    est = SklearnClassifier(model=lr, clip_values=None)

    direct = (X @ lr.coef_[0] + lr.intercept_[0] > 0).astype(np.int64)
    pred = est.predict(X).argmax(1)
    assert (pred == direct).all(), "ART/sklearn predictions differ from the weights"
    correct = pred == y
    clean_acc = float(correct.mean())
    log(f"rows={len(y)} d={X.shape[1]} clean accuracy={clean_acc:.6f} (= weights directly)")

    # --- attacks ---------------------------------------------------------------
    mask = numeric.astype(np.float64)      # 1 = may move, 0 = one-hot column, fixed
    y1h = np.eye(2)[y]                     # true labels, as warden attacks
    bs = max(4096, a.batch_size)
    attacks, caught = {}, []
    for eps in [float(e) for e in a.eps.split(",")]:
        r = {}
        for name, atk in [
            ("pgd", ProjectedGradientDescent(est, norm=np.inf, eps=eps, eps_step=2.5 * eps / a.steps,
                                             max_iter=a.steps, num_random_init=1, targeted=False,
                                             batch_size=bs, verbose=False)),
            ("fgsm", FastGradientMethod(est, norm=np.inf, eps=eps, targeted=False, batch_size=bs)),
        ]:
            with warnings.catch_warnings(record=True) as ws:
                warnings.simplefilter("always")
                t = time.perf_counter()
                Xa = atk.generate(X, y=y1h, mask=mask)
                r[f"{name}_seconds"] = time.perf_counter() - t
            caught += [f"{name}: {x.category.__name__}: {x.message}" for x in ws]
            adv = est.predict(Xa).argmax(1)
            delta = np.abs(Xa - X)
            r[f"{name}_robust_accuracy"] = float((adv == y).mean())
            r[f"{name}_robust_accuracy_of_correct"] = float((adv[correct] == y[correct]).mean())
            # The mask held iff one-hot columns did not move; ART works in float32.
            r[f"{name}_mask_held"] = bool(delta[:, ~numeric].max(initial=0) == 0)
            r[f"{name}_max_linf"] = float(delta[:, numeric].max(initial=0))
            r[f"{name}_dtype"] = str(Xa.dtype)
        log(f"eps={eps}: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in r.items()))
        attacks[str(eps)] = r

    # --- fairness (timed as a whole) ----------------------------------------
    metrics = {"count": count, "selection_rate": selection_rate,
               "true_positive_rate": true_positive_rate,
               "false_positive_rate": false_positive_rate, "accuracy_score": accuracy_score}
    groupings = {c: df[c] for c in a.sensitive}
    if len(a.sensitive) >= 2:
        groupings["&".join(a.sensitive[:2])] = df[a.sensitive[:2]]
    t = time.perf_counter()
    fair, frames = {}, {}
    for name, sf in groupings.items():
        frames[name] = MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=sf)
        fair[name] = {
            "by_group": frames[name].by_group,   # computed inside the timed region
            "dp_difference": demographic_parity_difference(y, pred, sensitive_features=sf),
            "dp_ratio": demographic_parity_ratio(y, pred, sensitive_features=sf),
            "eo_difference": equalized_odds_difference(y, pred, sensitive_features=sf),
            "eo_ratio": equalized_odds_ratio(y, pred, sensitive_features=sf),
        }
    fairness_seconds = time.perf_counter() - t
    for name, f in fair.items():
        log(f"\n== {name}\n{f.pop('by_group').to_string()}")
        log(", ".join(f"{k}={float(v):.6f}" for k, v in f.items()))

    print(json.dumps({
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
                     "adversarial-robustness-toolbox": art.__version__,
                     "fairlearn": fairlearn.__version__},
        "rows": int(len(y)), "d": int(X.shape[1]), "steps": a.steps, "seed": a.seed,
        "prep_seconds": prep_seconds, "clean_accuracy": clean_acc,
        "attacks": attacks, "fairness_seconds": fairness_seconds,
        "fairness": {n: {k: float(v) for k, v in f.items()} for n, f in fair.items()},
        "warnings": sorted(set(caught)),
    }, indent=1))


if __name__ == "__main__":
    main()
