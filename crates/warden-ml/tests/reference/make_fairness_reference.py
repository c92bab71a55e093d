"""Generate the fairness/evaluation reference data in crates/warden-ml/tests/data/fairness/.

The Rust tests read predictions.csv, compute Warden's evaluation and fairness
metrics, and compare them with the values that scikit-learn, fairlearn and
AIF360 produce, which this script stores in reference.json. Both files are
committed, so the script only needs to run again if the data or the reference
libraries change. Its output is deterministic: two runs give byte-identical files.

Run it from the repository root:

    python3 -m venv ~/.cache/warden/venv-fairness
    ~/.cache/warden/venv-fairness/bin/pip install scikit-learn==1.9.1 fairlearn==0.15.0 \
        aif360==0.6.1 pandas==3.1.1 numpy==2.4.6
    ~/.cache/warden/venv-fairness/bin/python \
        crates/warden-ml/tests/reference/make_fairness_reference.py \
        crates/warden-ml/tests/data/fairness

The committed files were made with Python 3.11.7 and the versions pinned above
(scipy 1.17.1, matplotlib 3.11.2 and narwhals 2.29.0 came in as dependencies).
AIF360 imports without tensorflow / inFairness; it only logs warnings that
AdversarialDebiasing and SenSeI/SenSR are unavailable, which this script does
not use.

Data (predictions.csv, 400 rows, numpy seed 20261127):
  label       0/1 ground truth
  prediction  0/1, always exactly (score >= 0.5) on the 6-decimal score in the file
  score       P(class 1), 6 decimals, in [0.000001, 0.999999]
  sex         "female" / "male" (unequal sizes, lower base rate and lower
              selection rate for female)
  age_band    "18-25" / "26-40" / "41-60" / "60+" (unequal sizes and base rates,
              selection biased towards "26-40")
  region      "north" / "south" / "east" / "west", with two degenerate groups:
              east: exactly 3 rows, all label 0 (no positives: TPR is 0/0);
              west: never predicted positive (selection rate 0, so any ratio
              with west in the denominator is x/0).
All metrics are computed from the CSV as written (scores parsed back from their
6-decimal text), so a reader of the CSV sees exactly the data the reference saw.

Conventions in reference.json: NaN and +/-inf are written as the strings
"nan", "inf", "-inf"; everything else is a JSON number (shortest round-trip
repr of the float64). Intersection groups are keyed "sex|age_band".
"""

import json
import math
import os
import sys
import warnings
import logging

import numpy as np
import pandas as pd

SEED = 20261127
N = 400

SEXES = ["female", "male"]
AGE_BANDS = ["18-25", "26-40", "41-60", "60+"]
REGIONS = ["north", "south", "east", "west"]


# --------------------------------------------------------------------------- data


def generate(rng):
    sex = rng.choice(SEXES, size=N, p=[0.38, 0.62])
    age = rng.choice(AGE_BANDS, size=N, p=[0.16, 0.42, 0.29, 0.13])
    # region: east gets exactly 3 rows (placed at fixed positions), west ~10%,
    # the rest split unevenly between north and south.
    region = rng.choice(["north", "south", "west"], size=N, p=[0.52, 0.38, 0.10])
    east_idx = np.array([17, 211, 356])
    region[east_idx] = "east"

    # Base rates of the true label differ by sex and age band.
    base = 0.45 + np.where(sex == "male", 0.06, -0.08)
    base += np.select(
        [age == "18-25", age == "26-40", age == "41-60", age == "60+"],
        [-0.12, 0.08, 0.02, -0.15],
    )
    label = (rng.random(N) < base).astype(int)
    label[east_idx] = 0

    # Scores: informative about the label, plus a bias in favour of men and of
    # the 26-40 band, plus noise.
    logit = 1.6 * (2 * label - 1)
    logit += np.where(sex == "male", 0.45, -0.45)
    logit += np.select(
        [age == "18-25", age == "26-40", age == "41-60", age == "60+"],
        [-0.5, 0.6, 0.0, -0.7],
    )
    logit += rng.normal(0.0, 1.4, size=N)
    score = 1.0 / (1.0 + np.exp(-logit))

    # west: never predicted positive (scores squeezed into [0.02, 0.48]).
    west = region == "west"
    score[west] = 0.02 + 0.46 * score[west]
    # east: 3 negatives; give one of them a positive prediction so its
    # selection rate and FPR are 1/3 while its TPR stays undefined.
    score[east_idx] = [0.31, 0.72, 0.12]

    score = np.clip(np.round(score, 6), 0.000001, 0.999999)
    prediction = (score >= 0.5).astype(int)
    return pd.DataFrame(
        {
            "label": label,
            "prediction": prediction,
            "score": score,
            "sex": sex,
            "age_band": age,
            "region": region,
        }
    )


