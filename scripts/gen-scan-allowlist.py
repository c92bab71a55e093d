#!/usr/bin/env python3
"""Generates the scanner's allow list of exact (module, name) pairs from the
real packages: crates/warden-scan/src/allow-generated.txt.

Run it through scripts/gen-scan-allowlist.sh, which installs the pinned
packages (scikit-learn, NumPy, SciPy, pandas, joblib, XGBoost, LightGBM) in
a virtualenv of their own. What goes in:

  classes  every class defined in a module of those packages (its
           __module__ is that module), under the name pickle writes for it
           (__module__, __qualname__), except in modules that read or write
           files, reach the network, start processes or load native code by
           name (io, datasets, testing, ctypes, memmap, dask, spark, ...),
           and except exceptions and warnings;
  ufuncs   NumPy's and scipy.special's ufuncs, by the name pickle writes;
  functions only the reconstructors these packages' own objects pickle
           through (found by pickling a sample of them and recording what an
           unpickler imports), and only from these packages.

joblib contributes NumpyArrayWrapper alone: its compatibility wrappers read
other files by name when they load.

Each line is `PROFILE MODULE NAME`; PROFILE is numpy (NumPy's own names) or
sklearn (the rest). Usage: gen-scan-allowlist.py > allow-generated.txt
"""
import importlib
import io
import os
import pickle
import pkgutil
import re
import sys
import warnings

warnings.filterwarnings("ignore")

PACKAGES = ["numpy", "scipy", "sklearn", "pandas", "xgboost", "lightgbm"]

# Modules not walked: they read or write files, reach the network, start
# processes, load native code by name, or only serve tests and builds.
SKIP = re.compile(
    r"(^|\.)(tests?|testing|_testing|conftest|_pytest|_pytesttester|setup|__main__|externals|_vendor|"
    r"vendored|_build_utils|f2py|distutils|_pyinstaller|io|_io|npyio|_npyio_impl|_datasource|format|"
    r"_format_impl|ctypeslib|_ctypeslib|memmap|datasets|plotting|_plotting|dask|spark|pyspark|tracker|"
    r"collective|federated|_ccallback|_lib|callback|compat|clipboard|util|_config|config_init|"
    r"computation|_print_versions|show_versions|_show_versions|api|html|_estimator_html_repr|"
    r"_repr_html|_array_api_tests|benchmarks|libinfo|_distributor_init|doc|_typing|typing|"
    r"matlib|_utils_impl|dlpack|_globals|_mocking)(\.|$)"
)

seen_modules = set()


def home(cls):
    """Where a Python class is really defined (its methods' file, as a
    dotted path), whatever its __module__ says (packages re-export classes
    under their top-level name); None for compiled classes."""
    for v in vars(cls).values():
        f = v.fget if isinstance(v, property) else getattr(v, "__func__", v)
        code = getattr(f, "__code__", None)
        if code is not None:
            path = code.co_filename.replace("\\", "/")
            if "site-packages/" in path:
                path = path.split("site-packages/", 1)[1]
            return path.rsplit(".", 1)[0].replace("/", ".")
    return None


def walk(pkg_name):
    pkg = importlib.import_module(pkg_name)
    names = [pkg_name]
    for m in pkgutil.walk_packages(pkg.__path__, pkg_name + ".", onerror=lambda n: None):
        names.append(m.name)
    out = []
    for name in sorted(set(names)):
        if SKIP.search(name[len(pkg_name):]):
            continue
        try:
            mod = importlib.import_module(name)
        except Exception:
            continue
        seen_modules.add(name)
        for attr, obj in sorted(vars(mod).items()):
            if not isinstance(obj, type) or getattr(obj, "__module__", None) != name:
                continue
            if issubclass(obj, BaseException) or "ctypes" in attr.lower():
                continue
            where = home(obj)
            if where is not None and SKIP.search("." + where):
                continue
            qual = getattr(obj, "__qualname__", attr)
            if "<locals>" in qual:
                continue
            out.append((name, qual))
            # Re-exported under a shorter __module__: older versions pickled
            # it under the module that defines it, which still resolves.
            if where is not None and where != name and where.startswith(pkg_name + "."):
                try:
                    if getattr(importlib.import_module(where), qual, None) is obj:
                        out.append((where, qual))
                except Exception:
                    pass
    return out


