"""scikit-learn reference figures for warden's logistic regression parity test (UCI Adult).

Fits, on adult.data.csv, the pipeline
    numeric (age, fnlwgt, education-num, capital-gain, capital-loss, hours-per-week)
        -> SimpleImputer(strategy="mean") -> StandardScaler()
    categorical (workclass, education, marital-status, occupation, relationship,
                 race, sex, native-country)
        -> SimpleImputer(strategy="most_frequent") -> OneHotEncoder(handle_unknown="ignore")
    -> LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000), positive class ">50K"
and prints JSON: sklearn version, train accuracy, test accuracy (adult.test.csv),
test log loss, n_iter_, intercept, the 6 numeric coefficients (order above, i.e. on
standardised features), plus the test accuracy with max_iter=100 (sklearn default).
"?" is read as missing; the trailing "." of the test labels is stripped.

Run (figures in sklearn_adult.out.json were produced with Python 3.11.7,
scikit-learn 1.9.1, numpy 2.4.6, pandas 3.1.1, scipy 1.17.1):
    python3 -m venv ~/.cache/warden/venv-sklearn
    ~/.cache/warden/venv-sklearn/bin/pip install scikit-learn pandas numpy
    ~/.cache/warden/venv-sklearn/bin/python sklearn_adult.py /work/shared/data/adult \
        > sklearn_adult.out.json
"""

import json
import sys
import warnings
from pathlib import Path

import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
CATEGORICAL = ["workclass", "education", "marital-status", "occupation",
               "relationship", "race", "sex", "native-country"]
POSITIVE = ">50K"


def load(path):
    # Header row; ", " separators; "?" = missing; test labels end in "." (strip it).
    df = pd.read_csv(path, skipinitialspace=True, na_values="?")
    y = (df["Y"].str.strip().str.rstrip(".") == POSITIVE).astype(int)
    return df.drop(columns="Y"), y


def fit(X, y, max_iter):
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), NUMERIC),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), CATEGORICAL),
    ])
    model = Pipeline([("pre", pre),
                      ("lr", LogisticRegression(C=1.0, solver="lbfgs", max_iter=max_iter))])
    # Record (rather than print) convergence warnings so they land in the JSON.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, converged


def main():
    data = Path(sys.argv[1])
    X_tr, y_tr = load(data / "adult.data.csv")
    X_te, y_te = load(data / "adult.test.csv")

    model, converged = fit(X_tr, y_tr, 1000)
    lr = model.named_steps["lr"]
    # ColumnTransformer puts the numeric block first, so coef_[0, :6] are NUMERIC in order.
    p_te = model.predict_proba(X_te)[:, 1]
    model100, converged100 = fit(X_tr, y_tr, 100)

    print(json.dumps({
        "sklearn_version": sklearn.__version__,
        "n_train": len(y_tr),
        "n_test": len(y_te),
        "n_features_after_encoding": int(lr.coef_.shape[1]),
        "train_accuracy": accuracy_score(y_tr, model.predict(X_tr)),
        "test_accuracy": accuracy_score(y_te, (p_te >= 0.5).astype(int)),
        "test_log_loss": log_loss(y_te, p_te),
        "n_iter": int(lr.n_iter_[0]),
        "converged": converged,
        "intercept": float(lr.intercept_[0]),
        "numeric_coef": dict(zip(NUMERIC, map(float, lr.coef_[0, :len(NUMERIC)]))),
        "max_iter_100": {
            "test_accuracy": accuracy_score(y_te, model100.predict(X_te)),
            "n_iter": int(model100.named_steps["lr"].n_iter_[0]),
            "converged": converged100,
        },
    }, indent=2))


if __name__ == "__main__":
    main()
