"""Synthetic binary-classification CSV for the logistic regression benchmark.

Columns f0..f19 (float) and y (0/1). Feature i is z_i * (1 + i % 5) + i with
z ~ N(0, 1), so scales and means differ. y ~ Bernoulli(sigmoid(z @ w + b)),
w and b drawn from the same seed with |w| = 3.5 (Bayes accuracy ~0.85).
Deterministic for a given --rows/--seed.

    python bench/gen_logreg_data.py --rows 1000000 --seed 7 --out /tmp/logreg-1m.csv
"""

import argparse

import numpy as np
import pandas as pd

N_FEATURES = 20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    # Fixed "true" model first, so it depends only on the seed, not on --rows.
    w = rng.standard_normal(N_FEATURES)
    w *= 3.5 / np.linalg.norm(w)  # moderate separability
    b = rng.normal(0.0, 0.5)

    z = rng.standard_normal((a.rows, N_FEATURES))
    y = (rng.random(a.rows) < 1.0 / (1.0 + np.exp(-(z @ w + b)))).astype(np.int8)
    i = np.arange(N_FEATURES)
    x = z * (1 + i % 5) + i  # different scales and means per column

    df = pd.DataFrame(x, columns=[f"f{k}" for k in i])
    df["y"] = y
    df.to_csv(a.out, index=False, float_format="%.6g")  # C writer: ~16 s for 1M rows


if __name__ == "__main__":
    main()
