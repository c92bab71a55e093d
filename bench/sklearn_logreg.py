"""The job warden's logistic regression benchmark does, the way a scikit-learn user would.

Reads a CSV (header; float features f0..f19, 0/1 target y) with pandas, splits it
by a seeded random permutation (last --holdout fraction held out), standardises
with a StandardScaler fitted on train, fits LogisticRegression(C=1.0,
solver="lbfgs") with the default max_iter=100, and prints JSON timings and accuracies.

    python bench/gen_logreg_data.py --rows 1000000 --seed 7 --out /tmp/logreg-1m.csv
    python bench/sklearn_logreg.py --csv /tmp/logreg-1m.csv --holdout 0.2 --seed 0
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def blas_threads():
    # Threads numpy/BLAS/OpenMP would use, if threadpoolctl is installed.
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    # numpy and scipy each ship their own OpenBLAS, so expect two "openblas" entries;
    # "lib" is the wheel's .libs dir that holds the library (numpy.libs, scipy.libs, ...).
    pools = [{"api": p["internal_api"], "lib": Path(p["filepath"]).parent.name,
              "num_threads": p["num_threads"]} for p in threadpool_info()]
    return sorted(pools, key=lambda p: (p["api"], p["lib"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    t0 = time.perf_counter()
    df = pd.read_csv(a.csv)
    t_read = time.perf_counter() - t0

    X = df.drop(columns="y").to_numpy(dtype=np.float64)
    y = df["y"].to_numpy()
    perm = np.random.default_rng(a.seed).permutation(len(y))
    n_hold = int(round(len(y) * a.holdout))
    tr, ho = perm[n_hold:], perm[:n_hold]

    t_prep0 = time.perf_counter()
    scaler = StandardScaler().fit(X[tr])
    X_tr, X_ho = scaler.transform(X[tr]), scaler.transform(X[ho])
    t_prep = time.perf_counter() - t_prep0

    model = LogisticRegression(C=1.0, solver="lbfgs")  # max_iter=100 (default)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t1 = time.perf_counter()
        model.fit(X_tr, y[tr])
        t_fit = time.perf_counter() - t1
    t_total = time.perf_counter() - t0

    print(json.dumps({
        "read_seconds": round(t_read, 4),
        "fit_seconds": round(t_fit, 4),
        # split + standardise + fit: what `warden train` reports as "fit"
        # (which also scores the holdout and computes the reference profile)
        "prep_fit_seconds": round(t_prep + t_fit, 4),
        "total_seconds": round(t_total, 4),  # read + split + scale + fit
        "n_iter": int(model.n_iter_[0]),
        "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
        "n_train": len(tr),
        "n_holdout": len(ho),
        "train_accuracy": float(model.score(X_tr, y[tr])),
        "holdout_accuracy": float(model.score(X_ho, y[ho])),
        "sklearn_version": sklearn.__version__,
        "threads": blas_threads(),
    }))


if __name__ == "__main__":
    main()
