"""Generate the small ONNX test models in crates/warden-ml/tests/data/onnx/.

The Rust tests (tract-onnx 0.23) load these files and compare what Warden
computes with the onnxruntime outputs stored in reference.json. The files are
committed, so this script only needs to run again if the models change.

Run it from the repository root:

    python3 -m venv ~/.cache/warden/venv-onnx
    ~/.cache/warden/venv-onnx/bin/pip install scikit-learn==1.9.1 skl2onnx==1.20.0 \
        onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6 pandas==3.1.1
    ~/.cache/warden/venv-onnx/bin/python crates/warden-ml/tests/reference/make_onnx.py \
        crates/warden-ml/tests/data/onnx /work/shared/data/penguins.csv

The committed files were made with Python 3.11.7 and the versions pinned above
(protobuf 7.36.2 and scipy 1.17.1 were pulled in as dependencies).

Files written (argv[1] is the output directory, argv[2] is penguins.csv):
  linear.onnx     LogisticRegression(max_iter=1000) on the 4 raw features, 3 string
                  classes. Ops: ai.onnx.ml LinearClassifier + Normalizer.
  forest.onnx     RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
                  3 string classes. Op: ai.onnx.ml TreeEnsembleClassifier.
  binary.onnx     LogisticRegression on the same features, target 1 = Adelie and
                  0 = other (int64 labels). Op: ai.onnx.ml LinearClassifier.
  gboost.onnx     GradientBoostingClassifier(n_estimators=20, max_depth=2,
                  random_state=0) on the same binary target. Op: ai.onnx.ml
                  TreeEnsembleClassifier with one column of class weights, one
                  base value (the initial log-odds) and post_transform LOGISTIC.
  external-ok.onnx + external-ok.bin
                  linear.onnx keeps its weights in node attributes, not tensors, so it
                  has nothing to move out to external data. This model is the same
                  logistic regression written with standard ops (MatMul, Add, Softmax,
                  ArgMax): W and b are initializers stored in external-ok.bin, which
                  sits next to the model. Its "label" output is the class index (int64)
                  into linear's classes.
  external.onnx   the same graph, but the external_data "location" of every tensor is
                  "../escape.bin", which points outside the model directory. No
                  escape.bin is written: a loader has to refuse the path.
  not-onnx.onnx   200 bytes of plain text.
  reference.json  classes, input/output names and shapes, opsets and ops, feature
                  names, and for the first 20 cleaned rows ("rows") plus 20 rows spread
                  across the dataset so that all classes appear ("rows_spread"): the
                  float32 inputs, onnxruntime's label and probabilities, sklearn's
                  predict_proba, and the largest |onnxruntime - sklearn| difference.

All models take one input named "input", float32, shape [N, 4] (N is dynamic).
They use main opset 17 (skl2onnx's default would be 22) and the ai.onnx.ml opset
that skl2onnx picks (1). skl2onnx writes the "" opset twice, and this script keeps
only one of them. Graph names are fixed so that reruns give the same bytes.
"""

import json
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import sklearn
import skl2onnx
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
TARGET = "species"
MAIN_OPSET = 17
N_ROWS = 20


def load_data(csv_path):
    df = pd.read_csv(csv_path)
    raw_rows = len(df)
    df = df.dropna(subset=FEATURES + [TARGET]).reset_index(drop=True)
    X = df[FEATURES].to_numpy(dtype=np.float32)
    y = df[TARGET].astype(str).to_numpy()
    return X, y, raw_rows


def dedupe_opsets(model):
    seen = {}
    for op in model.opset_import:
        seen.setdefault(op.domain, op.version)
    del model.opset_import[:]
    for domain, version in seen.items():
        model.opset_import.append(helper.make_opsetid(domain, version))


def to_onnx_model(est, name):
    m = convert_sklearn(
        est,
        name=name,
        initial_types=[("input", FloatTensorType([None, len(FEATURES)]))],
        options={id(est): {"zipmap": False}},
        target_opset=MAIN_OPSET,
    )
    dedupe_opsets(m)
    m.graph.name = name
    onnx.checker.check_model(m, full_check=True)
    return m


