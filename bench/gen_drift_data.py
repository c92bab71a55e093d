"""Synthetic all-numeric CSV for the drift benchmark (bench/drift_evidently.py).

Columns f0..f14 (float), a mix of three families chosen by i % 3:
normal (mean i, sd 1 + i % 4), lognormal (mu 0, sigma 0.5) and uniform
[0, 10 + i). Column parameters depend only on the column index, so a reference
and a current file drawn with different seeds come from the same
distributions; --shift X then moves the last 5 columns (f10..f14) by X times
their distribution's standard deviation. Deterministic for given
--rows/--seed/--shift. Values are written with 6 significant digits.

    python bench/gen_drift_data.py --rows 1000000 --seed 1 --shift 0 /tmp/ref.csv
    python bench/gen_drift_data.py --rows 1000000 --seed 2 --shift 0.5 /tmp/cur.csv
"""

import argparse
import math

import numpy as np
import pandas as pd

N_COLUMNS = 15
N_SHIFTED = 5
LOGNORMAL_SIGMA = 0.5


def column(rng, i, rows):
    """Draws column i; returns (values, standard deviation of its distribution)."""
    family = i % 3
    if family == 0:
        sd = 1.0 + i % 4
        return rng.normal(float(i), sd, rows), sd
    if family == 1:
        s2 = LOGNORMAL_SIGMA**2
        sd = math.sqrt((math.exp(s2) - 1.0) * math.exp(s2))
        return rng.lognormal(0.0, LOGNORMAL_SIGMA, rows), sd
    width = 10.0 + i
    return rng.uniform(0.0, width, rows), width / math.sqrt(12.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shift", type=float, default=0.0,
                    help="shift of the last 5 columns, in standard deviations")
    ap.add_argument("out", metavar="OUT.csv")
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    data = {}
    for i in range(N_COLUMNS):
        values, sd = column(rng, i, a.rows)
        if i >= N_COLUMNS - N_SHIFTED and a.shift:
            values += a.shift * sd
        data[f"f{i}"] = values
    pd.DataFrame(data).to_csv(a.out, index=False, float_format="%.6g")


if __name__ == "__main__":
    main()
