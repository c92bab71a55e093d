"""Trains the Titanic classifier and exports it for Warden.

Run by `warden pipeline run` inside its sandbox: the dataset version is the
read-only CSV file $WARDEN_DATASET, and $WARDEN_OUTPUT is the one directory
this script may write. It writes there:
  model.onnx    Pipeline(StandardScaler, LogisticRegression), via skl2onnx
                (one float input, zipmap=False)
  schema.toml   the input schema Warden imports it with
  check.csv     200 rows with scikit-learn's own probabilities, which the
                imported model must reproduce (Warden refuses it otherwise)
No pickle or joblib file is written: Warden never loads one.
"""

import json
import os

import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["pclass", "male", "age", "sibsp", "parch", "fare"]
TARGET = "survived"


def main():
    data = pd.read_csv(os.environ["WARDEN_DATASET"])
    out = os.environ["WARDEN_OUTPUT"]
    seed = int(os.environ.get("WARDEN_SEED", "0"))
    x = data[FEATURES].astype("float64")
    y = data[TARGET].astype(str)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    model.fit(x, y)
    onx = to_onnx(
        model,
        x.to_numpy(dtype=np.float32)[:1],
        options={id(model.steps[-1][1]): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    with open(os.path.join(out, "model.onnx"), "wb") as f:
        f.write(onx.SerializeToString())
    classes = [str(c) for c in model.classes_]
    with open(os.path.join(out, "schema.toml"), "w") as f:
        f.write("classes = [" + ", ".join(json.dumps(c) for c in classes) + "]\n")
        f.write(f'target = "{TARGET}"\n')
        f.write('probabilities = "probabilities"\n')
        for c in FEATURES:
            f.write(f'[[features]]\nname = "{c}"\n')
    # The check batch: features as the model sees them (float32), and
    # scikit-learn's probability of each class.
    check = x.iloc[:200].astype(np.float32).astype(np.float64)
    probs = model.predict_proba(check)
    table = check.copy()
    for i, c in enumerate(classes):
        table[f"probability:{c}"] = probs[:, i]
    # Floats as repr writes them: the shortest text that reads back to the same double.
    table.to_csv(os.path.join(out, "check.csv"), index=False)
    print(f"trained on {len(x)} rows; training accuracy {model.score(x, y):.3f}")


if __name__ == "__main__":
    main()