def value_info(vi):
    t = vi.type.tensor_type
    dims = []
    for d in t.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else None)
    return {
        "name": vi.name,
        "elem_type": TensorProto.DataType.Name(t.elem_type).lower(),
        "shape": dims,
    }


def describe(model):
    return {
        "ir_version": model.ir_version,
        "opset_import": {op.domain or "ai.onnx": op.version for op in model.opset_import},
        "ops": [
            (n.domain + "." if n.domain else "") + n.op_type for n in model.graph.node
        ],
        "inputs": [value_info(v) for v in model.graph.input],
        "outputs": [value_info(v) for v in model.graph.output],
    }


def py_label(v):
    return v.item() if isinstance(v, np.generic) else str(v)


def run_rows(sess, X_rows, y_rows, idx, est=None):
    label, proba = sess.run(None, {"input": X_rows})
    block = {
        "row_index": [int(i) for i in idx],
        "inputs": [[float(v) for v in row] for row in X_rows],
        "true_species": [str(v) for v in y_rows],
        "onnxruntime_label": [py_label(v) for v in label],
        "onnxruntime_probabilities": [[float(p) for p in row] for row in proba],
    }
    if est is not None:
        sk = est.predict_proba(X_rows)
        block["sklearn_label"] = [py_label(v) for v in est.predict(X_rows)]
        block["sklearn_probabilities"] = [[float(p) for p in row] for row in sk]
        block["max_abs_diff_onnxruntime_vs_sklearn"] = float(
            np.max(np.abs(proba.astype(np.float64) - sk))
        )
    return block


def plain_linear_model(lr, name):
    """Same multinomial logistic regression with standard ops and tensor weights."""
    W = lr.coef_.T.astype(np.float32)  # [4, n_classes]
    b = lr.intercept_.astype(np.float32)  # [n_classes]
    n = len(lr.classes_)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "W"], ["logits_nobias"], name="matmul"),
            helper.make_node("Add", ["logits_nobias", "b"], ["logits"], name="add"),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1, name="softmax"),
            helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0, name="argmax"),
        ],
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, len(FEATURES)])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, n]),
        ],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")],
    )
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", MAIN_OPSET)],
        producer_name="warden make_onnx.py",
    )
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def copy_model(model):
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def write_external(model, out_dir, filename, location):
    """Save with all tensors external; location written verbatim into the model."""
    model = copy_model(model)  # onnx.save_model moves raw_data out of the proto it is given
    with tempfile.TemporaryDirectory() as tmp:
        safe = os.path.basename(location)
        path = os.path.join(tmp, filename)
        onnx.save_model(
            model,
            path,
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=safe,
            size_threshold=0,
        )
        m = onnx.load_model(path, load_external_data=False)
        if safe != location:
            for t in m.graph.initializer:
                for kv in t.external_data:
                    if kv.key == "location":
                        kv.value = location
            with open(os.path.join(out_dir, filename), "wb") as f:
                f.write(m.SerializeToString())
        else:
            shutil.copyfile(path, os.path.join(out_dir, filename))
            shutil.copyfile(os.path.join(tmp, safe), os.path.join(out_dir, safe))
            os.chmod(os.path.join(out_dir, safe), 0o644)
        return [
            {kv.key: kv.value for kv in t.external_data} | {"tensor": t.name}
            for t in m.graph.initializer
        ]


def onnx_refuses_escape(model):
    """Does onnx.save_model itself accept location="../escape.bin"? (temp dir only)"""
    model = copy_model(model)
    with tempfile.TemporaryDirectory() as tmp:
        sub = os.path.join(tmp, "models")
        os.makedirs(sub)
        try:
            onnx.save_model(
                model,
                os.path.join(sub, "m.onnx"),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location="../escape.bin",
                size_threshold=0,
            )
        except Exception as e:  # noqa: BLE001
            return f"refused: {type(e).__name__}: {e}"
        return "accepted (wrote " + ", ".join(sorted(os.listdir(tmp))) + " in the temp dir)"


