#!/usr/bin/env python3
"""Benign model corpus for `warden scan`: every scikit-learn estimator and
transformer that builds with its default arguments and fits on a small
dataset, saved with pickle (protocols 0-5) and joblib (plain and
compressed with zlib, gzip, bz2, xz, lzma), plus common pipelines and the
objects everyday models hold (NumPy dtypes and ufuncs as parameters,
random generators, distance metrics, histogram binning, pandas DataFrames,
XGBoost and LightGBM models, an ONNX model with its external data file).
Every file must scan clean at the default profile.

Writes OUTDIR/<name>.<how> files and OUTDIR/manifest.json in the schema of
scripts/scan-corpus.py (every entry "expect": "clean") with, in "models",
how many estimators were tried, saved and skipped (and why).

Deterministic: seeded data, random_state where an estimator takes one.
Run it through scripts/scan-corpus-models.sh (pinned packages).
Usage: scan-corpus-models.py OUTDIR
"""
import inspect
import io
import json
import os
import pickle
import struct
import sys
import warnings

import joblib
import numpy as np

warnings.filterwarnings("ignore")

OUT = sys.argv[1]
ENTRIES = []


def save(name, obj, ways):
    for how in ways:
        rel = f"{name}.{how}"
        path = os.path.join(OUT, rel)
        if how.startswith("p") and how[1:].isdigit():
            with open(path, "wb") as f:
                pickle.dump(obj, f, protocol=int(how[1:]))
        elif how == "joblib":
            joblib.dump(obj, path)
        else:  # joblib-<compressor>
            joblib.dump(obj, path, compress=(how.split("-", 1)[1], 3))
        ENTRIES.append({"path": rel, "expect": "clean", "family": name, "format": "joblib" if "joblib" in how else "pickle",
                        "profile": "sklearn", "note": f"{name} saved as {how}"})


def data():
    rng = np.random.default_rng(0)
    X = np.abs(rng.standard_normal((60, 4)))
    y_cls = (X[:, 0] > np.median(X[:, 0])).astype(int)
    y_reg = X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.standard_normal(60) * 0.1
    return X, y_cls, y_reg


def fit_somehow(est, X, y_cls, y_reg):
    from sklearn.base import is_classifier, is_regressor
    docs = ["the cat sat", "a dog ran", "cats and dogs", "the end"] * 15
    attempts = []
    try:
        if is_classifier(est):
            attempts.append(lambda: est.fit(X, y_cls))
        if is_regressor(est):
            attempts.append(lambda: est.fit(X, y_reg))
    except Exception as e:  # a meta-estimator without its estimator
        return f"{type(e).__name__}: {str(e)[:120]}"
    attempts += [
        lambda: est.fit(X, y_cls),
        lambda: est.fit(X),
        lambda: est.fit(X.round().astype(int), y_cls),
        lambda: est.fit(docs),
        lambda: est.fit(docs, y_cls),
        lambda: est.fit([{"a": 1.0, "b": 2.0}, {"a": 3.0}] * 30),
        lambda: est.fit([["a"], ["b", "c"]] * 30),
        lambda: est.fit(y_cls),
        lambda: est.fit(X[:, 0], y_reg),
        lambda: est.fit(X, np.c_[y_reg, X[:, 1] - y_reg]),
        lambda: est.fit(X, np.abs(y_reg) + 0.1),
        lambda: est.fit(X @ X.T),
        lambda: est.fit(np.abs(np.random.default_rng(1).standard_normal((60, 400)))),
        lambda: est.fit(X.reshape(60, 2, 2)),
    ]
    last = None
    for a in attempts:
        try:
            a()
            return None
        except Exception as e:  # try the next kind of input
            last = e
    return f"{type(last).__name__}: {str(last)[:120]}"


def estimators():
    from sklearn.utils import all_estimators
    X, y_cls, y_reg = data()
    tried = saved = 0
    skipped = {}
    ways_all = ["p2", "p4", "p5", "joblib"]
    compressors = ["joblib-zlib", "joblib-gzip", "joblib-bz2", "joblib-xz", "joblib-lzma"]
    for i, (name, cls) in enumerate(all_estimators()):
        tried += 1
        try:
            params = inspect.signature(cls).parameters
            kwargs = {"random_state": 0} if "random_state" in params else {}
            est = cls(**kwargs)
        except Exception as e:
            skipped[name] = f"no default constructor: {type(e).__name__}"
            continue
        why = fit_somehow(est, X, y_cls, y_reg)
        if why:
            skipped[name] = f"does not fit on the small dataset: {why}"
            continue
        ways = ways_all + [compressors[i % len(compressors)]]
        if i % 5 == 0:
            ways += ["p0", "p1"]
        try:
            save(name, est, ways)
        except Exception as e:
            skipped[name] = f"cannot be pickled: {type(e).__name__}: {e}"
            continue
        saved += 1
    return tried, saved, skipped


