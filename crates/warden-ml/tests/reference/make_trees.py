"""Generate the gradient-boosted tree fixtures in crates/warden-ml/tests/data/trees/.

Warden reads XGBoost JSON/UBJSON models and LightGBM text models with its own
parser and evaluates the trees itself. The Rust tests load these files and
compare Warden's probabilities and raw margins with what XGBoost and LightGBM
give for the same inputs, which this script stores in reference.json. The files
are committed, so the script only needs to run again if the models change. Its
output is deterministic: two runs give byte-identical files.

Run it from the repository root, in the scan-models virtualenv (the script
below creates it from PyPI at pinned versions if it is missing):

    VENV=$(scripts/scan-models-venv.sh)
    $VENV/bin/python crates/warden-ml/tests/reference/make_trees.py \
        crates/warden-ml/tests/data/trees /work/shared/data

The committed files were made with Python 3.11.7, xgboost-cpu 3.2.0,
lightgbm 4.7.0, scikit-learn 1.9.1, numpy 2.4.6 and pandas 3.1.1 (scipy 1.17.1
came in as a dependency). Training is single-threaded (n_jobs=1) with fixed
seeds; LightGBM also runs with deterministic=True and force_col_wise=True (the
latter skips LightGBM's timing-based choice between row-wise and column-wise
histograms).

Data (argv[2] is the directory holding adult/ and penguins.csv):
  adult/adult.data.csv   UCI Adult training split, 32561 rows. Only the numeric
                         columns age, fnlwgt, education-num, capital-gain,
                         capital-loss, hours-per-week are used; target is
                         Y == ">50K" (1) versus "<=50K" (0). Before training,
                         2% of the rows (numpy default_rng seed 20261201) get
                         NaN in "age" and, independently, another 2% in
                         "hours-per-week", so that the trees learn default
                         (missing-value) directions for those two features.
  adult/adult.test.csv   UCI Adult test split: only a source of input rows.
  penguins.csv           Palmer penguins; the 4 numeric features, rows with
                         NaN dropped (342 rows); species label-encoded in
                         sorted order: Adelie=0, Chinstrap=1, Gentoo=2.

Files written (argv[1] is the output directory):
  xgb-binary.json  XGBClassifier(n_estimators=30, max_depth=4, learning_rate=0.3,
                   objective="binary:logistic", random_state=0, tree_method="hist",
                   n_jobs=1) on Adult; Booster.save_model (JSON).
  xgb-binary.ubj   the same booster saved as UBJSON; its reference entry points
                   at xgb-binary's rows (this script checks that both files
                   give identical predictions).
  xgb-multi.json   XGBClassifier(n_estimators=15, max_depth=3,
                   objective="multi:softprob", random_state=0, n_jobs=1) on
                   penguins.
  lgbm-binary.txt  LGBMClassifier(n_estimators=30, num_leaves=15, random_state=0,
                   deterministic=True, n_jobs=1, verbose=-1, force_col_wise=True)
                   on Adult; booster_.save_model (text format).
  lgbm-multi.txt   LGBMClassifier(n_estimators=15, num_leaves=7, same other
                   settings) on penguins (objective multiclass).
  reference.json   versions, datasets, and per model: file, kind, objective,
                   feature names (model order), classes (output order), the
                   input dtype the framework evaluates the trees in, and 60 rows
                   with inputs, predict_proba and raw margins.

Rows (60 per model; each has a "source" saying where it comes from):
  - real data rows (Adult: test-split rows, plus training rows that carry the
    injected NaN; penguins: rows spread over the cleaned dataset);
  - NaN rows: one or more features set to NaN (for the binary models every
    feature, including ones that never had NaN in training; for the multiclass
    models, whose training data had no NaN, two rows);
  - threshold rows: a data row with one feature set exactly to a split threshold
    read back from the saved model file, plus for some of them the next
    representable value on the other side of the comparison (XGBoost sends
    x < threshold left, so the neighbour is the next float32 below; LightGBM
    sends x <= threshold left, so the neighbour is the next float64 above). The
    base row is chosen so that the value and its neighbour land in different
    leaves of that tree, i.e. the row really reaches that split.

Conventions in reference.json: NaN inputs are written as null; every other
number is a JSON number in Python's shortest round-trip form, so parsing it as
float64 gives back exactly the value Python had. XGBoost evaluates float32
inputs and returns float32 outputs: its inputs are float32 values and its
outputs float32 values, both written as the float64 they convert to exactly.
LightGBM evaluates and returns float64. "raw_margin" is always a list (one value
for binary models): XGBoost's predict(output_margin=True), LightGBM's
predict(raw_score=True). "predict_proba" is the scikit-learn wrapper's
predict_proba (two columns for binary models: [1 - p, p]). Every expected
value was also checked against a booster loaded back from the written file.
"""

