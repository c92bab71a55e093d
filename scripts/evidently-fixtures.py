#!/usr/bin/env python3
"""Regenerates the Evidently reference fixtures for Warden's `--compat evidently`
drift mode: crates/warden-monitor/tests/fixtures/evidently/.

For every case it generates a small reference/current pair with numpy's
default_rng and fixed seeds, writes both as CSV with pandas, reads them back
(so Evidently sees exactly what Warden's CSV reader sees) and runs Evidently's
DataDriftPreset on them. Column types are declared explicitly with a
DataDefinition (numerical_columns / categorical_columns), never inferred.

expected.json records, per case and per column, the stat test Evidently picked,
its value (p-value or distance, full float precision), its threshold and the
drift verdict; per case the drifted column count, share and dataset drift
verdict.

Every figure is cross-checked twice before anything is written:
  * the per-column ValueDrift metrics of the new API against the legacy
    DatasetDriftMetric / DataDriftTable results of the same run;
  * against a plain numpy/scipy recomputation that follows the rules written
    down in the fixtures' README.md (test choice, binning, comparison
    direction). A mismatch aborts the script.

Run through scripts/evidently-fixtures.sh, which builds the pinned virtualenv.
Usage: evidently-fixtures.py [OUT_DIR]
"""

import json
import math
import platform
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
from scipy import special, stats
from scipy.spatial import distance

import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
from evidently.presets import DataDriftPreset

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "crates" / "warden-monitor" / "tests" / "fixtures" / "evidently"

# scipy.stats.ks_2samp(method="auto") is exact when max(n1, n2) <= MAX_AUTO_N.
KS_MAX_AUTO_N = 10000

COMPARISON = {
    "ks": "value <= threshold",
    "chisquare": "value < threshold",
    "z": "value < threshold",
    "wasserstein": "value >= threshold",
    "jensenshannon": "value >= threshold",
}
VALUE_KIND = {
    "ks": "p_value",
    "chisquare": "p_value",
    "z": "p_value",
    "wasserstein": "distance",
    "jensenshannon": "distance",
}


# --------------------------------------------------------------------------
# data generation helpers

def letters(rng, n, levels, probs):
    probs = np.asarray(probs, dtype=float)
    return rng.choice(np.array(levels, dtype=object), size=n, p=probs / probs.sum())


def ints(rng, n, values, probs):
    probs = np.asarray(probs, dtype=float)
    return rng.choice(np.array(values, dtype=np.int64), size=n, p=probs / probs.sum())


def exact(rng, n, values, counts):
    """n values holding exactly counts[i] copies of values[i], shuffled."""
    assert sum(counts) == n
    out = np.repeat(np.array(values), counts)
    rng.shuffle(out)
    return out


def blank(rng, arr, k):
    """Returns a copy of arr with k distinct random positions missing."""
    if k == 0:
        return arr
    idx = rng.choice(len(arr), size=k, replace=False)
    if arr.dtype == object:
        out = arr.copy()
        out[idx] = None
    else:
        out = arr.astype(float)
        out[idx] = np.nan
    return out


def normal(rng, n, mean, sd, decimals):
    return np.round(rng.normal(mean, sd, n), decimals)


def lognormal(rng, n, mu, sigma, decimals):
    return np.round(rng.lognormal(mu, sigma, n), decimals)


class Col:
    def __init__(self, name, kind, ref, cur, note):
        assert kind in ("num", "cat")
        self.name, self.kind, self.ref, self.cur, self.note = name, kind, ref, cur, note


# --------------------------------------------------------------------------
# cases

