#!/usr/bin/env python3
"""Differential test of the scanner's pickle VM against CPython's own
pure-Python unpickler (pickle._Unpickler).

Generates random opcode streams (seeded), runs each through a recording
subclass of pickle._Unpickler whose find_class, persistent_load and the
opcodes that call (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ, BUILD) record
instead of calling: nothing is ever imported or executed. The same streams
go through the VM (the `pickle_trace` example of warden-scan), and the two
views must agree:

  - CPython loads the stream: the VM must load it too, with the same
    events (every import, call, BUILD and persistent load, in order) and
    the same value;
  - CPython fails: CPython's events must be a prefix of the VM's (the VM
    may accept a little more where Modules/_pickle.c, the loader that
    really runs, does: octal INT, a NUL ending a number; and it goes on
    past a dynamic import or an extension code, which it reports).

Usage: pickle-differential.py TRACE_BINARY [--seed N] [--count N] [--seconds S]
Exits 1 on any disagreement, printing the stream and both views.
"""
import argparse
import io
import json
import pickle
import random
import struct
import subprocess
import sys
import time
import _compat_pickle

DEPTH = 24


def text(s):
    """A str as the VM holds it: lone surrogates become U+FFFD."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s)


def render(v, depth=0):
    if depth > DEPTH:
        return "…"
    d = depth + 1
    if v is None:
        return None
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": str(v) if -(2**127) <= v < 2**127 else "big"}
    if isinstance(v, float):
        return {"float": struct.pack(">d", v).hex()}
    if isinstance(v, str):
        return {"str": text(v)}
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, bytearray):
        return {"bytearray": len(v)}
    if isinstance(v, memoryview):
        return {"buffer": True}
    if isinstance(v, tuple):
        return {"tuple": [render(x, d) for x in v]}
    if isinstance(v, list):
        return {"list": [render(x, d) for x in v]}
    if isinstance(v, (set, frozenset)):
        items = sorted((render(x, d) for x in v), key=canon)
        return {"set" if isinstance(v, set) else "frozenset": items}
    if isinstance(v, dict):
        return {"dict": [[render(k, d), render(x, d)] for k, x in v.items()]}
    if isinstance(v, Stub):
        return {"global": text(v.module + "." + v.name)}
    if isinstance(v, Call):
        return {
            "call": v.kind,
            "callee": render(v.func, d),
            "args": render(v.args, d),
            "state": None if v.state is NOSTATE else render(v.state, d),
        }
    if isinstance(v, Pers):
        return {"persistent": render(v.pid, d)}
    return {"unknown": type(v).__name__}


def canon(x):
    return json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


NOSTATE = object()


class Mutable:
    """What the unpickler may append to or set items of (no effect)."""

    def append(self, x):
        pass

    def extend(self, xs):
        pass

    def add(self, x):
        pass

    def __setitem__(self, k, v):
        pass


class Stub(Mutable):
    """Stands for an imported name; one object per name, as a module's
    attribute would be."""

    def __init__(self, module, name):
        self.module, self.name = module, name


class Call(Mutable):
    """Stands for the result of a call."""

    def __init__(self, kind, func, args):
        self.kind, self.func, self.args, self.state = kind, func, args, NOSTATE


class Pers(Mutable):
    def __init__(self, pid):
        self.pid = pid


CALLABLE = (Stub, Call, Pers)


class Recorder(pickle._Unpickler):
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, data, log):
        super().__init__(io.BytesIO(data), encoding="latin1")
        self.log = log
        self.stubs = {}
        # A line must end in a newline, as in Modules/_pickle.c (pickle.py
        # would take a last line without one and cut its last byte).
        readline = self._file_readline

        def whole_line():
            line = readline()
            if not line.endswith(b"\n"):
                raise EOFError("pickle data was truncated")
            return line

        self._file_readline = whole_line

    # What CPython's find_class does with the names, without importing.
    def find_class(self, module, name):
        if self.proto < 3 and self.fix_imports:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        self.log.append({"op": "find_class", "module": text(module), "name": text(name)})
        return self.stubs.setdefault((module, name), Stub(module, name))

    def persistent_load(self, pid):
        self.log.append({"op": "persistent_load", "pid": render(pid)})
        return Pers(pid)

    def call(self, kind, func, args):
        if not isinstance(func, CALLABLE):
            raise TypeError("not callable")
        iter(args)
        self.log.append({"op": "call", "kind": kind, "callee": render(func), "args": render(args)})
        return Call(kind, func, args)

    def load_reduce(self):
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        stack[-1] = self.call("REDUCE", func, args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self.call("NEWOBJ", cls, args))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if not isinstance(kwargs, (dict,) + CALLABLE):
            raise TypeError("argument after ** must be a mapping")
        iter(args)
        self.append(self.call("NEWOBJ_EX", cls, (args, kwargs)))

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_inst(self):
        module = self.readline()[:-1].decode("ascii")
        name = self.readline()[:-1].decode("ascii")
        klass = self.find_class(module, name)
        args = tuple(self.pop_mark())  # before self.append is looked up
        self.append(self.call("INST", klass, args))

    dispatch[pickle.INST[0]] = load_inst

    def load_obj(self):
        args = self.pop_mark()
        cls = args.pop(0)
        self.append(self.call("OBJ", cls, tuple(args)))

    dispatch[pickle.OBJ[0]] = load_obj

    def load_build(self):
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        self.log.append({"op": "build", "target": render(inst), "state": render(state)})
        if isinstance(inst, Call):
            inst.state = state
            return
        if isinstance(inst, (Stub, Pers)):
            return
        stack.append(state)
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = load_build


def python_view(data):
    log = []
    try:
        value = Recorder(data, log).load()
        return {"events": log, "value": render(value), "error": None}
    except RecursionError:
        return None
    except Exception as e:  # any failure of the unpickler
        return {"events": log, "value": None, "error": "%s: %s" % (type(e).__name__, e)}


# ---------------------------------------------------------------------------
# Streams.

GLOBALS = [
    ("os", "system"),
    ("builtins", "eval"),
    ("builtins", "getattr"),
    ("collections", "OrderedDict"),
    ("__builtin__", "set"),
    ("__builtin__", "xrange"),
    ("copy_reg", "_reconstructor"),
    ("UserDict", "UserDict"),
    ("commands", "getoutput"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("mod", "a.b"),
]

INTS = ["5", "-3", "0x1f", "0X1F", "0o17", "0b11", "1_000", " 7 ", "00", "01", "+4", "0x_f",
        "123456789012345678901234567890", "1__0", "0x", "abc", "010", "", "5\r"]
LONGS = ["5L", "0x10L", "-7", "1_0L", "0o7", "123456789012345678901234567890123456789012345678901L",
         "L", "0_0", "08", "-0b1L"]
FLOATS = ["1.5", "-0.0", "1e10", " 2.5 ", "inf", "-nan", "1_0.5", "bad", "1e", ".5", "5."]
STRINGS = ["'abc'", "'o\\x73'", "'\\101\\a'", '"q"', "'a\\'", "'\\x4'", "'s\\ys'", "''", "'",
           "'\xe9'"]
UNICODES = ["abc", "\\u0041", "\\\\u0041", "\\\\\\u0042", "\\U0001F600", "\\ud800x", "\\u12", "",
            "\\x41", "\xe9"]
INDEXES = ["0", " 1", "1_0", "+2", "007", "3\r", "-1", "x"]
TEXTS = ["os", "system", "builtins", "eval", "collections", "OrderedDict", "numpy", "dtype",
         "posix", "a.b", "", "\xe9"]


def op_stream(rng):
    """A list of opcode byte strings: mostly well-formed, often wrong."""
    ops = []
    depth = 0  # rough count of items above the last mark
    marks = 0
    memo = 0
    proto = rng.choice([None, 0, 1, 2, 3, 4, 5])
    if proto is not None:
        ops.append(b"\x80" + bytes([proto]))
    n = rng.randint(1, 40)
    for _ in range(n):
        r = rng.random()
        if depth == 0 or r < 0.35:
            # push something
            c = rng.randrange(22)
            if c == 0:
                ops.append(b"I" + rng.choice(INTS).encode() + b"\n")
            elif c == 1:
                ops.append(b"L" + rng.choice(LONGS).encode() + b"\n")
            elif c == 2:
                ops.append(b"F" + rng.choice(FLOATS).encode() + b"\n")
            elif c == 3:
                ops.append(b"S" + rng.choice(STRINGS).encode("latin1") + b"\n")
            elif c == 4:
                ops.append(b"V" + rng.choice(UNICODES).encode("latin1") + b"\n")
            elif c == 5:
                m, nm = rng.choice(GLOBALS)
                ops.append(b"c" + m.encode() + b"\n" + nm.encode() + b"\n")
            elif c == 6:
                t = rng.choice(TEXTS).encode("utf-8")
                ops.append(b"\x8c" + bytes([len(t)]) + t)
            elif c == 7:
                t = rng.choice(TEXTS).encode("utf-8")
                ops.append(b"X" + struct.pack("<I", len(t)) + t)
            elif c == 8:
                ops.append(b"K" + bytes([rng.randrange(256)]))
            elif c == 9:
                ops.append(b"J" + struct.pack("<i", rng.randint(-(2**31), 2**31 - 1)))
            elif c == 10:
                ops.append(rng.choice([b"N", b"\x88", b"\x89", b")", b"]", b"}", b"\x8f"]))
            elif c == 11:
                b = bytes(rng.randrange(256) for _ in range(rng.randrange(4)))
                ops.append(b"C" + bytes([len(b)]) + b)
            elif c == 12:
                ops.append(b"(")
                marks += 1
                depth = -1
            elif c == 13 and memo:
                k = rng.randrange(memo + 1)
                ops.append(rng.choice([b"h" + bytes([k % 256]), b"j" + struct.pack("<I", k),
                                       b"g" + rng.choice([str(k), rng.choice(INDEXES)]).encode() + b"\n"]))
            elif c == 14:
                ops.append(b"G" + struct.pack(">d", rng.choice([0.5, -2.0, 1e300, float("inf")])))
            elif c == 15:
                b = rng.choice([b"", b"\x01", b"\xff", b"\x00\x80", bytes(17)])
                ops.append(b"\x8a" + bytes([len(b)]) + b)
            elif c == 16:
                m, nm = rng.choice(GLOBALS)
                ops.append(b"\x8c" + bytes([len(m)]) + m.encode() + b"\x8c" + bytes([len(nm)]) + nm.encode())
                if rng.random() < 0.8:
                    ops.append(b"\x93")
            elif c == 17:
                ops.append(b"P" + rng.choice([b"pid", b"0", b"\xe9"]) + b"\n")
            elif c == 18:
                ops.append(b"T" + struct.pack("<i", 2) + b"ab" if rng.random() < 0.9 else b"T\xff\xff\xff\xff")
            elif c == 19:
                ops.append(b"U\x02\xe9a")
            elif c == 20:
                ops.append(b"M" + struct.pack("<H", rng.randrange(65536)))
            else:
                ops.append(rng.choice([b"\x82\x01", b"\x83\x02\x00", b"\x84\x00\x00\x00\x00", b"B\x01\x00\x00\x00z",
                                       b"\x8e\x01\x00\x00\x00\x00\x00\x00\x00z", b"\x96\x00\x00\x00\x00\x00\x00\x00\x00"]))
            depth += 1
            continue
        c = rng.randrange(30)
        if c == 0:
            ops.append(b"0")  # POP (the MARK when it is on top)
            depth -= 1
        elif c == 1:
            ops.append(b"1")
            marks -= 1
        elif c == 2:
            ops.append(b"2")
            depth += 1
        elif c in (3, 4):
            ops.append(rng.choice([b"t", b"l", b"d", b"\x91"]))
            marks -= 1
            depth = 1
        elif c == 5:
            ops.append(rng.choice([b"\x85", b"\x86", b"\x87"]))
        elif c in (6, 7):
            ops.append(rng.choice([b"a", b"e", b"s", b"u", b"\x90"]))
            depth -= 1
        elif c in (8, 9):
            ops.append(rng.choice([b"p" + rng.choice([str(memo), rng.choice(INDEXES)]).encode() + b"\n",
                                   b"q" + bytes([memo % 256]), b"r" + struct.pack("<I", memo), b"\x94"]))
            memo += 1
        elif c in (10, 11, 12):
            ops.append(b"R")
            depth -= 1
        elif c == 13:
            ops.append(b"\x81")
            depth -= 1
        elif c == 14:
            ops.append(b"\x92")
            depth -= 2
        elif c == 15:
            m, nm = rng.choice(GLOBALS)
            ops.append(b"(" + b"K\x01" * rng.randrange(3) + b"i" + m.encode() + b"\n" + nm.encode() + b"\n")
            depth += 1
        elif c == 16:
            ops.append(b"o")
            marks -= 1
            depth = 1
        elif c in (17, 18):
            ops.append(b"b")
            depth -= 1
        elif c == 19:
            ops.append(b"Q")
        elif c == 20:
            ops.append(b"\x98")
        elif c == 21:
            ops.append(b"(0")  # MARK then POP: pops the MARK
        elif c == 22:
            ops.append(b"\x93")
            depth -= 1
        else:
            ops.append(b"(")
            marks += 1
            depth = 0
    ops.append(b".")
    return ops


def frame(ops, rng):
    """Wraps runs of whole opcodes in FRAMEs, as protocol 4 writes them."""
    out = []
    i = 0
    head = []
    if ops and ops[0].startswith(b"\x80"):
        head = [ops[0]]
        i = 1
    while i < len(ops):
        j = min(len(ops), i + rng.randint(1, 8))
        body = b"".join(ops[i:j])
        out.append(b"\x95" + struct.pack("<Q", len(body)) + body)
        i = j
    return b"".join(head + out)


def stream(rng):
    ops = op_stream(rng)
    r = rng.random()
    if r < 0.15:
        return frame(ops, rng)
    data = b"".join(ops)
    if r < 0.2 and len(data) > 2:
        data = data[: rng.randrange(1, len(data))]  # truncated
    return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=120)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    t0 = time.time()
    streams = []
    views = []
    while len(streams) < a.count and time.time() - t0 < a.seconds / 2:
        data = stream(rng)
        view = python_view(data)
        if view is None:
            continue
        streams.append(data)
        views.append(view)
    proc = subprocess.run([a.trace], input="".join(s.hex() + "\n" for s in streams),
                          capture_output=True, text=True, timeout=max(30, a.seconds))
    if proc.returncode != 0:
        print(proc.stderr)
        return 1
    vm_views = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(vm_views) == len(streams)
    both_ok = both_fail = lenient = 0
    bad = []
    for data, py, vm in zip(streams, views, vm_views):
        if py["error"] is None:
            if vm["error"] is not None:
                bad.append((data, py, vm, "CPython loads it, the VM fails"))
            elif canon(py["events"]) != canon(vm["events"]):
                bad.append((data, py, vm, "events differ"))
            elif canon(py["value"]) != canon(vm["value"]):
                bad.append((data, py, vm, "values differ"))
            else:
                both_ok += 1
        else:
            n = len(py["events"])
            if canon(py["events"]) != canon(vm["events"][:n]):
                bad.append((data, py, vm, "CPython's events before its error are not the VM's"))
            elif vm["error"] is None:
                lenient += 1
            else:
                both_fail += 1
    total = len(streams)
    print(f"pickle differential: {total} streams (seed {a.seed}): {both_ok} loaded alike, "
          f"{both_fail} failed alike, {lenient} accepted by the VM only, {len(bad)} disagreements")
    for data, py, vm, why in bad[:10]:
        print("DISAGREE:", why)
        print("  stream:", data.hex())
        print("  cpython:", ascii(canon(py)))
        print("  vm:     ", ascii(canon(vm)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    sys.exit(main())