import json
import os
import sys

import lightgbm
import numpy as np
import pandas as pd
import sklearn
import xgboost

ADULT_FEATURES = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
ADULT_NAN_FEATURES = ["age", "hours-per-week"]
ADULT_NAN_FRACTION = 0.02
ADULT_CLASSES = ["<=50K", ">50K"]
PENGUIN_FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
PENGUIN_CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
NAN_SEED = 20261201
N_ROWS = 60


# --------------------------------------------------------------------------- data


def load_adult(data_dir):
    def read(name):
        df = pd.read_csv(os.path.join(data_dir, "adult", name), skipinitialspace=True)
        df.columns = [c.strip() for c in df.columns]
        return df

    train = read("adult.data.csv")
    test = read("adult.test.csv")
    for df in (train, test):
        df["Y"] = df["Y"].astype(str).str.strip().str.rstrip(".")
        missing = df[ADULT_FEATURES].isna().sum().sum()
        if missing:
            raise SystemExit(f"unexpected missing numeric values in Adult: {missing}")
        if set(df["Y"]) != set(ADULT_CLASSES):
            raise SystemExit(f"unexpected Adult labels: {sorted(set(df['Y']))}")
    X = train[ADULT_FEATURES].astype(np.float64).reset_index(drop=True)
    y = (train["Y"] == ">50K").astype(np.int64).to_numpy()
    rng = np.random.default_rng(NAN_SEED)
    nan_rows = {}
    n_nan = int(round(ADULT_NAN_FRACTION * len(X)))
    for col in ADULT_NAN_FEATURES:
        idx = np.sort(rng.choice(len(X), size=n_nan, replace=False))
        X.loc[idx, col] = np.nan
        nan_rows[col] = idx
    X_test = test[ADULT_FEATURES].astype(np.float64).reset_index(drop=True)
    info = {
        "files": ["adult/adult.data.csv (training)", "adult/adult.test.csv (input rows only)"],
        "features": ADULT_FEATURES,
        "target": "1 = Y == '>50K', 0 = Y == '<=50K' (the test split's trailing '.' stripped)",
        "train_rows": int(len(X)),
        "train_positive": int(y.sum()),
        "test_rows": int(len(X_test)),
        "injected_nan": {
            "seed": NAN_SEED,
            "generator": "numpy.random.default_rng(seed).choice(n, size, replace=False), "
            "once per feature in this order",
            "rows_per_feature": {c: n_nan for c in ADULT_NAN_FEATURES},
            "rows_with_any_nan": int(X.isna().any(axis=1).sum()),
        },
    }
    return X, y, X_test, nan_rows, info


def load_penguins(data_dir):
    path = os.path.join(data_dir, "penguins.csv")
    df = pd.read_csv(path)
    raw = len(df)
    df = df.dropna(subset=PENGUIN_FEATURES + ["species"]).reset_index(drop=True)
    X = df[PENGUIN_FEATURES].astype(np.float64)
    codes = {name: i for i, name in enumerate(sorted(df["species"].unique()))}
    if list(codes) != PENGUIN_CLASSES:
        raise SystemExit(f"unexpected species: {list(codes)}")
    y = df["species"].map(codes).astype(np.int64).to_numpy()
    info = {
        "file": "penguins.csv",
        "features": PENGUIN_FEATURES,
        "rows_in_csv": raw,
        "rows_after_dropna": int(len(X)),
        "label_encoding": codes,
        "class_counts": {c: int((y == i).sum()) for c, i in codes.items()},
    }
    return X, y, info


# ------------------------------------------------------------------ model files


def xgb_splits(path):
    """(tree, node, feature index, float32 threshold) of every split, in file order."""
    with open(path) as f:
        model = json.load(f)
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    out = []
    for t, tree in enumerate(trees):
        for node, left in enumerate(tree["left_children"]):
            if left != -1:
                cond = np.float32(tree["split_conditions"][node])
                out.append((t, node, int(tree["split_indices"][node]), cond))
    return out


