"""Reference ε for the PLD accountant test (tests/pld_reference.rs).

Run through scripts/pld-reference.sh, which builds the pinned virtualenv and
passes the Opacus wheel. For every point of the 27-point grid (sample rate
0.001/0.004/0.01 × noise 0.8/1.1/1.5 × 100/1000/10000 steps, δ = 1e-5) and
a few corners it records:

- Google's dp_accounting PLD accountant (Poisson-sampled Gaussian event,
  add-or-remove adjacency, connect-the-dots), pessimistic (an upper bound on
  the true ε) at the library's default discretisation interval 1e-4 and at
  1e-5, and optimistic at 1e-5 (a lower bound on the true ε);
- Opacus's PRV accountant (`PRVAccountant.get_epsilon`, its upper bound at
  the default eps_error 0.01), loaded from the opacus wheel without torch:
  the accountant modules need only numpy and scipy, so the two imports that
  would pull torch (`opacus/__init__` and `opacus.optimizers`) are stubbed.

Writes JSON to stdout.
"""
import json
import sys
import time
import types

import dp_accounting
from dp_accounting.pld import privacy_loss_distribution

OPACUS_WHEEL = sys.argv[1]


def load_opacus_prv():
    pkg = types.ModuleType("opacus")
    pkg.__path__ = [OPACUS_WHEEL + "/opacus"]
    sys.modules["opacus"] = pkg
    opt = types.ModuleType("opacus.optimizers")
    opt.DPOptimizer = object
    sys.modules["opacus.optimizers"] = opt
    sys.path.insert(0, OPACUS_WHEEL)
    from opacus.accountants.prv import PRVAccountant  # noqa: E402

    return PRVAccountant


PRVAccountant = load_opacus_prv()
DELTA = 1e-5


def pld(q, sigma, steps, interval, pessimistic=True):
    # What PLDAccountant does for a Poisson-sampled Gaussian event, with the
    # rounding direction exposed.
    one = privacy_loss_distribution.from_gaussian_mechanism(
        standard_deviation=sigma,
        sensitivity=1.0,
        pessimistic_estimate=pessimistic,
        value_discretization_interval=interval,
        sampling_prob=q,
    )
    return float(one.self_compose(steps).get_epsilon_for_delta(DELTA))


def prv(q, sigma, steps):
    acc = PRVAccountant()
    acc.history = [(sigma, q, steps)]
    return float(acc.get_epsilon(DELTA))


GRID = [
    (q, s, t)
    for q in [0.001, 0.004, 0.01]
    for s in [0.8, 1.1, 1.5]
    for t in [100, 1000, 10000]
]
# Corners beyond the grid: the example of the issue, a large sample rate,
# much noise, many steps.
CORNERS = [(0.001, 1.0, 100), (0.5, 1.0, 1000), (0.1, 2.0, 100000), (0.02, 5.0, 1000)]

out = []
for q, s, t in GRID + CORNERS:
    start = time.time()
    row = {
        "sample_rate": q,
        "noise_multiplier": s,
        "steps": t,
        "delta": DELTA,
        "dp_accounting_pld_1e-4": pld(q, s, t, 1e-4),
        "dp_accounting_pld_1e-5": pld(q, s, t, 1e-5),
        "dp_accounting_pld_optimistic_1e-5": pld(q, s, t, 1e-5, pessimistic=False),
        "opacus_prv": prv(q, s, t),
    }
    out.append(row)
    print(q, s, t, row, round(time.time() - start, 1), file=sys.stderr, flush=True)

json.dump(
    {
        "generator": "crates/warden-ml/tests/reference/make_pld_reference.py",
        "versions": {
            "dp-accounting": "0.6.0",
            "opacus": "1.5.2",
        },
        "points": out,
    },
    sys.stdout,
    indent=1,
)
print(file=sys.stdout)
