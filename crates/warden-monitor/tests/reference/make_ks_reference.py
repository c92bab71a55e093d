"""Reference KS p-values for tests/ks_reference.rs, from SciPy.

Run through scripts/ks-reference.sh (pinned SciPy). Writes JSON to stdout:
- "kstwo": scipy.stats.kstwo.sf(x, n) over sample sizes and statistics
  chosen to reach every branch of SciPy's method (Simard and L'Ecuyer 2011
  as SciPy implements it: Ruben-Gambino ends, Durbin's matrix in the
  Marsaglia-Tsang-Wang form, Pomeranz, Pelz-Good, and twice the one-sided
  Smirnov tail, exact or, above n = 10^6, approximated);
- "two_sample": scipy.stats.ks_2samp(a, b) (method 'auto') on samples
  built deterministically from (size, multiplier, shift) as
  v[i] = (i * multiplier) % 1.0 + shift, which Rust reproduces bit for bit.
"""
import json
import math
import sys

import numpy as np
import scipy
from scipy import stats

SIZES = [1, 2, 3, 5, 10, 37, 100, 140, 141, 500, 2000, 5000, 10001, 50000,
         99999, 100000, 100001, 250000, 500000, 1000000, 1000001, 3000000]
kstwo = []
for n in SIZES:
    xs = set()
    # Around the Ruben-Gambino ends, and the n*x^2 cut-overs 0.754693, 2.2,
    # 4, 18 and 370, and x*n^1.5 = 1.4.
    for t in [0.4, 0.5, 0.75, 1.0, 1.5, 2.0]:
        xs.add(t / n)
    for s in [0.2, 0.5, 0.75, 0.8, 1.0, 1.2, 1.5, 2.0, 2.3, 3.0, 4.0, 4.5, 6.0, 10.0, 18.0, 30.0, 100.0, 369.0, 371.0]:
        xs.add(math.sqrt(s / n))
    xs.add((1.4 / n) ** (2.0 / 3.0))
    xs.add(0.999 * (1.4 / n) ** (2.0 / 3.0))
    for x in [0.3, 0.5, 0.6, 0.9, 1.0 - 1.0 / n, 1.0 - 0.5 / n]:
        xs.add(x)
    for x in sorted(xs):
        if 0.0 < x < 1.0:
            kstwo.append([n, x, float(stats.kstwo.sf(x, n))])


def sample(size, mult, shift):
    i = np.arange(size, dtype=np.float64)
    return (i * mult) % 1.0 + shift


GOLD = 0.6180339887498949
SQRT2 = 0.41421356237309515
CASES = [
    (12000, GOLD, 0.0, 9000, SQRT2, 0.0),
    (12000, GOLD, 0.0, 9000, SQRT2, 0.01),
    (20000, GOLD, 0.0, 20000, SQRT2, 0.005),
    (20000, GOLD, 0.0, 20000, SQRT2, 0.02),
    (50000, GOLD, 0.0, 40000, SQRT2, 0.003),
    (100000, GOLD, 0.0, 100000, SQRT2, 0.001),
    (100000, GOLD, 0.0, 100000, SQRT2, 0.004),
    (300000, GOLD, 0.0, 200000, SQRT2, 0.002),
    (15000, GOLD, 0.0, 60, SQRT2, 0.05),
    (15000, GOLD, 0.0, 150, SQRT2, 0.1),
    (8000, GOLD, 0.0, 7000, SQRT2, 0.01),
]
two = []
for n1, m1, s1, n2, m2, s2 in CASES:
    r = stats.ks_2samp(sample(n1, m1, s1), sample(n2, m2, s2))
    two.append({"a": [n1, m1, s1], "b": [n2, m2, s2],
                "statistic": float(r.statistic), "pvalue": float(r.pvalue)})

json.dump({"generator": "crates/warden-monitor/tests/reference/make_ks_reference.py",
           "scipy": scipy.__version__, "numpy": np.__version__,
           "kstwo": kstwo, "two_sample": two}, sys.stdout, indent=0)
print()