def lgbm_splits(path):
    """(tree, node, feature index, float64 threshold) of every split, in file order."""
    out = []
    tree = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("Tree="):
                tree = int(line[5:])
                feats = None
            elif tree is not None and line.startswith("split_feature="):
                feats = [int(v) for v in line.split("=", 1)[1].split()]
            elif tree is not None and line.startswith("threshold="):
                thr = [float(v) for v in line.split("=", 1)[1].split()]
                for node, (fi, th) in enumerate(zip(feats, thr)):
                    out.append((tree, node, fi, np.float64(th)))
            elif line.startswith("end of trees"):
                break
    return out


# ------------------------------------------------------------------- prediction


class Framework:
    """What one framework needs: dtype, prediction, leaf indices, reload check."""

    def __init__(self, kind, est, features):
        self.kind = kind
        self.est = est
        self.features = features
        self.dtype = np.float32 if kind == "xgboost-json" else np.float64

    def frame(self, rows):
        return pd.DataFrame(np.asarray(rows, dtype=self.dtype), columns=self.features)

    def proba(self, df):
        return np.asarray(self.est.predict_proba(df))

    def margin(self, df):
        if self.kind == "xgboost-json":
            m = self.est.predict(df, output_margin=True)
        else:
            m = self.est.predict(df, raw_score=True)
        m = np.asarray(m)
        return m.reshape(len(df), -1)

    def leaves(self, df):
        if self.kind == "xgboost-json":
            booster = self.est.get_booster()
            dm = xgboost.DMatrix(df, missing=np.nan, nthread=1)
            return np.asarray(booster.predict(dm, pred_leaf=True)).reshape(len(df), -1)
        return np.asarray(self.est.predict(df, pred_leaf=True)).reshape(len(df), -1)

    def neighbour(self, t):
        if self.kind == "xgboost-json":
            return np.nextafter(np.float32(t), np.float32(-np.inf))
        return np.nextafter(np.float64(t), np.inf)

    def file_outputs(self, path, df):
        """Probabilities and margins from a booster loaded back from `path`."""
        if self.kind == "xgboost-json":
            b = xgboost.Booster(model_file=path)
            b.set_param({"nthread": 1})
            dm = xgboost.DMatrix(df, missing=np.nan, nthread=1)
            p = np.asarray(b.predict(dm))
            m = np.asarray(b.predict(dm, output_margin=True)).reshape(len(df), -1)
            if p.ndim == 1:
                p = np.stack([1 - p, p], axis=1)
            return p, m
        b = lightgbm.Booster(model_file=path)
        p = np.asarray(b.predict(df, num_threads=1))
        m = np.asarray(b.predict(df, raw_score=True, num_threads=1)).reshape(len(df), -1)
        if p.ndim == 1:
            p = np.stack([1 - p, p], axis=1)
        return p, m


def threshold_rows(fw, splits, pool, per_feature, with_neighbour):
    """Rows with one feature exactly at a split threshold (and maybe its neighbour).

    For each feature, takes the first `per_feature` distinct thresholds in file
    order and finds a base row in `pool` that reaches that split: setting the
    feature to the threshold and to its neighbour gives different leaves in
    that tree.
    """
    pool = np.asarray(pool, dtype=fw.dtype)
    out = []
    for fi, name in enumerate(fw.features):
        done = 0
        seen = set()
        for tree, node, f, t in splits:
            if f != fi or float(t) in seen or done >= per_feature:
                continue
            seen.add(float(t))
            nb = fw.neighbour(t)
            at = pool.copy()
            at[:, fi] = t
            below = pool.copy()
            below[:, fi] = nb
            la = fw.leaves(fw.frame(at))[:, tree]
            lb = fw.leaves(fw.frame(below))[:, tree]
            hit = np.nonzero(la != lb)[0]
            if len(hit) == 0:
                continue
            base = at[hit[0]]
            src = f"threshold: {name} = {float(t)!r} (tree {tree} node {node})"
            out.append((base.copy(), src))
            if with_neighbour and done == 0:
                side = "below" if fw.kind == "xgboost-json" else "above"
                other = base.copy()
                other[fi] = nb
                out.append((other, f"threshold neighbour: {name} = {float(nb)!r}, next "
                            f"{np.dtype(fw.dtype).name} {side} {float(t)!r} (tree {tree} node {node})"))
            done += 1
    return out


def num(v):
    v = float(v)
    return None if np.isnan(v) else v