def case_small():
    """Reference of exactly 1000 rows: the `reference rows <= 1000` branch."""
    rng = np.random.default_rng(20250101)
    nr, nc = 1000, 700
    cols = [
        Col("ks_same", "num", normal(rng, nr, 10, 2, 3), normal(rng, nc, 10, 2, 3),
            "continuous, same distribution: K-S, no drift"),
        Col("ks_shift", "num", normal(rng, nr, 0, 1, 3), normal(rng, nc, 0.25, 1, 3),
            "continuous, mean shifted by 0.25 sd: K-S, drift"),
        Col("ks_missing", "num", blank(rng, lognormal(rng, nr, 0, 0.5, 3), 8),
            blank(rng, lognormal(rng, nc, 0.03, 0.5, 3), 5),
            "lognormal with 8 (reference) and 5 (current) missing cells: K-S on the non-missing values"),
        Col("ks_ties", "num", np.minimum(rng.poisson(3.0, nr), 9), np.minimum(rng.poisson(3.4, nc), 9),
            "integers 0..9 (more than 5 distinct values, many ties): K-S"),
        Col("ks_union6", "num", ints(rng, nr, [1, 2, 3, 4, 5], [1, 1, 1, 1, 1]),
            ints(rng, nc, [1, 2, 3, 4, 5, 6], [10, 10, 10, 10, 10, 1]),
            "5 distinct values in reference, a 6th only in current: the union has 6, so K-S (not chi-square)"),
        Col("chi_num_same", "num", ints(rng, nr, [1, 2, 3, 4], [4, 3, 2, 1]), ints(rng, nc, [1, 2, 3, 4], [4, 3, 2, 1]),
            "numeric with 4 distinct values: chi-square, no drift"),
        Col("chi_num_drift", "num", ints(rng, nr, [0, 1, 2], [5, 3, 2]), ints(rng, nc, [0, 1, 2], [4, 3, 3]),
            "numeric with 3 distinct values, proportions moved: chi-square, drift"),
        Col("z_num_same", "num", ints(rng, nr, [0, 1], [7, 3]), exact(rng, nc, [0, 1], [490, 210]),
            "binary 0/1 numeric: Z-test, no drift"),
        Col("z_num_drift", "num", ints(rng, nr, [0, 1], [7, 3]), ints(rng, nc, [0, 1], [6, 4]),
            "binary 0/1 numeric, rate 0.3 -> 0.4: Z-test, drift"),
        Col("z_cat_missing", "cat", blank(rng, letters(rng, nr, ["a", "b"], [6, 4]), 6),
            blank(rng, letters(rng, nc, ["a", "b"], [6, 4]), 4),
            "binary categorical with 6 / 4 missing cells: Z-test, no drift"),
        Col("z_cat_drift", "cat", letters(rng, nr, ["x", "y"], [5, 5]), letters(rng, nc, ["x", "y"], [4, 6]),
            "binary categorical, share 0.5 -> 0.6: Z-test, drift"),
        Col("z_cat_const", "cat", letters(rng, nr, ["k"], [1]), letters(rng, nc, ["k"], [1]),
            "one value in both datasets: Z-test short-cut, p-value exactly 1"),
        Col("chi_cat_same", "cat", letters(rng, nr, list("abcd"), [4, 3, 2, 1]),
            letters(rng, nc, list("abcd"), [4, 3, 2, 1]),
            "categorical with 4 levels: chi-square, no drift"),
        Col("chi_cat_drift", "cat", letters(rng, nr, list("abcde"), [1, 1, 1, 1, 1]),
            letters(rng, nc, list("abcde"), [2, 1, 1, 1, 1]),
            "categorical with 5 levels, one level more frequent: chi-square, drift"),
        Col("chi_cat_newlevel", "cat", letters(rng, nr, list("abc"), [5, 3, 2]),
            np.concatenate([letters(rng, nc - 3, list("abc"), [5, 3, 2]), np.array(["d"] * 3, dtype=object)]),
            "a level (d) present only in current: expected frequency 0, infinite statistic, p-value 0"),
        Col("ks_equal_n", "num", blank(rng, normal(rng, nr, 0, 1, 3), 300), normal(rng, nc, 0.1, 1, 3),
            "300 missing reference cells leave 700 values on each side: K-S with equal sample sizes"),
    ]
    return nr, nc, cols, {}