def main():
    out_dir, csv_path = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    X, y, raw_rows = load_data(csv_path)
    first = np.arange(N_ROWS)
    spread = np.linspace(0, len(X) - 1, N_ROWS).round().astype(int)

    y_bin = (y == "Adelie").astype(np.int64)
    specs = [
        ("linear", LogisticRegression(max_iter=1000), y),
        ("forest", RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), y),
        ("binary", LogisticRegression(max_iter=1000), y_bin),
        (
            "gboost",
            GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0),
            y_bin,
        ),
    ]

    ref = {
        "generator": {
            "script": "crates/warden-ml/tests/reference/make_onnx.py",
            "python": sys.version.split()[0],
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "dataset": {
            "file": os.path.basename(csv_path),
            "rows_in_csv": raw_rows,
            "rows_after_dropna": int(len(X)),
            "class_counts": {str(k): int(v) for k, v in zip(*np.unique(y, return_counts=True))},
        },
        "feature_names": FEATURES,
        "models": {},
    }

    fitted = {}
    for name, est, target in specs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(X, target)
        fitted[name] = est
        model = to_onnx_model(est, f"warden_{name}")
        path = os.path.join(out_dir, f"{name}.onnx")
        onnx.save_model(model, path)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        entry = {
            "file": f"{name}.onnx",
            "estimator": repr(est),
            "classes": [str(c) for c in est.classes_],
            "label_type": "int64" if est.classes_.dtype.kind in "iu" else "string",
            "feature_names": FEATURES,
            **describe(model),
            "fit_warnings": [str(w.message) for w in caught],
        }
        if hasattr(est, "n_iter_"):
            entry["n_iter"] = [int(v) for v in np.ravel(est.n_iter_)]
        if name in ("binary", "gboost"):
            entry["target"] = "1 = species == 'Adelie', 0 = any other species"
        entry["rows"] = run_rows(sess, X[first], y[first], first, est)
        entry["rows_spread"] = run_rows(sess, X[spread], y[spread], spread, est)
        ref["models"][name] = entry

    # External data models: standard-op copy of `linear`.
    plain = plain_linear_model(fitted["linear"], "warden_linear_external")
    ok_refs = write_external(plain, out_dir, "external-ok.onnx", "external-ok.bin")
    bad_refs = write_external(plain, out_dir, "external.onnx", "../escape.bin")
    sess = ort.InferenceSession(
        os.path.join(out_dir, "external-ok.onnx"), providers=["CPUExecutionProvider"]
    )
    ext = {
        "file": "external-ok.onnx",
        "data_file": "external-ok.bin",
        "note": "linear's LogisticRegression as MatMul/Add/Softmax/ArgMax with external "
        "initializers; label is the index into classes",
        "classes": ref["models"]["linear"]["classes"],
        "label_type": "int64 (class index)",
        **describe(plain),
        "external_data": ok_refs,
    }
    for key, idx in (("rows", first), ("rows_spread", spread)):
        block = run_rows(sess, X[idx], y[idx], idx, fitted["linear"])
        del block["sklearn_label"]
        lin = np.array(ref["models"]["linear"][key]["onnxruntime_probabilities"])
        block["max_abs_diff_vs_linear_onnx"] = float(
            np.max(np.abs(np.array(block["onnxruntime_probabilities"]) - lin))
        )
        ext[key] = block
    ref["models"]["external_ok"] = ext
    ref["external_escape"] = {
        "file": "external.onnx",
        "external_data": bad_refs,
        "note": "location escapes the model directory; escape.bin is deliberately absent",
        "onnx_save_model_with_dotdot_location": onnx_refuses_escape(plain),
    }

    text = b"this is not an onnx model, just text for Warden's refusal test. "
    text = (text * 4)[:200]
    with open(os.path.join(out_dir, "not-onnx.onnx"), "wb") as f:
        f.write(text)
    ref["not_onnx"] = {"file": "not-onnx.onnx", "bytes": len(text)}

    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