def rows_block(fw, rows, path):
    X = np.array([r for r, _ in rows], dtype=fw.dtype)
    df = fw.frame(X)
    p = fw.proba(df)
    m = fw.margin(df)
    fp, fm = fw.file_outputs(path, df)
    if not (np.array_equal(p.astype(np.float64), fp.astype(np.float64))
            and np.array_equal(m, fm)):
        raise SystemExit(f"{path}: reloaded model disagrees with the fitted one "
                         f"(proba {np.max(np.abs(p - fp))}, margin {np.max(np.abs(m - fm))})")
    out = []
    for (_, src), x, pr, mr in zip(rows, X, p, m):
        out.append({
            "source": src,
            "inputs": [num(v) for v in x],
            "predict_proba": [float(v) for v in pr],
            "raw_margin": [float(v) for v in mr],
        })
    return out, {"proba_dtype": p.dtype.name, "margin_dtype": m.dtype.name}


# ------------------------------------------------------------------------ rows


def adult_rows(fw, X_train, X_test, nan_rows, splits):
    Xt = X_test.to_numpy(dtype=np.float64)
    spread = np.linspace(0, len(Xt) - 1, 24).round().astype(int)
    rows = [(Xt[i], f"adult.test.csv data row {i}") for i in spread]
    Xtr = X_train.to_numpy(dtype=np.float64)
    both = np.intersect1d(nan_rows["age"], nan_rows["hours-per-week"])
    picks = [("age", nan_rows["age"][:2]), ("hours-per-week", nan_rows["hours-per-week"][:2])]
    chosen = [int(i) for _, ix in picks for i in ix]
    if len(both):
        chosen.append(int(both[0]))
    for i in np.union1d(nan_rows["age"], nan_rows["hours-per-week"]):
        if len(chosen) >= 6:
            break
        if int(i) not in chosen:
            chosen.append(int(i))
    for i in chosen:
        rows.append((Xtr[i], f"adult.data.csv training row {i} (with its injected NaN)"))

    # Synthetic NaN rows on two test rows: one the model scores low, one high.
    cand = Xt[np.arange(1, len(Xt), 97)]
    p = fw.proba(fw.frame(cand))[:, 1]
    low_i = int(np.arange(1, len(Xt), 97)[np.argmin(p)])
    high_i = int(np.arange(1, len(Xt), 97)[np.argmax(p)])
    nan_sets = [(low_i, [f]) for f in ADULT_FEATURES]
    nan_sets += [(high_i, ["age"]), (high_i, ["hours-per-week"]), (high_i, ADULT_NAN_FEATURES),
                 (high_i, ["capital-gain"]), (high_i, ["education-num"]), (high_i, ADULT_FEATURES)]
    for base, cols in nan_sets:
        r = Xt[base].copy()
        for c in cols:
            r[ADULT_FEATURES.index(c)] = np.nan
        what = "all features" if len(cols) == len(ADULT_FEATURES) else ", ".join(cols)
        rows.append((r, f"adult.test.csv row {base} with NaN in {what}"))

    pool = Xt[:400]
    thr = threshold_rows(fw, splits, pool, per_feature=2, with_neighbour=True)
    need = N_ROWS - len(rows)
    rows += thr[:need]
    extra = np.arange(5, len(Xt), 113)
    k = 0
    while len(rows) < N_ROWS:
        rows.append((Xt[extra[k]], f"adult.test.csv data row {int(extra[k])}"))
        k += 1
    return rows


def penguin_rows(fw, X, splits):
    Xn = X.to_numpy(dtype=np.float64)
    thr = threshold_rows(fw, splits, Xn, per_feature=3, with_neighbour=True)[:16]
    nan_rows = []
    for base, cols in ((0, ["bill_length_mm"]), (len(Xn) - 1, PENGUIN_FEATURES)):
        r = Xn[base].copy()
        for c in cols:
            r[PENGUIN_FEATURES.index(c)] = np.nan
        what = "all features" if len(cols) == len(PENGUIN_FEATURES) else ", ".join(cols)
        nan_rows.append((r, f"penguins row {base} with NaN in {what} (no NaN in training)"))
    n_data = N_ROWS - len(thr) - len(nan_rows)
    spread = np.linspace(0, len(Xn) - 1, n_data).round().astype(int)
    rows = [(Xn[i], f"penguins data row {i} (after dropna)") for i in spread]
    return rows + nan_rows + thr


# ------------------------------------------------------------------------ main