def case_large():
    """Reference of 2000 rows: the `reference rows > 1000` branch."""
    rng = np.random.default_rng(20250202)
    nr, nc = 2000, 1500
    floor_cur = np.full(nc, 5.0)
    floor_cur[rng.choice(nc, size=60, replace=False)] = np.repeat([5.001, 5.002, 5.003, 5.004, 5.005, 5.006], 10)
    cols = [
        Col("w_same", "num", normal(rng, nr, 50, 10, 1), normal(rng, nc, 50, 10, 1),
            "continuous, same distribution: Wasserstein (normed), no drift"),
        Col("w_shift", "num", normal(rng, nr, 50, 10, 1), normal(rng, nc, 52, 10, 1),
            "continuous, mean shifted by 0.2 sd: Wasserstein (normed), drift"),
        Col("w_small_shift", "num", normal(rng, nr, 0, 1, 2), normal(rng, nc, 0.05, 1, 2),
            "continuous, mean shifted by 0.05 sd: Wasserstein (normed), no drift"),
        Col("w_missing", "num", blank(rng, lognormal(rng, nr, 1, 0.6, 2), 7),
            blank(rng, lognormal(rng, nc, 1, 0.6, 2), 4),
            "lognormal with 7 / 4 missing cells: Wasserstein on the non-missing values"),
        Col("w_floor", "num", np.full(nr, 5.0), floor_cur,
            "constant reference (std 0, so the 0.001 floor applies); current has 6 other values: Wasserstein"),
        Col("js_num_same", "num", ints(rng, nr, [1, 2, 3], [5, 3, 2]), ints(rng, nc, [1, 2, 3], [5, 3, 2]),
            "numeric with 3 distinct values: Jensen-Shannon on value frequencies, no drift"),
        Col("js_num_drift", "num", ints(rng, nr, [0, 1, 2, 3, 4], [3, 3, 2, 1, 1]),
            ints(rng, nc, [0, 1, 2, 3, 4], [2, 2, 2, 2, 2]),
            "numeric with 5 distinct values, proportions moved: Jensen-Shannon, drift"),
        Col("js_num_binary", "num", ints(rng, nr, [0, 1], [8, 2]), ints(rng, nc, [0, 1], [8, 2]),
            "binary 0/1 numeric: Jensen-Shannon (not Z) above 1000 reference rows"),
        Col("js_cat_same", "cat", letters(rng, nr, list("abcde"), [5, 4, 3, 2, 1]),
            letters(rng, nc, list("abcde"), [5, 4, 3, 2, 1]),
            "categorical with 5 levels: Jensen-Shannon, no drift"),
        Col("js_cat_drift", "cat", letters(rng, nr, list("abc"), [6, 3, 1]), letters(rng, nc, list("abc"), [3, 4, 3]),
            "categorical with 3 levels, proportions moved: Jensen-Shannon, drift"),
        Col("js_cat_missing_newlevel", "cat", blank(rng, letters(rng, nr, list("abc"), [4, 4, 2]), 9),
            blank(rng, np.concatenate([letters(rng, nc - 4, list("abc"), [4, 4, 2]),
                                       np.array(["d"] * 4, dtype=object)]), 5),
            "categorical with 9 / 5 missing cells and a level only in current (no zero fill): Jensen-Shannon"),
        Col("js_cat_binary", "cat", letters(rng, nr, ["u", "v"], [1, 1]), letters(rng, nc, ["u", "v"], [1, 1]),
            "binary categorical: Jensen-Shannon (not Z) above 1000 reference rows"),
    ]
    return nr, nc, cols, {}


