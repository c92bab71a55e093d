"""Generate the ONNX models with one input per column in
crates/warden-ml/tests/data/onnx-columns/, and onnxruntime's answers.

These are scikit-learn pipelines as skl2onnx exports a ColumnTransformer:
one graph input per column (float for numbers, string for categories) and
the ONNX-ML preprocessing operators Warden rewrites (Imputer, Scaler,
OneHotEncoder, LabelEncoder, Binarizer, ZipMap). The Rust test
(tests/onnx_columns.rs) runs them and compares with onnxruntime on the same
records, including missing numbers and categories the model never saw.

Run from the repository root, in the pinned virtualenv of make_onnx.py:

    ~/.cache/warden/venv-onnx/bin/python \
        crates/warden-ml/tests/reference/make_onnx_columns.py \
        crates/warden-ml/tests/data/onnx-columns /work/shared/data/penguins.csv

Files written (argv[1] is the output directory, argv[2] penguins.csv):
  lr.onnx       ColumnTransformer(numbers: SimpleImputer(mean) + StandardScaler,
                island and sex: OneHotEncoder(handle_unknown="ignore"))
                + LogisticRegression(max_iter=1000), zipmap=False.
  forest.onnx   the same preprocessing + RandomForestClassifier(n_estimators=10,
                max_depth=4, random_state=0), with its ZipMap left in.
  strict.onnx   numbers: SimpleImputer(median) + Binarizer(threshold=45) on
                bill_length_mm, StandardScaler on the others; island:
                OneHotEncoder(handle_unknown="error") (zeros = 0); sex:
                OrdinalEncoder (a LabelEncoder with string keys);
                LogisticRegression, zipmap=False.
  reference.json  for each model: its inputs, classes, and records (feature ->
                value, null for missing) with onnxruntime's probabilities.
"""

import json
import os
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Binarizer, OneHotEncoder, OrdinalEncoder, StandardScaler

warnings.filterwarnings("ignore")
NUM = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CAT = ["island", "sex"]


def frame(d):
    x = d[NUM + CAT].copy()
    for c in NUM:
        x[c] = pd.to_numeric(x[c], errors="coerce").astype("float32")
    for c in CAT:
        x[c] = x[c].fillna("NA").astype(str)
    return x


def feeds(x):
    f = {}
    for c in NUM:
        f[c] = x[[c]].to_numpy(dtype=np.float32)
    for c in CAT:
        f[c] = x[[c]].to_numpy(dtype=object)
    return f


def records(x):
    out = []
    for _, r in x.iterrows():
        rec = {}
        for c in NUM:
            v = float(r[c])
            rec[c] = None if np.isnan(v) else v
        for c in CAT:
            rec[c] = str(r[c])
        out.append(rec)
    return out


def main():
    out_dir, penguins = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    d = pd.read_csv(penguins)
    d = d[d["sex"].isin(["MALE", "FEMALE"])].reset_index(drop=True)
    x, y = frame(d), d["species"]
    # The records the test sends: 30 spread over the data, then hostile
    # ones: missing numbers, an island the model never saw.
    rows = x.iloc[::11].head(30).copy()
    extra = x.iloc[[0, 100, 200]].copy()
    extra.iloc[0, 0] = np.nan
    extra.iloc[1, 2] = np.nan
    extra.iloc[2, 0] = np.nan
    extra.iloc[2, 3] = np.nan
    unseen = x.iloc[[5]].copy()
    unseen["island"] = "Atlantis"
    types = [(c, FloatTensorType([None, 1])) for c in NUM] + [
        (c, StringTensorType([None, 1])) for c in CAT
    ]
    num = Pipeline([("imp", SimpleImputer()), ("sc", StandardScaler())])
    onehot = OneHotEncoder(handle_unknown="ignore")
    models = {
        "lr": (ColumnTransformer([("num", num, NUM), ("cat", onehot, CAT)]),
               LogisticRegression(max_iter=1000), False, True),
        "forest": (ColumnTransformer([("num", num, NUM), ("cat", onehot, CAT)]),
                   RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
                   True, True),
        "strict": (ColumnTransformer([
            ("bin", Pipeline([("imp", SimpleImputer(strategy="median")),
                              ("b", Binarizer(threshold=45.0))]), ["bill_length_mm"]),
            ("num", Pipeline([("imp", SimpleImputer(strategy="median")),
                              ("sc", StandardScaler())]), NUM[1:]),
            ("island", OneHotEncoder(handle_unknown="error"), ["island"]),
            ("sex", OrdinalEncoder(), ["sex"]),
        ]), LogisticRegression(max_iter=1000), False, False),
    }
    reference = {}
    for name, (ct, clf, zipmap, unknown_ok) in models.items():
        m = Pipeline([("ct", ct), ("clf", clf)]).fit(x, y)
        onx = to_onnx(m, initial_types=types,
                      options={id(clf): {"zipmap": zipmap}},
                      target_opset={"": 17, "ai.onnx.ml": 3})
        onx.graph.name = name
        path = os.path.join(out_dir, f"{name}.onnx")
        with open(path, "wb") as f:
            f.write(onx.SerializeToString())
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        outputs = [o.name for o in sess.get_outputs()]
        sent = pd.concat([rows, extra] + ([unseen] if unknown_ok else []), ignore_index=True)
        got = sess.run(None, feeds(sent))
        probs = got[1]
        if zipmap:
            classes = [str(c) for c in m.classes_]
            probs = [[p[c] for c in classes] for p in probs]
        probs = np.asarray(probs, dtype=np.float64)
        sk = m.predict_proba(sent)
        reference[name] = {
            "inputs": [i.name for i in onx.graph.input],
            "outputs": outputs,
            "probabilities": outputs[1],
            "classes": [str(c) for c in m.classes_],
            "ops": sorted({n.op_type for n in onx.graph.node}),
            "records": records(sent),
            "onnxruntime": probs.tolist(),
            "max_abs_diff_sklearn": float(np.abs(probs - sk).max()),
        }
        if not unknown_ok:
            bad = unseen.copy()
            try:
                sess.run(None, feeds(bad))
                reference[name]["unknown_refused"] = False
            except Exception:
                reference[name]["unknown_refused"] = True
            reference[name]["unknown_record"] = records(bad)[0]
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
