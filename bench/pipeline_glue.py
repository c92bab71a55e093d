"""The Titanic pipeline as a user would glue it from Python tools, for
bench/pipeline.sh: the same training as examples/titanic/train.py (one
Pipeline(StandardScaler, LogisticRegression) on the same six columns),
logged to MLflow (SQLite backend, a local artifact store) and registered,
with the model saved the way MLflow's sklearn flavour saves it (a pickle);
then modelscan over the saved model, model_signing over its directory, and
a gate that checks accuracy and the demographic parity ratio on `sex`.
The shell script times the whole sequence.

Usage: python pipeline_glue.py TITANIC_CSV WORKDIR   (in the MLflow venv)
"""

import os
import sys

import mlflow
import mlflow.sklearn
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["pclass", "male", "age", "sibsp", "parch", "fare"]


def main():
    data_path, work = sys.argv[1], sys.argv[2]
    mlflow.set_tracking_uri(f"sqlite:///{work}/mlflow.db")
    mlflow.set_experiment("titanic")
    d = pd.read_csv(data_path)
    x, y = d[FEATURES].astype("float64"), d["survived"].astype(str)
    with mlflow.start_run() as run:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
        model.fit(x, y)
        acc = float(model.score(x, y))
        pred = model.predict(x)
        rates = {g: float((pred[d["sex"] == g] == "1").mean()) for g in ("male", "female")}
        ratio = min(rates.values()) / max(rates.values())
        mlflow.log_params({"model": "logreg", "features": ",".join(FEATURES)})
        mlflow.log_metrics({"accuracy": acc, "dp_ratio": ratio})
        mlflow.sklearn.log_model(model, name="model", registered_model_name="titanic")
        out = os.path.join(work, "model")
        mlflow.sklearn.save_model(model, out)
        print(f"run {run.info.run_id}: accuracy {acc:.3f}, demographic parity ratio {ratio:.3f}")
    with open(os.path.join(work, "metrics.txt"), "w") as f:
        f.write(f"{acc} {ratio}\n")


if __name__ == "__main__":
    main()