def case_boundary():
    """Reference of 1003 rows; the 1000-row rule counts non-missing reference values per column."""
    rng = np.random.default_rng(20250303)
    nr, nc = 1003, 800
    cols = [
        Col("num_full", "num", normal(rng, nr, 0, 1, 3), normal(rng, nc, 0.3, 1, 3),
            "1003 reference values: Wasserstein, drift"),
        Col("num_miss5", "num", blank(rng, normal(rng, nr, 0, 1, 3), 5), normal(rng, nc, 0.4, 1, 3),
            "998 non-missing reference values: K-S, drift"),
        Col("num_miss3", "num", blank(rng, normal(rng, nr, 0, 1, 3), 3), normal(rng, nc, 0, 1, 3),
            "exactly 1000 non-missing reference values: K-S, no drift"),
        Col("num_miss2", "num", blank(rng, normal(rng, nr, 0, 1, 3), 2), normal(rng, nc, 0, 1, 3),
            "1001 non-missing reference values: Wasserstein, no drift"),
        Col("cat_full", "cat", letters(rng, nr, list("abc"), [5, 3, 2]), letters(rng, nc, list("abc"), [3, 4, 3]),
            "1003 reference values: Jensen-Shannon, drift"),
        Col("cat_miss5", "cat", blank(rng, letters(rng, nr, list("abc"), [5, 3, 2]), 5),
            letters(rng, nc, list("abc"), [5, 3, 2]),
            "998 non-missing reference values: chi-square, no drift"),
    ]
    return nr, nc, cols, {}


def case_js_binning():
    """Not the default: num_method="jensenshannon" forces Jensen-Shannon on numeric
    columns with many values, to pin down its binning (Sturges histogram when the
    reference has more than 20 distinct values, value frequencies otherwise)."""
    rng = np.random.default_rng(20250404)
    nr, nc = 1200, 900
    cols = [
        Col("many_same", "num", normal(rng, nr, 0, 1, 3), normal(rng, nc, 0, 1, 3),
            "continuous (>20 distinct reference values): Sturges bins over reference+current, no drift"),
        Col("many_shift", "num", lognormal(rng, nr, 0, 0.5, 3), lognormal(rng, nc, 0.3, 0.5, 3),
            "continuous lognormal, shifted: Sturges bins, drift"),
        Col("vals21", "num", ints(rng, nr, list(range(21)), [1] * 21), ints(rng, nc, list(range(21)), [1] * 21),
            "integers 0..20 (21 distinct reference values): Sturges bins"),
        Col("vals20", "num", ints(rng, nr, list(range(20)), [1] * 20), ints(rng, nc, list(range(20)), [1] * 20),
            "integers 0..19 (20 distinct reference values): per-value frequencies"),
        Col("vals15_shift", "num", ints(rng, nr, list(range(15)), [1] * 15),
            ints(rng, nc, list(range(18)), [1] * 15 + [3, 3, 3]),
            "integers 0..14 in reference, 0..17 in current: per-value frequencies, zero reference bins, drift"),
    ]
    return nr, nc, cols, {"num_method": "jensenshannon"}


CASES = [
    ("small", case_small, "reference <= 1000 rows: K-S, chi-square and Z-test"),
    ("large", case_large, "reference > 1000 rows: Wasserstein (normed) and Jensen-Shannon"),
    ("boundary", case_boundary, "1003 reference rows; missing cells move columns across the 1000-row rule; "
                                "3 of 6 columns drift, share exactly 0.5"),
    ("js_binning", case_js_binning, "NOT default options: DataDriftPreset(num_method='jensenshannon'), "
                                    "for the Jensen-Shannon binning rules on numeric columns"),
]


# --------------------------------------------------------------------------
# independent recomputation (follows README.md)

def clean(s):
    return s.replace([-np.inf, np.inf], np.nan).dropna()


def choose_test(ref, cur, kind):
    n_values = pd.concat([ref, cur]).nunique()
    if len(ref) <= 1000:
        if n_values <= 2:
            return "z"
        if kind == "cat" or n_values <= 5:
            return "chisquare"
        return "ks"
    if kind == "num" and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


def freq_keys(ref, cur):
    return sorted(set(ref.unique()) | set(cur.unique()), key=lambda v: (str(type(v)), v))