def pickled_name(obj):
    """The (module, name) pickle writes for a global object."""
    names = []

    class Rec(pickle.Unpickler):
        def find_class(self, module, name):
            names.append((module, name))
            return super().find_class(module, name)

    Rec(io.BytesIO(pickle.dumps(obj, protocol=2))).load()
    return names


def imports_of(obj, protocol=4):
    seen = []

    class Rec(pickle.Unpickler):
        def find_class(self, module, name):
            seen.append((module, name))
            return super().find_class(module, name)

    Rec(io.BytesIO(pickle.dumps(obj, protocol=protocol))).load()
    return seen


def samples():
    """Objects of these packages whose pickles name their reconstructors."""
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.neighbors import BallTree, KDTree, KNeighborsClassifier, NearestNeighbors
    from sklearn.metrics import DistanceMetric
    import lightgbm
    import xgboost

    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    out = [
        np.arange(3), np.float64(1.5), np.int32(2), np.bool_(True), np.complex128(1j),
        np.datetime64("2020-01-01"), np.timedelta64(1, "D"), np.str_("a"), np.bytes_(b"a"),
        np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), np.ma.masked_array([1, 2], mask=[0, 1]),
        np.matrix([[1, 2]]), np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        np.array(["a", None], dtype=object), np.dtype("f8"), np.dtype([("a", "O")]),
        np.random.RandomState(0), np.random.default_rng(0), np.random.SeedSequence(1),
        np.random.Generator(np.random.MT19937(1)), np.random.Generator(np.random.Philox(1)),
        np.random.Generator(np.random.SFC64(1)), np.random.Generator(np.random.PCG64DXSM(1)),
        pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "c": pd.to_datetime(["2020-01-01", "2020-01-02"]),
                      "d": pd.Categorical(["u", "v"]), "e": pd.array([1, None], dtype="Int64"),
                      "f": pd.to_timedelta([1, 2], unit="s"), "g": [True, False],
                      "h": pd.array(["p", None], dtype="string")}),
        pd.Series([1, 2], index=pd.date_range("2020-01-01", periods=2, tz="UTC")),
        pd.Series(pd.period_range("2020-01", periods=2, freq="M")),
        pd.Series(pd.interval_range(0, 2)), pd.MultiIndex.from_tuples([(1, "a"), (2, "b")]),
        pd.Timestamp("2020-01-01"), pd.Timedelta("1s"), pd.Period("2020-01", "M"), pd.Interval(0, 1),
        pd.CategoricalIndex(["a"]), pd.Series(pd.arrays.SparseArray([0, 1])),
        pd.DataFrame({"a": [1]}).set_index("a").index,
        KDTree(X), BallTree(X), KNeighborsClassifier().fit(X, y),
        KNeighborsClassifier(metric="manhattan", algorithm="ball_tree").fit(X, y),
        NearestNeighbors(metric="minkowski", p=3).fit(X),
        HistGradientBoostingClassifier(max_iter=3).fit(X, y), RandomForestClassifier(n_estimators=2).fit(X, y),
        lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, y),
        xgboost.XGBClassifier(n_estimators=2).fit(X, y),
    ]
    for metric in ("euclidean", "manhattan", "chebyshev", "minkowski", "haversine", "hamming",
                   "canberra", "braycurtis", "jaccard"):
        try:
            out.append(DistanceMetric.get_metric(metric))
        except Exception:
            pass
    for f in ("csr", "csc", "coo", "lil", "dok", "bsr", "dia"):
        out.append(getattr(sp, f + "_matrix")(np.eye(2)))
        out.append(getattr(sp, f + "_array")(np.eye(2)))
    return out


# Reconstructor functions look like this; anything else a pickle of these
# packages names is left for review rather than allowed.
RECONSTRUCTOR = re.compile(
    r"^(_reconstruct|scalar|_frombuffer|_mareconstruct|__pyx_unpickle_\w+|_unpickle\w*|_new_\w+|newObj|"
    r"__\w+_ctor|_\w+_unpickle|_restore\w*|_from_\w+|_rebuild\w*)$"
)