def pipeline_objects():
    """Common pipelines and the objects everyday models hold, by name."""
    import lightgbm
    import pandas as pd
    import xgboost
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    X, y_cls, y_reg = data()
    df = pd.DataFrame({"num": X[:, 0], "cat": np.where(X[:, 1] > 0.5, "a", "b"),
                       "text": ["the cat sat", "a dog ran", "cats and dogs"] * 20})
    ct = ColumnTransformer([
        ("num", StandardScaler(), ["num"]),
        ("cat", OneHotEncoder(dtype=np.float64, handle_unknown="ignore"), ["cat"]),
        ("text", TfidfVectorizer(dtype=np.float64), "text"),
    ])
    objs = {
        "pipeline-scaler-logreg": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y_cls),
        "pipeline-columntransformer": make_pipeline(ct, LogisticRegression()).fit(df, y_cls),
        "functiontransformer-log1p": make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(X, y_cls),
        "functiontransformer-ufuncs": [FunctionTransformer(f).fit(X) for f in (np.exp, np.sqrt, np.abs, np.expm1, np.square)],
        "onehot-float64": OneHotEncoder(dtype=np.float64).fit(X.round()),
        "tfidf-float32": TfidfVectorizer(dtype=np.float32).fit(df["text"]),
        "histgb-classifier": HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y_cls),
        "histgb-regressor-categorical": HistGradientBoostingRegressor(max_iter=5, categorical_features=[3]).fit(
            np.c_[X[:, :3], (X[:, 3] * 3).astype(int)], y_reg),
        "knn-kdtree": KNeighborsClassifier(algorithm="kd_tree").fit(X, y_cls),
        "knn-balltree-manhattan": KNeighborsClassifier(algorithm="ball_tree", metric="manhattan").fit(X, y_cls),
        "knn-brute-cosine": KNeighborsClassifier(algorithm="brute", metric="cosine").fit(X, y_cls),
        "nn-minkowski-p3": NearestNeighbors(p=3).fit(X),
        "nn-chebyshev": NearestNeighbors(metric="chebyshev", algorithm="ball_tree").fit(X),
        "random-default-rng": np.random.default_rng(42),
        "random-seedsequence": np.random.SeedSequence(42),
        "random-state": np.random.RandomState(42),
        "random-generators": [np.random.Generator(b(1)) for b in (np.random.MT19937, np.random.PCG64,
                                                                   np.random.PCG64DXSM, np.random.Philox, np.random.SFC64)],
        "pandas-dataframe": df,
        "pandas-dataframe-typed": pd.DataFrame({
            "ts": pd.date_range("2020-01-01", periods=3, tz="UTC"), "td": pd.to_timedelta([1, 2, 3], unit="s"),
            "cat": pd.Categorical(["x", "y", "x"]), "i": pd.array([1, None, 3], dtype="Int64"),
            "s": pd.array(["a", None, "c"], dtype="string"), "b": [True, False, True]}),
        "pandas-series-period": pd.Series(pd.period_range("2020-01", periods=3, freq="M")),
        "numpy-dtypes": [np.dtype(t) for t in ("f8", "i4", "U3", "S2", "M8[ns]", "m8[s]", "c16", "?", "O")],
        "numpy-scalars": [np.float64(1.5), np.int64(2), np.float32(0.5), np.bool_(True), np.datetime64("2020-01-01")],
        "xgboost-classifier": xgboost.XGBClassifier(n_estimators=3, random_state=0).fit(X, y_cls),
        "xgboost-regressor": xgboost.XGBRegressor(n_estimators=3, random_state=0).fit(X, y_reg),
        "lightgbm-classifier": lightgbm.LGBMClassifier(n_estimators=3, verbose=-1, random_state=0).fit(X, y_cls),
        "lightgbm-regressor": lightgbm.LGBMRegressor(n_estimators=3, verbose=-1, random_state=0).fit(X, y_reg),
        "lightgbm-booster": lightgbm.train({"verbose": -1}, lightgbm.Dataset(X, y_reg), num_boost_round=2),
    }
    return objs


def pipelines():
    objs = pipeline_objects()
    for name, obj in objs.items():
        save(name, obj, ["p2", "p4", "p5", "joblib", "joblib-zlib", "joblib-xz"])
    return len(objs)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def onnx_with_external_data():
    """An ONNX ModelProto whose one initializer lives in weights.bin beside it."""
    d = os.path.join(OUT, "onnx-external")
    os.makedirs(d, exist_ok=True)
    entry = field(1, b"location") + field(2, b"weights.bin")
    tensor = (varint(1 << 3) + varint(4)              # dims: [4]
              + varint(2 << 3) + varint(1)            # data_type: FLOAT
              + field(8, b"w")                        # name
              + field(13, entry)                      # external_data
              + varint(14 << 3) + varint(1))          # data_location: EXTERNAL
    graph = field(5, tensor) + field(2, b"g")
    model = varint(1 << 3) + varint(9) + field(2, b"warden-corpus") + field(7, graph)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model)
    with open(os.path.join(d, "weights.bin"), "wb") as f:
        f.write(struct.pack("<4f", 0.5, -1.0, 2.0, 0.0))
    for rel in ("onnx-external/model.onnx", "onnx-external/weights.bin"):
        ENTRIES.append({"path": rel, "expect": "clean", "family": "onnx-external-data", "format": "onnx",
                        "profile": None, "note": "an ONNX model and the external data file it names"})


def main():
    import lightgbm, pandas, scipy, sklearn, xgboost
    os.makedirs(OUT, exist_ok=True)
    tried, saved, skipped = estimators()
    n_pipelines = pipelines()
    onnx_with_external_data()
    versions = {p.__name__: p.__version__ for p in (np, scipy, sklearn, joblib, pandas, xgboost, lightgbm)}
    versions["python"] = "%d.%d.%d" % sys.version_info[:3]
    manifest = {"corpus": "warden-scan-models", "schema": 1, "versions": versions,
                "models": {"estimators": tried, "saved": saved, "skipped": skipped, "pipelines_and_objects": n_pipelines},
                "files": ENTRIES}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    print(f"{tried} estimators: {saved} fitted and saved, {len(skipped)} skipped; "
          f"{n_pipelines} pipelines and objects; {len(ENTRIES)} files")


if __name__ == "__main__":
    main()