def recompute(test, ref, cur, kind):
    """Returns (value, extra details) computed with numpy/scipy only."""
    if test == "ks":
        res = stats.ks_2samp(ref.to_numpy(), cur.to_numpy())
        method = "exact" if max(len(ref), len(cur)) <= KS_MAX_AUTO_N else "asymp"
        return float(res.pvalue), {"statistic": float(res.statistic), "ks_method": method}
    if test == "chisquare":
        keys = freq_keys(ref, cur)
        rc, cc = ref.value_counts(), cur.value_counts()
        scale = len(cur) / len(ref)
        f_exp = np.array([rc.get(k, 0) * scale for k in keys], dtype=float)
        f_obs = np.array([cc.get(k, 0) for k in keys], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = float(np.sum((f_obs - f_exp) ** 2 / f_exp))
        # A level absent from the reference has expected frequency 0: the
        # statistic is infinite (JSON null) and the p-value 0.
        return float(special.chdtrc(len(keys) - 1, stat)), {
            "statistic": stat if math.isfinite(stat) else None,
            "categories": len(keys),
        }
    if test == "z":
        if ref.nunique() == 1 and cur.nunique() == 1 and ref.unique()[0] == cur.unique()[0]:
            return 1.0, {"short_cut": "single common value"}
        first = freq_keys(ref, cur)[0]
        n1, n2 = len(ref), len(cur)
        p1 = float((ref != first).sum()) / n1
        p2 = float((cur != first).sum()) / n2
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        return float(2 * (1 - special.ndtr(abs(z)))), {"statistic": z}
    if test == "wasserstein":
        sd = float(np.std(ref.to_numpy()))
        norm = max(sd, 0.001)
        wd = float(stats.wasserstein_distance(ref.to_numpy(), cur.to_numpy()))
        return wd / norm, {"wasserstein": wd, "reference_std": sd, "norm": norm}
    if test == "jensenshannon":
        if kind == "num" and ref.nunique() > 20:
            both = np.concatenate([ref.to_numpy(), cur.to_numpy()])
            lo, hi = both.min(), both.max()
            width = (hi - lo) / (np.log2(both.size) + 1.0)
            nbins = int(np.ceil((hi - lo) / width))
            edges = np.linspace(lo, hi, nbins + 1)
            rp = np.histogram(ref.to_numpy(), edges)[0] / len(ref)
            cp = np.histogram(cur.to_numpy(), edges)[0] / len(cur)
            binning = f"sturges ({nbins} bins)"
        else:
            keys = freq_keys(ref, cur)
            rc, cc = ref.value_counts(), cur.value_counts()
            rp = np.array([rc.get(k, 0) / len(ref) for k in keys])
            cp = np.array([cc.get(k, 0) / len(cur) for k in keys])
            binning = f"value frequencies ({len(keys)} values)"
        rp, cp = rp / rp.sum(), cp / cp.sum()
        m = (rp + cp) / 2.0
        js = math.sqrt((special.rel_entr(rp, m).sum() + special.rel_entr(cp, m).sum()) / 2.0)
        return js, {"binning": binning}
    raise ValueError(test)


def verdict(test, value, threshold):
    if test == "ks":
        return value <= threshold
    if test in ("chisquare", "z"):
        return value < threshold
    return value >= threshold


def close(a, b):
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


# --------------------------------------------------------------------------

def write_csv(df, path):
    df.to_csv(path, index=False, lineterminator="\n")


def run_case(name, builder, description, out_dir, display_to_name):
    nr, nc, cols, preset_kwargs = builder()
    ref = pd.DataFrame({c.name: c.ref for c in cols})
    cur = pd.DataFrame({c.name: c.cur for c in cols})
    assert len(ref) == nr and len(cur) == nc
    case_dir = out_dir / name
    case_dir.mkdir(parents=True, exist_ok=True)
    write_csv(ref, case_dir / "reference.csv")
    write_csv(cur, case_dir / "current.csv")

    # What Warden reads: the CSV files.
    ref = pd.read_csv(case_dir / "reference.csv")
    cur = pd.read_csv(case_dir / "current.csv")
    num_cols = [c.name for c in cols if c.kind == "num"]
    cat_cols = [c.name for c in cols if c.kind == "cat"]
    for c in cat_cols:
        for df in (ref, cur):
            vals = set(df[c].dropna().unique())
            assert all(isinstance(v, str) and v.isalpha() for v in vals), (name, c, vals)
    for c in num_cols:
        assert pd.api.types.is_numeric_dtype(ref[c]) and pd.api.types.is_numeric_dtype(cur[c]), (name, c)

    definition = DataDefinition(numerical_columns=num_cols, categorical_columns=cat_cols)
    report = Report([DataDriftPreset(**preset_kwargs)], include_tests=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        snapshot = report.run(
            current_data=Dataset.from_pandas(cur, data_definition=definition),
            reference_data=Dataset.from_pandas(ref, data_definition=definition),
        )
    warning_texts = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})
    ks_fallback = [w for w in warning_texts if "ks_2samp" in w]
    assert not ks_fallback, ks_fallback

    d = snapshot.dict()
    metrics = {m["id"]: m for m in d["metrics"]}
    value_drift = {}
    count_metric = None
    for m in d["metrics"]:
        cfg = m["config"]
        if cfg["type"] == "evidently:metric_v2:ValueDrift":
            value_drift[cfg["column"]] = m
        elif cfg["type"] == "evidently:metric_v2:DriftedColumnsCount":
            count_metric = m
    statuses = {}
    share_test = None
    for t in d["tests"]:
        mid = t["metric_config"]["metric_id"]
        cfg = metrics[mid]["config"]
        if cfg["type"] == "evidently:metric_v2:ValueDrift":
            statuses[cfg["column"]] = t["status"]
        elif cfg["type"] == "evidently:metric_v2:DriftedColumnsCount":
            share_test = t["status"]

    legacy_dataset = None
    legacy_table = None
    for result, _ in snapshot.context._legacy_metrics.values():
        kind = type(result).__name__
        if kind == "DatasetDriftMetricResults":
            legacy_dataset = result
        elif kind == "DataDriftTableResults":
            legacy_table = result
    assert legacy_dataset is not None and legacy_table is not None

    out_cols = []
    for c in cols:
        m = value_drift[c.name]
        display = m["config"]["method"]
        test = display_to_name.get(display, display)
        assert test in COMPARISON, (name, c.name, display)
        value = float(m["value"])
        threshold = float(m["config"]["threshold"])
        drift = statuses[c.name] == "FAIL"
        assert statuses[c.name] in ("FAIL", "SUCCESS")

        legacy = legacy_table.drift_by_columns[c.name]
        assert legacy.column_type == c.kind, (name, c.name, legacy.column_type)
        assert display_to_name[legacy.stattest_name] == test, (name, c.name, legacy.stattest_name, test)
        display = legacy.stattest_name
        assert float(legacy.drift_score) == value, (name, c.name, legacy.drift_score, value)
        assert float(legacy.stattest_threshold) == threshold
        assert bool(legacy.drift_detected) == drift

        r, k = clean(ref[c.name]), clean(cur[c.name])
        if not preset_kwargs:
            expected_test = choose_test(r, k, c.kind)
            assert expected_test == test, (name, c.name, expected_test, test)
        mine, details = recompute(test, r, k, c.kind)
        assert close(mine, value), (name, c.name, test, mine, value)
        if mine != value:
            print(f"  note: {name}.{c.name}: recomputed {mine!r} vs Evidently {value!r}", file=sys.stderr)
        assert verdict(test, value, threshold) == drift, (name, c.name)

        entry = {
            "name": c.name,
            "type": c.kind,
            "test": test,
            "test_display_name": display,
            "value_kind": VALUE_KIND[test],
            "value": value,
            "threshold": threshold,
            "drift_rule": COMPARISON[test],
            "drift": drift,
            "reference_non_missing": int(len(r)),
            "current_non_missing": int(len(k)),
            "reference_missing": int(len(ref) - len(r)),
            "current_missing": int(len(cur) - len(k)),
            "distinct_values_reference_plus_current": int(pd.concat([r, k]).nunique()),
            "distinct_values_reference": int(r.nunique()),
            "note": c.note,
        }
        entry.update(details)
        out_cols.append(entry)

    drifted = sum(1 for e in out_cols if e["drift"])
    share = drifted / len(out_cols)
    count_value = count_metric["value"]
    assert int(count_value["count"]) == drifted and float(count_value["share"]) == share
    assert legacy_dataset.number_of_drifted_columns == drifted
    assert float(legacy_dataset.share_of_drifted_columns) == share
    dataset_drift = bool(legacy_dataset.dataset_drift)
    assert dataset_drift == (share >= 0.5)
    assert (share_test == "FAIL") == dataset_drift

    return {
        "name": name,
        "description": description,
        "reference_csv": f"{name}/reference.csv",
        "current_csv": f"{name}/current.csv",
        "reference_rows": nr,
        "current_rows": nc,
        "default_options": not preset_kwargs,
        "preset": "DataDriftPreset(" + ", ".join(f"{k}={v!r}" for k, v in preset_kwargs.items()) + ")",
        "numerical_columns": num_cols,
        "categorical_columns": cat_cols,
        "columns": out_cols,
        "number_of_columns": len(out_cols),
        "drifted_columns": drifted,
        "share_of_drifted_columns": share,
        "drift_share": 0.5,
        "dataset_drift": dataset_drift,
        "warnings": warning_texts,
    }