def write_csv(df, path):
    with open(path, "w", newline="\n") as f:
        f.write("label,prediction,score,sex,age_band,region\n")
        for r in df.itertuples(index=False):
            f.write(
                f"{int(r.label)},{int(r.prediction)},{r.score:.6f},{r.sex},{r.age_band},{r.region}\n"
            )


def read_csv(path):
    return pd.read_csv(
        path,
        dtype={
            "label": np.int64,
            "prediction": np.int64,
            "score": np.float64,
            "sex": str,
            "age_band": str,
            "region": str,
        },
        keep_default_na=False,
    )


# --------------------------------------------------------------------------- json


def num(x):
    """float64 -> JSON value, with non-finite values as strings."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def nonfinite_paths(obj, prefix=""):
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += nonfinite_paths(v, f"{prefix}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += nonfinite_paths(v, f"{prefix}/{i}")
    elif obj in ("nan", "inf", "-inf"):
        out.append(f"{prefix} = {obj}")
    return out


# --------------------------------------------------------------------------- sklearn


def sklearn_section(df):
    import sklearn.metrics as skm

    y, p, s = df["label"].to_numpy(), df["prediction"].to_numpy(), df["score"].to_numpy()
    prec, rec, f1, support = skm.precision_recall_fscore_support(y, p, labels=[0, 1])
    mp, mr, mf, _ = skm.precision_recall_fscore_support(y, p, average="macro")
    cm = skm.confusion_matrix(y, p, labels=[0, 1])
    out = {
        "n": int(len(y)),
        "accuracy": num(skm.accuracy_score(y, p)),
        "balanced_accuracy": num(skm.balanced_accuracy_score(y, p)),
        "per_class": {
            str(c): {
                "precision": num(prec[i]),
                "recall": num(rec[i]),
                "f1": num(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate([0, 1])
        },
        "macro": {"precision": num(mp), "recall": num(mr), "f1": num(mf)},
        # roc_auc_score(label, score); average_precision_score is the step-wise PR AUC
        # (sum over thresholds of (R_n - R_{n-1}) * P_n), not the trapezoidal one.
        "roc_auc": num(skm.roc_auc_score(y, s)),
        "average_precision": num(skm.average_precision_score(y, s)),
        # score is P(class 1); natural log, mean over rows.
        "log_loss": num(skm.log_loss(y, s, labels=[0, 1])),
        "brier_score_loss": num(skm.brier_score_loss(y, s)),
        "confusion_matrix": {
            "layout": "rows = true label [0, 1], columns = predicted label [0, 1]",
            "matrix": cm.tolist(),
            "tn": int(cm[0, 0]),
            "fp": int(cm[0, 1]),
            "fn": int(cm[1, 0]),
            "tp": int(cm[1, 1]),
        },
    }

    # How scikit-learn treats the degenerate region groups when asked directly.
    # zero_division="warn" (the default) returns 0.0 and warns; zero_division=nan
    # returns nan.
    deg = {}
    for g in ["east", "west"]:
        sub = df[df["region"] == g]
        yg, pg = sub["label"].to_numpy(), sub["prediction"].to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            deg[g] = {
                "n": int(len(sub)),
                "positives": int(yg.sum()),
                "predicted_positives": int(pg.sum()),
                "recall_zero_division_default": num(skm.recall_score(yg, pg, zero_division="warn")),
                "recall_zero_division_nan": num(skm.recall_score(yg, pg, zero_division=np.nan)),
                "precision_zero_division_default": num(
                    skm.precision_score(yg, pg, zero_division="warn")
                ),
                "precision_zero_division_nan": num(
                    skm.precision_score(yg, pg, zero_division=np.nan)
                ),
            }
    out["degenerate_region_groups"] = deg
    return out


# --------------------------------------------------------------------------- fairlearn


def fairlearn_one(df, cols):
    import fairlearn.metrics as flm
    from sklearn.metrics import accuracy_score

    y, p = df["label"], df["prediction"]
    sf = df[cols[0]] if len(cols) == 1 else df[cols]
    mf = flm.MetricFrame(
        metrics={
            "count": flm.count,
            "selection_rate": flm.selection_rate,
            "true_positive_rate": flm.true_positive_rate,
            "false_positive_rate": flm.false_positive_rate,
            "accuracy_score": accuracy_score,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=sf,
    )
    by_group = {}
    for key, row in mf.by_group.sort_index().iterrows():
        k = "|".join(key) if isinstance(key, tuple) else str(key)
        by_group[k] = {
            m: (int(row[m]) if m == "count" else num(row[m])) for m in mf.by_group.columns
        }
    overall = {m: (int(v) if m == "count" else num(v)) for m, v in mf.overall.items()}

    out = {
        "sensitive_features": cols,
        "by_group": by_group,
        "overall": overall,
        # All four use method="between_groups" (fairlearn's default):
        #   difference = max over groups - min over groups,
        #   ratio      = min over groups / max over groups.
        "demographic_parity_difference": num(
            flm.demographic_parity_difference(y, p, sensitive_features=sf)
        ),
        "demographic_parity_ratio": num(flm.demographic_parity_ratio(y, p, sensitive_features=sf)),
        # agg="worst_case" (default): max(TPR difference, FPR difference).
        "equalized_odds_difference": num(
            flm.equalized_odds_difference(y, p, sensitive_features=sf, agg="worst_case")
        ),
        # agg="worst_case" (default): min(TPR ratio, FPR ratio).
        "equalized_odds_ratio": num(
            flm.equalized_odds_ratio(y, p, sensitive_features=sf, agg="worst_case")
        ),
    }
    if hasattr(flm, "equal_opportunity_difference"):
        # fairlearn >= 0.13: max TPR - min TPR over groups.
        out["equal_opportunity_difference"] = num(
            flm.equal_opportunity_difference(y, p, sensitive_features=sf)
        )
        out["equal_opportunity_difference_source"] = "fairlearn.metrics.equal_opportunity_difference"
    else:
        out["equal_opportunity_difference"] = num(mf.difference()["true_positive_rate"])
        out["equal_opportunity_difference_source"] = "MetricFrame TPR max - min"
    if hasattr(flm, "equal_opportunity_ratio"):
        out["equal_opportunity_ratio"] = num(
            flm.equal_opportunity_ratio(y, p, sensitive_features=sf)
        )
    return out


def fairlearn_section(df):
    sec = {
        "note": (
            "fairlearn's true_positive_rate/false_positive_rate come from "
            "sklearn.metrics.confusion_matrix(normalize='true'), which replaces 0/0 "
            "with 0 (nan_to_num). So a group without positives (region=east) gets "
            "TPR 0.0, not nan, and that 0.0 takes part in the min/max aggregates."
        )
    }
    for name, cols in [
        ("sex", ["sex"]),
        ("age_band", ["age_band"]),
        ("region", ["region"]),
        ("sex&age_band", ["sex", "age_band"]),
    ]:
        sec[name] = fairlearn_one(df, cols)
    return sec


# --------------------------------------------------------------------------- aif360

# Numeric encodings for AIF360 (BinaryLabelDataset needs numeric attributes).
AIF_CODES = {
    "sex": {"female": 0.0, "male": 1.0},
    "age_band": {"18-25": 0.0, "26-40": 1.0, "41-60": 2.0, "60+": 3.0},
    "region": {"north": 0.0, "south": 1.0, "east": 2.0, "west": 3.0},
}


def aif_datasets(df):
    from aif360.datasets import BinaryLabelDataset

    enc = pd.DataFrame({c: df[c].map(AIF_CODES[c]).astype(float) for c in AIF_CODES})
    truth = enc.copy()
    truth["label"] = df["label"].astype(float)
    pred = enc.copy()
    pred["label"] = df["prediction"].astype(float)
    kw = dict(
        favorable_label=1.0,
        unfavorable_label=0.0,
        label_names=["label"],
        protected_attribute_names=list(AIF_CODES),
    )
    ds_true = BinaryLabelDataset(df=truth, **kw)
    ds_pred = BinaryLabelDataset(df=pred, **kw)
    ds_pred.scores = df["score"].to_numpy().reshape(-1, 1)
    return ds_true, ds_pred


def aif_one(ds_true, ds_pred, attr, privileged, unprivileged):
    from aif360.metrics import ClassificationMetric

    code = AIF_CODES[attr]
    priv = [{attr: code[v]} for v in privileged]
    unpriv = [{attr: code[v]} for v in unprivileged]
    with np.errstate(all="ignore"):
        m = ClassificationMetric(
            ds_true, ds_pred, unprivileged_groups=unpriv, privileged_groups=priv
        )
        groups = {}
        for side, flag in [("privileged", True), ("unprivileged", False)]:
            groups[side] = {
                "n": num(m.num_instances(privileged=flag)),
                "selection_rate": num(m.selection_rate(privileged=flag)),
                "true_positive_rate": num(m.true_positive_rate(privileged=flag)),
                "false_positive_rate": num(m.false_positive_rate(privileged=flag)),
                "base_rate": num(m.base_rate(privileged=flag)),
            }
        return {
            "privileged_groups": [{attr: v} for v in privileged],
            "unprivileged_groups": [{attr: v} for v in unprivileged],
            "groups": groups,
            "disparate_impact": num(m.disparate_impact()),
            "statistical_parity_difference": num(m.statistical_parity_difference()),
            "average_odds_difference": num(m.average_odds_difference()),
            "equal_opportunity_difference": num(m.equal_opportunity_difference()),
            "theil_index": num(m.theil_index()),
            "average_abs_odds_difference": num(m.average_abs_odds_difference()),
            "generalized_entropy_index": num(m.generalized_entropy_index(alpha=2)),
            "coefficient_of_variation": num(m.coefficient_of_variation()),
            "between_group_theil_index": num(m.between_group_theil_index()),
            "between_group_coefficient_of_variation": num(
                m.between_group_coefficient_of_variation()
            ),
        }


def aif360_section(df):
    ds_true, ds_pred = aif_datasets(df)
    return {
        "definitions": {
            "favorable_label": 1,
            "encoding": AIF_CODES,
            "disparate_impact": "P(yhat=1 | unpriv) / P(yhat=1 | priv)  (plain division; x/0 = inf, 0/0 = nan)",
            "statistical_parity_difference": "P(yhat=1 | unpriv) - P(yhat=1 | priv)",
            "average_odds_difference": "0.5 * ((FPR_unpriv - FPR_priv) + (TPR_unpriv - TPR_priv))  (signed)",
            "equal_opportunity_difference": "TPR_unpriv - TPR_priv  (signed; TPR = TP/P, FPR = FP/N, 0/0 = nan)",
            "theil_index": (
                "generalized entropy index, alpha=1, over ALL rows (not conditioned on "
                "groups, so identical for every group choice): b_i = 1 + yhat_i - y_i, "
                "mu = mean(b), T = mean((b_i/mu) * ln(b_i/mu)) with 0*ln 0 = 0"
            ),
            "average_abs_odds_difference": "0.5 * (|FPR_unpriv - FPR_priv| + |TPR_unpriv - TPR_priv|)",
            "generalized_entropy_index": (
                "alpha=2 over ALL rows: mean((b_i/mu)**2 - 1) / 2, b_i = 1 + yhat_i - y_i"
            ),
            "coefficient_of_variation": "sqrt(2 * generalized_entropy_index(alpha=2)), all rows",
            "between_group_theil_index": (
                "alpha=1 index of b with each row's b replaced by the mean b of its side "
                "(the privileged groups, or the unprivileged groups); rows on neither side "
                "keep b = 0"
            ),
            "between_group_coefficient_of_variation": "sqrt(2 * between-group index, alpha=2)",
            "group_membership": "a row is in a side if it matches ANY dict in that side's list",
        },
        "sex": aif_one(ds_true, ds_pred, "sex", ["male"], ["female"]),
        "age_band": aif_one(ds_true, ds_pred, "age_band", ["26-40"], ["18-25", "41-60", "60+"]),
        # Not asked by a standard report: the degenerate region groups put through
        # the same formulas, to pin AIF360's nan/inf behaviour.
        "region_degenerate": {
            "east_vs_north": aif_one(ds_true, ds_pred, "region", ["north"], ["east"]),
            "north_vs_west": aif_one(ds_true, ds_pred, "region", ["west"], ["north"]),
        },
    }


# --------------------------------------------------------------------------- main


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "crates/warden-ml/tests/data/fairness"
    os.makedirs(out_dir, exist_ok=True)
    logging.disable(logging.WARNING)  # aif360's optional-dependency warnings

    import sklearn
    import fairlearn
    import aif360

    rng = np.random.default_rng(SEED)
    csv_path = os.path.join(out_dir, "predictions.csv")
    write_csv(generate(rng), csv_path)
    df = read_csv(csv_path)
    assert len(df) == N
    assert ((df["score"] >= 0.5).astype(int) == df["prediction"]).all()
    assert (df["region"] == "east").sum() == 3
    assert df.loc[df["region"] == "east", "label"].sum() == 0
    assert df.loc[df["region"] == "west", "prediction"].sum() == 0

    ref = {
        "generator": {
            "script": "crates/warden-ml/tests/reference/make_fairness_reference.py",
            "data": "predictions.csv",
            "numpy_seed": SEED,
            "rng": "numpy.random.default_rng",
            "rows": N,
            "python": ".".join(map(str, sys.version_info[:3])),
            "versions": {
                "numpy": np.__version__,
                "pandas": pd.__version__,
                "scikit-learn": sklearn.__version__,
                "fairlearn": fairlearn.__version__,
                "aif360": aif360.__version__,
            },
            "float_encoding": "non-finite values are the strings \"nan\", \"inf\", \"-inf\"",
            "group_key_separator": "|",
        },
        "data_summary": {
            c: {
                g: {
                    "n": int((df[c] == g).sum()),
                    "positives": int(df.loc[df[c] == g, "label"].sum()),
                    "predicted_positives": int(df.loc[df[c] == g, "prediction"].sum()),
                }
                for g in sorted(df[c].unique())
            }
            for c in ["sex", "age_band", "region"]
        },
        "sklearn": sklearn_section(df),
        "fairlearn": fairlearn_section(df),
        "aif360": aif360_section(df),
    }
    ref["non_finite"] = nonfinite_paths(
        {k: v for k, v in ref.items() if k in ("sklearn", "fairlearn", "aif360")}
    )

    with open(os.path.join(out_dir, "reference.json"), "w", newline="\n") as f:
        json.dump(ref, f, indent=2, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