def main():
    out_dir, data_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    Xa, ya, Xa_test, nan_rows, adult_info = load_adult(data_dir)
    Xp, yp, pen_info = load_penguins(data_dir)

    lgbm_common = dict(random_state=0, deterministic=True, n_jobs=1, verbose=-1,
                       force_col_wise=True)
    specs = [
        ("xgb-binary", "xgb-binary.json", "xgboost-json", "adult", xgboost.XGBClassifier,
         dict(n_estimators=30, max_depth=4, learning_rate=0.3, objective="binary:logistic",
              random_state=0, tree_method="hist", n_jobs=1)),
        ("xgb-multi", "xgb-multi.json", "xgboost-json", "penguins", xgboost.XGBClassifier,
         dict(n_estimators=15, max_depth=3, objective="multi:softprob", random_state=0,
              n_jobs=1)),
        ("lgbm-binary", "lgbm-binary.txt", "lightgbm-text", "adult", lightgbm.LGBMClassifier,
         dict(n_estimators=30, num_leaves=15, **lgbm_common)),
        ("lgbm-multi", "lgbm-multi.txt", "lightgbm-text", "penguins", lightgbm.LGBMClassifier,
         dict(n_estimators=15, num_leaves=7, **lgbm_common)),
    ]

    ref = {
        "generator": {
            "script": "crates/warden-ml/tests/reference/make_trees.py",
            "python": sys.version.split()[0],
            "xgboost": xgboost.__version__,
            "lightgbm": lightgbm.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "datasets": {"adult": adult_info, "penguins": pen_info},
        "conventions": {
            "inputs": "one list per row in feature_names order; null = NaN; values are "
            "exactly representable in input_dtype",
            "predict_proba": "scikit-learn wrapper predict_proba, one value per class "
            "in classes order",
            "raw_margin": "XGBoost predict(output_margin=True) / LightGBM "
            "predict(raw_score=True); always a list, one value for binary models",
            "xgboost_split": "x < split_condition goes left (float32 compare); NaN follows default_left",
            "lightgbm_split": "x <= threshold goes left (float64 compare); NaN handling "
            "from decision_type",
        },
        "models": {},
    }

    for name, fname, kind, dataset, cls, params in specs:
        est = cls(**params)
        est_text = f"{cls.__module__.split('.')[0]}.{cls.__name__}(" + ", ".join(
            f"{k}={v!r}" for k, v in params.items()) + ")"
        if dataset == "adult":
            X, y, feats, classes = Xa, ya, ADULT_FEATURES, ADULT_CLASSES
        else:
            X, y, feats, classes = Xp, yp, PENGUIN_FEATURES, PENGUIN_CLASSES
        est.fit(X, y)
        path = os.path.join(out_dir, fname)
        if kind == "xgboost-json":
            booster = est.get_booster()
            booster.save_model(path)
            model_feats = list(booster.feature_names)
            objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
            splits = xgb_splits(path)
        else:
            est.booster_.save_model(path)
            model_feats = list(est.booster_.feature_name())
            objective = est.booster_.params.get("objective", est.objective_)
            splits = lgbm_splits(path)
        if model_feats != feats:
            raise SystemExit(f"{name}: feature names {model_feats} != {feats}")
        fw = Framework(kind, est, feats)
        rows = adult_rows(fw, Xa, Xa_test, nan_rows, splits) if dataset == "adult" \
            else penguin_rows(fw, Xp, splits)
        assert len(rows) == N_ROWS, (name, len(rows))
        block, dtypes = rows_block(fw, rows, path)
        ref["models"][name] = {
            "file": fname,
            "kind": kind,
            "objective": objective,
            "estimator": est_text,
            "dataset": dataset,
            "feature_names": model_feats,
            "classes": classes,
            "class_codes": [int(c) for c in est.classes_],
            "input_dtype": np.dtype(fw.dtype).name,
            **dtypes,
            "n_splits_in_file": len(splits),
            "file_bytes": os.path.getsize(path),
            "rows": block,
        }

        if name == "xgb-binary":
            ubj = os.path.join(out_dir, "xgb-binary.ubj")
            est.get_booster().save_model(ubj)
            df = fw.frame(np.array([r for r, _ in rows], dtype=fw.dtype))
            pj, mj = fw.file_outputs(path, df)
            pu, mu = fw.file_outputs(ubj, df)
            if not (np.array_equal(pj, pu) and np.array_equal(mj, mu)):
                raise SystemExit("xgb-binary.ubj predictions differ from xgb-binary.json")
            ubj_entry = {
                "file": "xgb-binary.ubj",
                "kind": "xgboost-ubjson",
                "same_model_as": "xgb-binary",
                "rows_from": "xgb-binary",
                "objective": objective,
                "feature_names": model_feats,
                "classes": classes,
                "file_bytes": os.path.getsize(ubj),
                "note": "the xgb-binary booster saved as UBJSON; expected outputs are "
                "xgb-binary's rows (checked identical when loaded from this file)",
            }

    ref["models"]["xgb-binary-ubj"] = ubj_entry
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