def main():
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    out_dir.mkdir(parents=True, exist_ok=True)
    display_to_name = {}
    for by_type in _registered_stat_tests.values():
        for st in by_type.values():
            display_to_name[st.display_name] = st.name

    cases = []
    for name, builder, description in CASES:
        case = run_case(name, builder, description, out_dir, display_to_name)
        cases.append(case)
        print(f"{name}: {case['drifted_columns']}/{case['number_of_columns']} drifted, "
              f"dataset_drift={case['dataset_drift']}", file=sys.stderr)
        for c in case["columns"]:
            print(f"  {c['name']:<24} {c['type']} {c['test']:<13} {c['value']:.6g} "
                  f"(threshold {c['threshold']}) drift={c['drift']}", file=sys.stderr)
        for w in case["warnings"]:
            print(f"  warning: {w}", file=sys.stderr)

    expected = {
        "generator": "scripts/evidently-fixtures.py (run via scripts/evidently-fixtures.sh)",
        "versions": {
            "python": platform.python_version(),
            "evidently": evidently.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scipy": scipy.__version__,
        },
        "how_evidently_was_run": (
            "pandas.read_csv on the two CSV files (defaults: an empty field is a missing value), "
            "Dataset.from_pandas(df, data_definition=DataDefinition(numerical_columns=<case "
            "numerical_columns>, categorical_columns=<case categorical_columns>)), then "
            "Report([DataDriftPreset()], include_tests=True).run(current_data=..., reference_data=...). "
            "Column types are declared explicitly, never inferred: 'num' = numerical_columns, "
            "'cat' = categorical_columns. Only case js_binning passes an option "
            "(num_method='jensenshannon'); every other case uses the preset's defaults."
        ),
        "fields": {
            "test": "Evidently stat test id (ks, chisquare, z, wasserstein, jensenshannon)",
            "test_display_name": "Evidently's name for the test, as shown in its report",
            "value": "drift score: a p-value for ks/chisquare/z, a distance for wasserstein/jensenshannon",
            "drift_rule": "how value is compared with threshold to decide drift",
            "ks_method": "p-value method scipy.stats.ks_2samp used; its default method='auto' is exact "
                         "when max(n1, n2) <= 10000 and asymptotic (kstwo) otherwise",
            "statistic": "test statistic (K-S D, chi-square, Z; null when infinite); informative only",
        },
        "dataset_drift_rule": "share_of_drifted_columns = drifted_columns / number_of_columns; "
                              "dataset_drift = share_of_drifted_columns >= drift_share (0.5)",
        "cases": cases,
    }
    (out_dir / "expected.json").write_text(json.dumps(expected, indent=2, allow_nan=False) + "\n")
    total = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    print(f"wrote {out_dir} ({total / 1024:.0f} KiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