def main():
    import numpy as np
    import scipy.special

    entries = set()
    for pkg in PACKAGES:
        for module, name in walk(pkg):
            entries.add((module, name))
    # joblib: the array wrapper of its own pickles, nothing else.
    entries.add(("joblib.numpy_pickle", "NumpyArrayWrapper"))
    # ufuncs, as pickle names them.
    for mod in (np, scipy.special):
        for attr in sorted(dir(mod)):
            f = getattr(mod, attr, None)
            if isinstance(f, np.ufunc):
                for m, n in pickled_name(f):
                    entries.add((m, n))
    # Functions scikit-learn's estimators take by default (score_func=
    # f_classif, a NumPy reduction): pickled with every such estimator.
    from sklearn.utils import all_estimators
    import inspect
    for _, cls in all_estimators():
        try:
            params = inspect.signature(cls).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in params:
            d = p.default
            if callable(d) and not isinstance(d, type) and getattr(d, "__module__", None):
                root = d.__module__.split(".")[0]
                if root in PACKAGES:
                    for m, n in pickled_name(d):
                        entries.add((m, n))
    # Functions the packages' own fitted models keep and pickle (a k-means
    # step, an array-API helper, check_array in a partial): every estimator
    # that fits with its defaults and the common pipelines, fitted as the
    # benign corpus fits them (scripts/scan-corpus-models.py).
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "scan_corpus_models", os.path.join(os.path.dirname(os.path.abspath(__file__)), "scan-corpus-models.py"))
    corpus = importlib.util.module_from_spec(spec)
    sys.argv = sys.argv[:1] + ["-"]
    spec.loader.exec_module(corpus)
    X, y_cls, y_reg = corpus.data()
    fitted = []
    for _, cls in all_estimators():
        try:
            kw = {"random_state": 0} if "random_state" in inspect.signature(cls).parameters else {}
            est = cls(**kw)
        except Exception:
            continue
        if corpus.fit_somehow(est, X, y_cls, y_reg) is None:
            fitted.append(est)
    fitted += list(corpus.pipeline_objects().values())
    for est in fitted:
        try:
            found = imports_of(est)
        except Exception:
            continue
        for module, name in found:
            if module.split(".")[0] in PACKAGES:
                entries.add((module, name))
    # Reconstructors the packages' own pickles use.
    unreviewed = set()
    for obj in samples():
        for protocol in (2, 4, 5):
            for module, name in imports_of(obj, protocol):
                root = module.split(".")[0]
                if root not in PACKAGES + ["joblib"]:
                    continue
                target = importlib.import_module(module)
                for part in name.split("."):
                    target = getattr(target, part)
                if isinstance(target, type) or isinstance(target, np.ufunc) or not callable(target):
                    entries.add((module, name))
                elif RECONSTRUCTOR.match(name):
                    entries.add((module, name))
                else:
                    unreviewed.add((module, name))
    for m, n in sorted(unreviewed):
        print(f"not allowed (not a reconstructor by name): {m}.{n}", file=sys.stderr)

    import joblib, lightgbm, pandas, scipy, sklearn, xgboost

    versions = ", ".join(f"{p.__name__} {p.__version__}" for p in (np, scipy, sklearn, pandas, joblib, xgboost, lightgbm))
    print("# Exact (module, name) pairs a pickle may import, generated by")
    print("# scripts/gen-scan-allowlist.sh from Python %d.%d.%d and %s." % (sys.version_info[:3] + (versions,)))
    print("# Do not edit by hand: change the generator and run it again.")
    print("# PROFILE MODULE NAME")
    for module, name in sorted(entries):
        profile = "numpy" if module.split(".")[0] in ("numpy", "joblib") else "sklearn"
        print(f"{profile} {module} {name}")
    print(f"{len(entries)} names from {len(seen_modules)} modules", file=sys.stderr)


if __name__ == "__main__":
    main()
