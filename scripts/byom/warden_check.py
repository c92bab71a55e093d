"""Write a check batch for `warden model import --check FILE`.

A check batch is the framework's own answer for some rows: a CSV with the
model's feature columns (in the order the model takes them) and one
`probability:CLASS` column per class, holding `predict_proba` of the model
you export. Warden runs the imported file on the same rows and refuses the
import if any probability differs by more than the tolerance (1e-5 by
default), so a conversion that changed the model is caught before it is
registered.

Use it from the session where the model lives (nothing here unpickles
anything):

    import sys; sys.path.insert(0, "scripts/byom")
    from warden_check import write_check
    write_check(model, X_test.iloc[:500], "model.check.csv")

`model` is anything with `predict_proba` and `classes_` (a scikit-learn
estimator or pipeline, `xgboost.XGBClassifier`, `lightgbm.LGBMClassifier`);
`X` a pandas DataFrame (its column names become the feature names) or a
2-D array with `feature_names` given. Missing values are written as empty
fields, text as it is. Floats are written with `repr`, which reads back to the same double.
"""

import csv
import math


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    f = float(v)
    if math.isnan(f):
        return ""
    return repr(f)


def write_check(model, X, path, feature_names=None, classes=None):
    """Writes `path`; returns the number of rows written."""
    if feature_names is None:
        if not hasattr(X, "columns"):
            raise ValueError("give feature_names when X is not a DataFrame")
        feature_names = [str(c) for c in X.columns]
    if classes is None:
        classes = [str(c) for c in model.classes_]
    rows = X.to_numpy() if hasattr(X, "to_numpy") else X
    proba = model.predict_proba(X)
    if len(proba) != len(rows) or len(proba[0]) != len(classes):
        raise ValueError("predict_proba's shape does not match the rows and classes")
    with open(path, "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(list(feature_names) + [f"probability:{c}" for c in classes])
        for x, p in zip(rows, proba):
            w.writerow([_cell(v) for v in x] + [_cell(v) for v in p])
    return len(rows)
