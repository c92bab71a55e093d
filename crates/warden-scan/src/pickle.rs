//! Pickle analysis by symbolic execution.
//!
//! The pickle stream is a program for a stack machine. This module runs it
//! the way CPython's unpickler does — stack, MARK, memo by slot, framing,
//! out-of-band buffers — but every value is symbolic: constants are kept
//! (short ones), imports are resolved from the real stack operands, calls
//! build descriptions instead of running anything. Every import is checked
//! against the profile's allow list at the moment it is resolved, so an
//! opcode sequence cannot hide one: `GLOBAL`, `INST`, `STACK_GLOBAL` with
//! operands fetched from the memo, and the extension registry all pass
//! through the same check. Anything computed at load time (the result of a
//! call, an extension code) is dynamic, and calling a dynamic value is a
//! finding of its own.
//!
//! Large payloads (tensor bytes, array data) are skipped without being read
//! into memory, so memory stays constant whatever the file size; payloads
//! that look like pickles, NumPy files or zip archives themselves are
//! scanned as nested content.
//!
//! Written by hand: no crate interprets pickles without executing them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::rc::Rc;

use crate::allow::{self, Profile};
use crate::input::{Src, peek, read_vec};
use crate::pyops::{self, PyInt};
use crate::{Finding, Severity};

/// Payloads up to this size are kept as values; larger ones are skipped.
const INLINE_MAX: u64 = 64 * 1024;
/// Payloads that look like nested pickles/archives are read and scanned up to this size.
const NESTED_MAX: u64 = 64 * 1024 * 1024;
/// Stack and memo bounds (entries).
const MAX_STACK: usize = 4_000_000;
const MAX_MEMO: usize = 4_000_000;
/// Items kept inside containers before they are summarised.
const MAX_KEPT: usize = 2_000_000;
/// Text operands keep this many bytes (CPython reads lines of any length;
/// the rest is read and counted).
const LINE_KEEP: usize = 64 * 1024;
/// Nesting depth for pickles inside pickles.
pub(crate) const MAX_DEPTH: u32 = 4;

#[derive(Clone, Debug)]
pub(crate) enum V {
    None,
    Bool(bool),
    Int(i128),
    BigInt,
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    /// A payload skipped unread, with its length.
    Big(u64),
    /// A bytearray (BYTEARRAY8), with its length.
    ByteArray(u64),
    Tuple(Rc<Vec<V>>),
    FrozenSet(Rc<Vec<V>>),
    /// Mutable containers and objects are shared, as in Python: a value
    /// fetched from the memo is the same object the stack mutated.
    List(Rc<RefCell<Vec<V>>>),
    Dict(Rc<RefCell<Vec<(V, V)>>>),
    Set(Rc<RefCell<Vec<V>>>),
    Global(Rc<Global>),
    Obj(Rc<RefCell<Obj>>),
    /// Computed at load time by something not modelled.
    Dyn,
    PersId(Rc<V>),
    Buffer,
}

/// Dropping a value must not recurse: a pickle can nest a million lists
/// with a few bytes each, and a recursive drop of that would overflow the
/// stack. Children of uniquely owned containers are moved to a work list.
impl Drop for V {
    fn drop(&mut self) {
        let mut work: Vec<V> = Vec::new();
        take_children(self, &mut work);
        while let Some(mut v) = work.pop() {
            take_children(&mut v, &mut work);
        }
    }
}

fn take_children(v: &mut V, work: &mut Vec<V>) {
    match v {
        V::Tuple(rc) | V::FrozenSet(rc) => {
            if let Some(items) = Rc::get_mut(rc) {
                work.append(items);
            }
        }
        V::List(rc) | V::Set(rc) => {
            if let Some(items) = Rc::get_mut(rc) {
                work.append(items.get_mut());
            }
        }
        V::Dict(rc) => {
            if let Some(pairs) = Rc::get_mut(rc) {
                for (k, x) in pairs.get_mut().drain(..) {
                    work.push(k);
                    work.push(x);
                }
            }
        }
        V::Obj(rc) => {
            if let Some(o) = Rc::get_mut(rc) {
                let o = o.get_mut();
                work.push(std::mem::replace(&mut o.args, V::None));
                if let Some(st) = o.state.take() {
                    work.push(st);
                }
            }
        }
        V::PersId(rc) => {
            if let Some(inner) = Rc::get_mut(rc) {
                work.push(std::mem::replace(inner, V::None));
            }
        }
        _ => {}
    }
}

fn list(items: Vec<V>) -> V {
    V::List(Rc::new(RefCell::new(items)))
}

#[derive(Debug)]
pub(crate) struct Global {
    pub module: String,
    pub name: String,
    pub allowed: bool,
    /// Index of the finding this import raised, to add the call to it.
    finding: Option<usize>,
}

#[derive(Clone, Debug)]
pub(crate) struct Obj {
    pub class: Rc<Global>,
    /// The callable when it was not a named import (a dynamic call).
    pub callee: Option<V>,
    pub args: V,
    pub state: Option<V>,
    /// REDUCE, NEWOBJ, NEWOBJ_EX, INST or OBJ.
    pub op: &'static str,
}

/// What one pickle (or a run of back-to-back pickles) looked like.
#[derive(Debug, Default)]
pub(crate) struct PickleFacts {
    pub pickles: usize,
    pub protocol: Option<u8>,
    /// Distinct imports, in first-seen order, with whether each is allowed.
    pub globals: Vec<(String, bool)>,
    pub joblib: bool,
    pub torch_legacy: bool,
    /// Ended in a parse error (message, offset) after at least one opcode.
    pub malformed: Option<(String, u64)>,
    /// The first opcode was not a pickle opcode (not a pickle at all).
    pub not_pickle: bool,
}

/// What the VM saw, for comparison with CPython's own unpickler (the
/// differential test): every import and call in order, and the value.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    pub events: Vec<serde_json::Value>,
}

/// Everything a scan of one pickle stream needs.
pub(crate) struct Vm<'a> {
    profile: Profile,
    member: Option<String>,
    depth: u32,
    pub findings: &'a mut Vec<Finding>,
    facts: PickleFacts,
    kept: usize,
    base: u64,
    /// The protocol of the pickle being run (PROTO sets it; 0 until then).
    proto: u8,
    pub(crate) trace: Option<Trace>,
    /// Values the logging-factory walks may still visit.
    walk_budget: u32,
}

/// Why a pickle stopped before STOP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Fail {
    /// A byte that is no opcode.
    Opcode,
    /// Stack, mark or memo misuse (CPython fails the same way).
    Semantic,
    /// An operand CPython would not parse.
    Operand,
    /// The data ended.
    Truncated,
    /// Past a bound of the scanner (not of CPython).
    Bound,
}

enum Stop {
    /// STOP reached: the value.
    Done(V),
    /// Failure at offset, with its class and the opcodes run before it.
    Bad(String, u64, Fail, u64),
    /// End of input before the first opcode.
    Empty,
}

#[derive(Debug)]
struct Marked(Fail, String);
impl std::fmt::Display for Marked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}
impl std::error::Error for Marked {}

fn fail<T>(class: Fail, m: impl Into<String>) -> io::Result<T> {
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        Marked(class, m.into()),
    ))
}

fn err<T>(m: impl Into<String>) -> io::Result<T> {
    fail(Fail::Semantic, m)
}

fn bad_operand<T>(m: impl Into<String>) -> io::Result<T> {
    fail(Fail::Operand, m)
}

fn class_of(e: &io::Error) -> Fail {
    match e.get_ref().and_then(|x| x.downcast_ref::<Marked>()) {
        Some(Marked(c, _)) => *c,
        None if e.kind() == io::ErrorKind::UnexpectedEof => Fail::Truncated,
        None => Fail::Operand,
    }
}

fn message_of(e: &io::Error) -> String {
    match e.get_ref().and_then(|x| x.downcast_ref::<Marked>()) {
        Some(Marked(_, m)) => m.clone(),
        None => e.to_string(),
    }
}

fn is_opcode(b: u8) -> bool {
    matches!(
        b,
        b'(' | b'.'
            | b'0'
            | b'1'
            | b'2'
            | b'F'
            | b'I'
            | b'J'
            | b'K'
            | b'L'
            | b'M'
            | b'N'
            | b'P'
            | b'Q'
            | b'R'
            | b'S'
            | b'T'
            | b'U'
            | b'V'
            | b'X'
            | b'a'
            | b'b'
            | b'c'
            | b'd'
            | b'}'
            | b'e'
            | b'g'
            | b'h'
            | b'i'
            | b'j'
            | b'l'
            | b']'
            | b'o'
            | b'p'
            | b'q'
            | b'r'
            | b's'
            | b't'
            | b')'
            | b'u'
            | b'G'
            | b'B'
            | b'C'
            | 0x80..=0x98
    )
}

/// Whether bytes look like the start of a binary pickle (PROTO 2–5).
pub(crate) fn looks_binary_pickle(b: &[u8]) -> bool {
    b.len() >= 3 && b[0] == 0x80 && (2..=5).contains(&b[1]) && is_opcode(b[2])
}

/// Whether the first byte could start a protocol 0/1 pickle.
pub(crate) fn may_start_pickle(b: &[u8]) -> bool {
    !b.is_empty() && is_opcode(b[0]) && b[0] != b'.'
}

/// The unpickler's stack: a value stack whose top part above the last
/// MARK is all an opcode may touch (CPython's `fence`; pickle.py keeps a
/// separate list per MARK, which is the same thing).
struct Machine {
    stack: Vec<V>,
    marks: Vec<usize>,
    memo: HashMap<u64, V>,
}

impl Machine {
    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }
    fn avail(&self) -> usize {
        self.stack.len() - self.fence()
    }
    fn pop(&mut self) -> io::Result<V> {
        if self.avail() == 0 {
            return err("unpickling stack underflow");
        }
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => err("unpickling stack underflow"),
        }
    }
    fn top(&mut self) -> io::Result<&mut V> {
        if self.avail() == 0 {
            return err("unpickling stack underflow");
        }
        match self.stack.last_mut() {
            Some(v) => Ok(v),
            None => err("unpickling stack underflow"),
        }
    }
    fn pop_mark(&mut self) -> io::Result<Vec<V>> {
        let Some(m) = self.marks.pop() else {
            return err("could not find MARK");
        };
        if m > self.stack.len() {
            return err("MARK beyond the stack");
        }
        Ok(self.stack.split_off(m))
    }
}

/// Whether Python would refuse the value as a dict key or set member (a
/// bounded walk: tuples can share their items many times over).
fn unhashable(v: &V, depth: u32) -> bool {
    fn walk(v: &V, depth: u32, budget: &mut u32) -> bool {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        match v {
            V::List(_) | V::Dict(_) | V::Set(_) | V::ByteArray(_) => true,
            V::Tuple(t) if depth < 64 => t.iter().any(|x| walk(x, depth + 1, budget)),
            _ => false,
        }
    }
    let mut budget = 10_000u32;
    walk(v, depth, &mut budget)
}

/// Values Python cannot call (a TypeError in REDUCE, NEWOBJ, OBJ).
fn not_callable(v: &V) -> bool {
    matches!(
        v,
        V::None
            | V::Bool(_)
            | V::Int(_)
            | V::BigInt
            | V::Float(_)
            | V::Str(_)
            | V::Bytes(_)
            | V::Big(_)
            | V::ByteArray(_)
            | V::Tuple(_)
            | V::FrozenSet(_)
            | V::List(_)
            | V::Dict(_)
            | V::Set(_)
            | V::Buffer
    )
}

/// Values `f(*args)` cannot unpack.
fn not_iterable(v: &V) -> bool {
    matches!(
        v,
        V::None | V::Bool(_) | V::Int(_) | V::BigInt | V::Float(_)
    )
}

/// Python truthiness where it is known.
fn falsy(v: &V) -> bool {
    match v {
        V::None => true,
        V::Bool(b) => !b,
        V::Int(i) => *i == 0,
        V::Float(f) => *f == 0.0,
        V::Str(s) => s.is_empty(),
        V::Bytes(b) => b.is_empty(),
        V::Big(n) | V::ByteArray(n) => *n == 0,
        V::Tuple(t) | V::FrozenSet(t) => t.is_empty(),
        V::List(l) | V::Set(l) => l.try_borrow().is_ok_and(|l| l.is_empty()),
        V::Dict(d) => d.try_borrow().is_ok_and(|d| d.is_empty()),
        _ => false,
    }
}

impl<'a> Vm<'a> {
    pub(crate) fn new(
        profile: Profile,
        member: Option<String>,
        depth: u32,
        findings: &'a mut Vec<Finding>,
    ) -> Self {
        Vm {
            profile,
            member,
            depth,
            findings,
            facts: PickleFacts::default(),
            kept: 0,
            base: 0,
            proto: 0,
            trace: None,
            walk_budget: 1_000_000,
        }
    }

    /// Offsets reported are `base + position in the source`.
    pub(crate) fn with_base(mut self, base: u64) -> Self {
        self.base = base;
        self
    }

    fn finding(&mut self, rule: &str, severity: Severity, message: String, offset: u64) -> usize {
        self.findings.push(Finding {
            rule: rule.to_string(),
            severity,
            message,
            member: self.member.clone(),
            offset: Some(self.base + offset),
            line: None,
            fingerprint: None,
        });
        self.findings.len() - 1
    }

    fn event(&mut self, e: impl FnOnce() -> serde_json::Value) {
        if let Some(t) = &mut self.trace {
            t.events.push(e());
        }
    }

    /// Scans pickles back to back until the input ends or stops looking
    /// like a pickle. `strict_start`: the caller knows this is a pickle, so
    /// a first opcode that is not one is malformed rather than "not a pickle".
    pub(crate) fn run(mut self, src: &mut dyn Src, strict_start: bool) -> io::Result<PickleFacts> {
        self.run_inner(src, strict_start).map(|(f, _)| f)
    }

    /// As `run`, also returning the first pickle's value.
    fn run_inner(
        &mut self,
        src: &mut dyn Src,
        strict_start: bool,
    ) -> io::Result<(PickleFacts, Option<V>)> {
        let mut first_value = None;
        loop {
            let before = self.findings.len();
            let n_globals = self.facts.globals.len();
            let binary_start = looks_binary_pickle(&peek(src, 3)?);
            match self.one(src)? {
                Stop::Done(v) => {
                    self.facts.pickles += 1;
                    if self.facts.pickles == 1 && matches!(v, V::Int(0x1950a86a20f9469cfc6c)) {
                        self.facts.torch_legacy = true;
                    }
                    if self.facts.pickles == 1 && self.trace.is_some() {
                        first_value = Some(v);
                    }
                    // Legacy torch: magic, protocol, sys info, the object,
                    // the storage keys, then raw storage bytes.
                    if self.facts.torch_legacy && self.facts.pickles == 5 {
                        return Ok((std::mem::take(&mut self.facts), first_value));
                    }
                }
                Stop::Empty => {
                    if self.facts.pickles == 0 {
                        self.facts.not_pickle = true;
                    }
                    return Ok((std::mem::take(&mut self.facts), first_value));
                }
                Stop::Bad(m, at, class, ops) => {
                    let produced =
                        self.findings.len() > before || self.facts.globals.len() > n_globals;
                    if self.facts.pickles == 0 {
                        // Bytes that only look like a pickle for an opcode
                        // or two are text; past that, or after a PROTO, an
                        // import, or a parse error of an operand, the
                        // stream is a pickle that fails, and is reported.
                        let text = !(strict_start || binary_start || produced)
                            && class != Fail::Bound
                            && (ops == 0 || ops < 2 || (class != Fail::Operand && ops < 8));
                        if text {
                            self.facts.not_pickle = true;
                        } else {
                            self.facts.malformed = Some((m, at));
                        }
                    } else if produced || class == Fail::Bound {
                        self.facts.malformed = Some((m, at));
                    }
                    // Otherwise: trailing bytes that are not a pickle,
                    // ignored by every loader that reads one pickle.
                    return Ok((std::mem::take(&mut self.facts), first_value));
                }
            }
            // Another pickle follows only if the next byte is an opcode.
            let next = peek(src, 3)?;
            if next.is_empty() || !(looks_binary_pickle(&next) || may_start_pickle(&next)) {
                return Ok((std::mem::take(&mut self.facts), first_value));
            }
        }
    }

    fn note_global(&mut self, module: &str, name: &str, allowed: bool) {
        if self.facts.globals.len() < 256 {
            let full = format!("{module}.{name}");
            if !self.facts.globals.iter().any(|(g, _)| *g == full) {
                self.facts.globals.push((full, allowed));
            }
        }
    }

    /// Resolves an import the way `find_class` would (with protocol 0–2's
    /// Python 2 names mapped), and checks it.
    fn resolve(&mut self, module: &str, name: &str, offset: u64, how: &str) -> V {
        let (module, name) = if self.proto < 3 {
            allow::py3_name(module, name)
        } else {
            (module.to_string(), name.to_string())
        };
        self.event(|| serde_json::json!({"op": "find_class", "module": module, "name": name}));
        let allowed = allow::allowed(self.profile, &module, &name);
        if module == "joblib.numpy_pickle" && name == "NumpyArrayWrapper" {
            self.facts.joblib = true;
        }
        self.note_global(&module, &name, allowed);
        let deferred = allow::is_ufunc_reconstructor(&module, &name)
            || (allow::is_partial(&module, &name) && self.profile_allows_numpy());
        let finding = if allowed || deferred {
            None
        } else {
            let v = allow::verdict(&module, &name);
            Some(self.finding(
                v.rule,
                v.severity,
                format!(
                    "imports {module}.{name} ({how}): {}; not allowed by profile {}",
                    v.why,
                    self.profile.as_str()
                ),
                offset,
            ))
        };
        V::Global(Rc::new(Global {
            module,
            name,
            allowed,
            finding,
        }))
    }

    fn keep(&mut self) -> bool {
        self.kept += 1;
        self.kept <= MAX_KEPT
    }

    /// Calls `callable(args)` symbolically.
    fn call(&mut self, callable: V, args: V, offset: u64, op: &'static str) -> io::Result<V> {
        if not_callable(&callable) {
            return err(format!("{op}: a {} is not callable", kind(&callable)));
        }
        if op != "OBJ" && op != "INST" && not_iterable(&args) {
            return err(format!(
                "{op}: arguments are a {}, not a sequence",
                kind(&args)
            ));
        }
        if self.trace.is_some() {
            let (c, a) = (trace_value(&callable), trace_value(&args));
            self.event(|| serde_json::json!({"op": "call", "kind": op, "callee": c, "args": a}));
        }
        Ok(match &callable {
            V::Global(g) => {
                if allow::is_ufunc_reconstructor(&g.module, &g.name) {
                    // _ufunc_reconstruct(module, name): allowed for numpy's own ufuncs only.
                    let ok = matches!(&args, V::Tuple(t) if t.len() == 2
                        && matches!(&t[0], V::Str(m) if &**m == "numpy")
                        && matches!(&t[1], V::Str(n) if n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
                    if !ok || !self.profile_allows_numpy() {
                        self.finding(
                            "pickle.importer",
                            Severity::Critical,
                            format!(
                                "{}.{}{} imports a module and reads an attribute by name",
                                g.module,
                                g.name,
                                render(&args)
                            ),
                            offset,
                        );
                    }
                } else if allow::is_partial(&g.module, &g.name) && g.finding.is_none() {
                    let first = match &args {
                        V::Tuple(t) => t.first(),
                        _ => None,
                    };
                    self.check_partial_target(first, &args, offset);
                } else if let Some(i) = g.finding {
                    if let Some(f) = self.findings.get_mut(i)
                        && !f.message.contains(" — called as ")
                    {
                        let text = format!(" — called as {}.{}{}", g.module, g.name, render(&args));
                        f.message.push_str(&text);
                    }
                    if g.module == "logging.config" {
                        let mut names = Vec::new();
                        factories_in(&args, &mut names, 0, &mut self.walk_budget);
                        for n in names {
                            self.finding(
                                "pickle.factory",
                                Severity::Critical,
                                format!("logging configuration calls the factory '{n}' by name"),
                                offset,
                            );
                        }
                    }
                }
                V::Obj(Rc::new(RefCell::new(Obj {
                    class: g.clone(),
                    callee: None,
                    args,
                    state: None,
                    op,
                })))
            }
            other => {
                let what = match &other {
                    V::Obj(o) => match o.try_borrow() {
                        Ok(o) => format!("the result of {}.{}", o.class.module, o.class.name),
                        Err(_) => "an object built while loading".to_string(),
                    },
                    V::Dyn => "a value computed while loading".to_string(),
                    V::PersId(_) => "a persistent object".to_string(),
                    v => format!("a {}", kind(v)),
                };
                self.finding(
                    "pickle.dynamic-call",
                    Severity::High,
                    format!("{op} calls {what}, not a named import"),
                    offset,
                );
                V::Obj(Rc::new(RefCell::new(Obj {
                    class: Rc::new(Global {
                        module: String::new(),
                        name: String::new(),
                        allowed: false,
                        finding: None,
                    }),
                    callee: Some(callable.clone()),
                    args,
                    state: None,
                    op,
                })))
            }
        })
    }

    /// A `functools.partial` may wrap only a callable that is allowed.
    fn check_partial_target(&mut self, first: Option<&V>, whole: &V, offset: u64) {
        if let Some(V::Global(f)) = first
            && f.allowed
        {
            return;
        }
        self.finding(
            "pickle.indirect-call",
            Severity::Critical,
            format!(
                "functools.partial{} wraps a callable that is not on the allow list",
                render(whole)
            ),
            offset,
        );
    }

    fn profile_allows_numpy(&self) -> bool {
        !matches!(self.profile, Profile::Strict)
    }

    /// Reads a payload of `len` bytes: kept if short, scanned if it looks
    /// nested, skipped otherwise.
    fn payload(
        &mut self,
        src: &mut dyn Src,
        len: u64,
        offset: u64,
    ) -> io::Result<Option<Rc<[u8]>>> {
        if len <= INLINE_MAX {
            let v = read_vec(src, len as usize)?;
            self.nested(&v, offset);
            return Ok(Some(v.into()));
        }
        let head = peek(src, 8)?;
        if len <= NESTED_MAX && nested_candidate(&head) {
            let v = read_vec(src, len as usize)?;
            self.nested(&v, offset);
            return Ok(None);
        }
        if src.skip(len)? < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "payload runs past the end of the data",
            ));
        }
        Ok(None)
    }

    /// Scans bytes that are themselves a pickle, a NumPy file or a zip.
    fn nested(&mut self, bytes: &[u8], offset: u64) {
        if !nested_candidate(bytes) {
            return;
        }
        let member = Some(format!(
            "{}nested data at offset {}",
            self.member
                .as_ref()
                .map(|m| format!("{m} → "))
                .unwrap_or_default(),
            self.base + offset
        ));
        crate::formats::scan_nested(bytes, self.profile, member, self.depth + 1, self.findings);
    }

    /// Runs one pickle to its STOP.
    fn one(&mut self, src: &mut dyn Src) -> io::Result<Stop> {
        let mut m = Machine {
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        };
        self.proto = 0;
        let mut ops: u64 = 0;
        loop {
            let at = src.pos();
            let op = {
                let b = src.fill_buf()?;
                if b.is_empty() {
                    if ops == 0 {
                        return Ok(Stop::Empty);
                    }
                    return Ok(Stop::Bad(
                        "the pickle ends without STOP (truncated)".into(),
                        at,
                        Fail::Truncated,
                        ops,
                    ));
                }
                b[0]
            };
            if !is_opcode(op) {
                return Ok(Stop::Bad(
                    format!("byte 0x{op:02x} is not a pickle opcode"),
                    at,
                    Fail::Opcode,
                    ops,
                ));
            }
            src.consume(1);
            if m.stack.len() > MAX_STACK || m.memo.len() > MAX_MEMO || m.marks.len() > MAX_STACK {
                return Ok(Stop::Bad(
                    "stack or memo larger than the scanner's bound".into(),
                    at,
                    Fail::Bound,
                    ops,
                ));
            }
            match self.step(op, src, &mut m, at, ops == 0) {
                Ok(Some(v)) => return Ok(Stop::Done(v)),
                Ok(None) => ops += 1,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(Stop::Bad(
                        "the pickle is truncated".into(),
                        at,
                        Fail::Truncated,
                        ops,
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Ok(Stop::Bad(
                        format!("{} (opcode 0x{op:02x})", message_of(&e)),
                        at,
                        class_of(&e),
                        ops,
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn step(
        &mut self,
        op: u8,
        src: &mut dyn Src,
        m: &mut Machine,
        at: u64,
        first: bool,
    ) -> io::Result<Option<V>> {
        match op {
            0x80 => {
                let v = read_u8(src)?;
                if v > 5 {
                    return bad_operand(format!("unsupported pickle protocol {v}"));
                }
                self.proto = v;
                self.facts.protocol.get_or_insert(v);
            }
            0x95 => {
                let n = u64::from_le_bytes(read_n::<8>(src)?);
                if n > i64::MAX as u64 {
                    return bad_operand("FRAME length exceeds the maximum size");
                }
            }
            b'.' => return m.pop().map(Some),
            b'(' => m.marks.push(m.stack.len()),
            b'0' => {
                // POP: the MARK itself when it is on top (as CPython does).
                if m.marks.last() == Some(&m.stack.len()) {
                    m.marks.pop();
                } else {
                    m.pop()?;
                }
            }
            b'1' => {
                m.pop_mark()?;
            }
            b'2' => {
                let v = m.top()?.clone();
                m.stack.push(v);
            }
            b'N' => m.stack.push(V::None),
            0x88 => m.stack.push(V::Bool(true)),
            0x89 => m.stack.push(V::Bool(false)),
            b'I' => {
                let l = read_line(src)?;
                let v = match pyops::int_operand(&l.kept) {
                    Some(Err(b)) => V::Bool(b),
                    Some(Ok(PyInt::Small(_))) if l.long => V::BigInt,
                    Some(Ok(PyInt::Small(i))) => V::Int(i),
                    Some(Ok(PyInt::Big)) => V::BigInt,
                    None => {
                        return bad_operand(format!("INT operand {} is not an integer", l.show()));
                    }
                };
                m.stack.push(v);
            }
            b'L' => {
                let l = read_line(src)?;
                let v = match pyops::long_operand(&l.kept) {
                    Some(PyInt::Small(_)) if l.long => V::BigInt,
                    Some(PyInt::Small(i)) => V::Int(i),
                    Some(PyInt::Big) => V::BigInt,
                    None if l.long
                        && l.kept
                            .iter()
                            .all(|c| c.is_ascii_hexdigit() || b"xX_".contains(c)) =>
                    {
                        V::BigInt
                    }
                    None => {
                        return bad_operand(format!("LONG operand {} is not an integer", l.show()));
                    }
                };
                m.stack.push(v);
            }
            b'J' => m
                .stack
                .push(V::Int(i32::from_le_bytes(read_n::<4>(src)?) as i128)),
            b'K' => m.stack.push(V::Int(read_u8(src)? as i128)),
            b'M' => m
                .stack
                .push(V::Int(u16::from_le_bytes(read_n::<2>(src)?) as i128)),
            0x8a => {
                let n = read_u8(src)? as u64;
                m.stack.push(long_bytes(&read_vec(src, n as usize)?));
            }
            0x8b => {
                let n = i32::from_le_bytes(read_n::<4>(src)?);
                if n < 0 {
                    return bad_operand("LONG pickle has negative byte count");
                }
                if n as u64 > INLINE_MAX {
                    if src.skip(n as u64)? < n as u64 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "LONG4"));
                    }
                    m.stack.push(V::BigInt);
                } else {
                    m.stack.push(long_bytes(&read_vec(src, n as usize)?));
                }
            }
            b'F' => {
                let l = read_line(src)?;
                match pyops::float_operand(&l.kept) {
                    Some(f) => m.stack.push(V::Float(f)),
                    None if l.long => m.stack.push(V::Float(f64::NAN)),
                    None => {
                        return bad_operand(format!("FLOAT operand {} is not a number", l.show()));
                    }
                }
            }
            b'G' => m
                .stack
                .push(V::Float(f64::from_be_bytes(read_n::<8>(src)?))),
            b'S' => {
                let l = read_line(src)?;
                if l.long {
                    m.stack.push(V::Big(l.len));
                } else {
                    match pyops::string_operand(&l.kept) {
                        Some(s) => m.stack.push(V::Str(s.into())),
                        None => {
                            return bad_operand(format!(
                                "STRING operand {} is not a quoted string literal",
                                l.show()
                            ));
                        }
                    }
                }
            }
            b'V' => {
                let l = read_line(src)?;
                if l.long {
                    m.stack.push(V::Big(l.len));
                } else {
                    match pyops::raw_unicode_escape(&l.kept) {
                        Some(s) => m.stack.push(V::Str(s.into())),
                        None => {
                            return bad_operand(format!(
                                "UNICODE operand {} has a bad escape",
                                l.show()
                            ));
                        }
                    }
                }
            }
            b'T' => {
                let n = i32::from_le_bytes(read_n::<4>(src)?);
                if n < 0 {
                    return bad_operand("BINSTRING pickle has negative byte count");
                }
                self.push_payload(op, src, &mut m.stack, n as u64, at)?;
            }
            b'X' | b'B' => {
                let n = u32::from_le_bytes(read_n::<4>(src)?);
                self.push_payload(op, src, &mut m.stack, u64::from(n), at)?;
            }
            b'U' | b'C' | 0x8c => {
                let n = read_u8(src)? as u64;
                self.push_payload(op, src, &mut m.stack, n, at)?;
            }
            0x8d | 0x8e | 0x96 => {
                let n = u64::from_le_bytes(read_n::<8>(src)?);
                if n > i64::MAX as u64 {
                    return bad_operand("length exceeds the maximum size");
                }
                self.push_payload(op, src, &mut m.stack, n, at)?;
            }
            0x97 => m.stack.push(V::Buffer),
            0x98 => {
                // READONLY_BUFFER: memoryview(top), read-only.
                let t = m.top()?;
                match t {
                    V::ByteArray(_) => *t = V::Buffer,
                    V::Bytes(_)
                    | V::Big(_)
                    | V::Buffer
                    | V::Obj(_)
                    | V::Dyn
                    | V::PersId(_)
                    | V::Global(_) => {}
                    other => return err(format!("memoryview: a {} is not a buffer", kind(other))),
                }
            }
            b')' => m.stack.push(V::Tuple(Rc::new(Vec::new()))),
            b't' => {
                let items = m.pop_mark()?;
                m.stack.push(V::Tuple(Rc::new(items)));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if m.avail() < n {
                    return err("unpickling stack underflow");
                }
                let items = m.stack.split_off(m.stack.len() - n);
                m.stack.push(V::Tuple(Rc::new(items)));
            }
            b']' => m.stack.push(list(Vec::new())),
            b'l' => {
                let items = m.pop_mark()?;
                m.stack.push(list(items));
            }
            b'}' => m.stack.push(V::Dict(Rc::new(RefCell::new(Vec::new())))),
            b'd' => {
                let items = m.pop_mark()?;
                if items.len() % 2 != 0 {
                    return err("odd number of items for DICT");
                }
                let pairs = pairs_of(items)?;
                m.stack.push(V::Dict(Rc::new(RefCell::new(pairs))));
            }
            0x8f => m.stack.push(V::Set(Rc::new(RefCell::new(Vec::new())))),
            0x91 => {
                let items = m.pop_mark()?;
                if items.iter().any(|x| unhashable(x, 0)) {
                    return err("unhashable type in FROZENSET");
                }
                m.stack.push(V::FrozenSet(Rc::new(items)));
            }
            b'a' => {
                let v = m.pop()?;
                let keep = self.keep();
                self.container_add(m.top()?, vec![v], keep, at, "append")?;
            }
            b'e' => {
                let items = m.pop_mark()?;
                let keep = self.keep();
                self.container_add(m.top()?, items, keep, at, "extend")?;
            }
            0x90 => {
                let items = m.pop_mark()?;
                let keep = self.keep();
                self.container_add(m.top()?, items, keep, at, "add")?;
            }
            b's' => {
                let v = m.pop()?;
                let k = m.pop()?;
                let keep = self.keep();
                self.container_set(m.top()?, vec![(k, v)], keep, at)?;
            }
            b'u' => {
                let items = m.pop_mark()?;
                if items.len() % 2 != 0 {
                    return err("odd number of items for SETITEMS");
                }
                let pairs: Vec<(V, V)> = {
                    let mut out = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        out.push((k, v));
                    }
                    out
                };
                let keep = self.keep();
                self.container_set(m.top()?, pairs, keep, at)?;
            }
            b'p' => {
                let l = read_line(src)?;
                let k = match pyops::index_operand(&l.kept) {
                    Some(PyInt::Small(k)) if !l.long => k,
                    _ => return bad_operand(format!("PUT operand {} is not an index", l.show())),
                };
                if k < 0 {
                    return bad_operand("negative PUT argument");
                }
                let k = u64::try_from(k).map_err(|_| io::Error::other("memo index"))?;
                let v = m.top()?.clone();
                m.memo.insert(k, v);
            }
            b'q' => {
                let k = read_u8(src)? as u64;
                let v = m.top()?.clone();
                m.memo.insert(k, v);
            }
            b'r' => {
                let k = u32::from_le_bytes(read_n::<4>(src)?) as u64;
                let v = m.top()?.clone();
                m.memo.insert(k, v);
            }
            0x94 => {
                let k = m.memo.len() as u64;
                let v = m.top()?.clone();
                m.memo.insert(k, v);
            }
            b'g' | b'h' | b'j' => {
                let k = match op {
                    b'g' => {
                        let l = read_line(src)?;
                        match pyops::index_operand(&l.kept) {
                            Some(PyInt::Small(k)) if !l.long => u64::try_from(k).ok(),
                            Some(_) => None,
                            None => {
                                return bad_operand(format!(
                                    "GET operand {} is not an index",
                                    l.show()
                                ));
                            }
                        }
                    }
                    b'h' => Some(read_u8(src)? as u64),
                    _ => Some(u32::from_le_bytes(read_n::<4>(src)?) as u64),
                };
                match k.and_then(|k| m.memo.get(&k)) {
                    Some(v) => m.stack.push(v.clone()),
                    None => return err("memo value not found"),
                }
            }
            b'c' => {
                let module = read_line(src)?;
                let name = read_line(src)?;
                let (mo, na) = (utf8_operand(&module)?, utf8_operand(&name)?);
                if first && !(pyops::dotted_identifier(&mo) && pyops::dotted_identifier(&na)) {
                    return bad_operand(format!(
                        "import operands {mo:?} {na:?} are not identifiers"
                    ));
                }
                let g = self.resolve(&mo, &na, at, "GLOBAL");
                m.stack.push(g);
            }
            0x93 => {
                let name = m.pop()?;
                let module = m.pop()?;
                match (&module, &name) {
                    (V::Str(mo), V::Str(na)) => {
                        let g = self.resolve(mo, na, at, "STACK_GLOBAL");
                        m.stack.push(g);
                    }
                    (a, b)
                        if (is_constant(a) && !matches!(a, V::Str(_)))
                            || (is_constant(b) && !matches!(b, V::Str(_))) =>
                    {
                        return err("STACK_GLOBAL requires str");
                    }
                    _ => {
                        self.finding(
                            "pickle.dynamic-import",
                            Severity::Critical,
                            format!(
                                "STACK_GLOBAL imports a name computed at load time (module: {}, name: {})",
                                kind(&module),
                                kind(&name)
                            ),
                            at,
                        );
                        self.event(|| serde_json::json!({"op": "find_class", "module": null, "name": null}));
                        m.stack.push(V::Dyn);
                    }
                }
            }
            b'i' => {
                let module = read_line(src)?;
                let name = read_line(src)?;
                let (mo, na) = (ascii_operand(&module)?, ascii_operand(&name)?);
                if first && !(pyops::dotted_identifier(&mo) && pyops::dotted_identifier(&na)) {
                    return bad_operand(format!(
                        "import operands {mo:?} {na:?} are not identifiers"
                    ));
                }
                // pickle.py imports before it looks for the MARK.
                let g = self.resolve(&mo, &na, at, "INST");
                let args = m.pop_mark()?;
                let v = self.call(g, V::Tuple(Rc::new(args)), at, "INST")?;
                m.stack.push(v);
            }
            b'o' => {
                let mut items = m.pop_mark()?;
                if items.is_empty() {
                    return err("OBJ without a class");
                }
                let class = items.remove(0);
                let v = self.call(class, V::Tuple(Rc::new(items)), at, "OBJ")?;
                m.stack.push(v);
            }
            0x82..=0x84 => {
                let code: i64 = match op {
                    0x82 => read_u8(src)? as i64,
                    0x83 => u16::from_le_bytes(read_n::<2>(src)?) as i64,
                    _ => i32::from_le_bytes(read_n::<4>(src)?) as i64,
                };
                if code <= 0 {
                    return err("EXT specifies code <= 0");
                }
                self.finding(
                    "pickle.extension-registry",
                    Severity::High,
                    format!("imports through the copyreg extension registry (code {code}): the name is only known at load time"),
                    at,
                );
                self.event(|| serde_json::json!({"op": "ext", "code": code}));
                m.stack.push(V::Dyn);
            }
            b'R' => {
                let args = m.pop()?;
                let f = m.pop()?;
                let v = self.call(f, args, at, "REDUCE")?;
                m.stack.push(v);
            }
            0x81 => {
                let args = m.pop()?;
                let cls = m.pop()?;
                let v = self.call(cls, args, at, "NEWOBJ")?;
                m.stack.push(v);
            }
            0x92 => {
                let kwargs = m.pop()?;
                let args = m.pop()?;
                let cls = m.pop()?;
                if is_constant(&kwargs) && !matches!(kwargs, V::Dict(_)) {
                    return err("NEWOBJ_EX expected a dict of keyword arguments");
                }
                if not_iterable(&args) {
                    return err("NEWOBJ_EX: arguments are not a sequence");
                }
                let args = V::Tuple(Rc::new(vec![args, kwargs]));
                let v = self.call(cls, args, at, "NEWOBJ_EX")?;
                m.stack.push(v);
            }
            b'b' => {
                let state = m.pop()?;
                if self.trace.is_some() {
                    let (t, s) = (trace_value(m.top()?), trace_value(&state));
                    self.event(|| serde_json::json!({"op": "build", "target": t, "state": s}));
                }
                let partial_state = match m.top()? {
                    V::Obj(o) => o.try_borrow().is_ok_and(|o| {
                        o.callee.is_none()
                            && o.class.finding.is_none()
                            && allow::is_partial(&o.class.module, &o.class.name)
                    }),
                    _ => false,
                };
                if partial_state {
                    // partial.__setstate__((func, args, kwds, dict)) sets the callable.
                    let first = match &state {
                        V::Tuple(t) => t.first(),
                        _ => None,
                    };
                    if !matches!(state, V::None) {
                        self.check_partial_target(first, &state, at);
                    }
                }
                let target = m.top()?;
                match target {
                    V::Obj(o) => {
                        if let Ok(mut o) = o.try_borrow_mut() {
                            o.state = Some(state);
                        }
                    }
                    V::Global(g) => {
                        let text = format!(
                            "BUILD sets attributes of {}.{} itself (not of an instance) at load time",
                            g.module, g.name
                        );
                        self.finding("pickle.global-mutation", Severity::High, text, at);
                    }
                    V::Dyn | V::PersId(_) => {}
                    _ => {
                        let empty = falsy(&state)
                            || matches!(&state, V::Tuple(t) if t.len() == 2 && falsy(&t[0]) && falsy(&t[1]));
                        if !empty {
                            return err(format!(
                                "BUILD on a {}, which has no attributes",
                                kind(target)
                            ));
                        }
                    }
                }
                let wrapper = match m.stack.last() {
                    Some(V::Obj(o)) => match o.try_borrow() {
                        Ok(ob)
                            if ob.class.module == "joblib.numpy_pickle"
                                && ob.class.name == "NumpyArrayWrapper" =>
                        {
                            Some(ob.clone())
                        }
                        _ => None,
                    },
                    _ => None,
                };
                if let Some(w) = wrapper {
                    self.joblib_array(src, &w, at)?;
                }
            }
            b'P' => {
                let l = read_line(src)?;
                if !l.kept.is_ascii() {
                    return bad_operand("persistent IDs in protocol 0 must be ASCII strings");
                }
                let pid = V::Str(String::from_utf8_lossy(&l.kept).into());
                let t = self.trace.as_ref().map(|_| trace_value(&pid));
                self.event(|| serde_json::json!({"op": "persistent_load", "pid": t}));
                m.stack.push(V::PersId(Rc::new(pid)));
            }
            b'Q' => {
                let pid = m.pop()?;
                let t = self.trace.as_ref().map(|_| trace_value(&pid));
                self.event(|| serde_json::json!({"op": "persistent_load", "pid": t}));
                m.stack.push(V::PersId(Rc::new(pid)));
            }
            _ => return fail(Fail::Opcode, format!("unknown opcode 0x{op:02x}")),
        }
        Ok(None)
    }

    fn push_payload(
        &mut self,
        op: u8,
        src: &mut dyn Src,
        stack: &mut Vec<V>,
        n: u64,
        at: u64,
    ) -> io::Result<()> {
        let text = matches!(op, b'X' | 0x8c | 0x8d | b'T' | b'U');
        match self.payload(src, n, at)? {
            Some(b) if text => {
                let s = if matches!(op, b'T' | b'U') {
                    b.iter().map(|&c| c as char).collect::<String>()
                } else {
                    match pyops::utf8_surrogatepass(&b) {
                        Some(s) => s,
                        None => return bad_operand("string operand is not UTF-8"),
                    }
                };
                stack.push(V::Str(s.into()));
            }
            Some(b) if op == 0x96 => stack.push(V::ByteArray(b.len() as u64)),
            Some(b) => stack.push(V::Bytes(b)),
            None if op == 0x96 => stack.push(V::ByteArray(n)),
            None => stack.push(V::Big(n)),
        }
        Ok(())
    }

    fn container_add(
        &mut self,
        target: &mut V,
        items: Vec<V>,
        keep: bool,
        at: u64,
        how: &str,
    ) -> io::Result<()> {
        match target {
            V::List(l) if how != "add" => {
                if keep && let Ok(mut l) = l.try_borrow_mut() {
                    l.extend(items);
                }
            }
            V::Set(l) if how == "add" => {
                if items.iter().any(|x| unhashable(x, 0)) {
                    return err("unhashable type in ADDITEMS");
                }
                if keep && let Ok(mut l) = l.try_borrow_mut() {
                    l.extend(items);
                }
            }
            V::ByteArray(n) if how != "add" => *n += items.len() as u64,
            V::Global(g) => {
                let text = format!("appends to {}.{} itself at load time", g.module, g.name);
                self.finding("pickle.global-mutation", Severity::High, text, at);
            }
            V::Obj(_) | V::Dyn | V::PersId(_) => {}
            other => {
                return err(format!("'{}' object has no attribute '{how}'", kind(other)));
            }
        }
        Ok(())
    }

    fn container_set(
        &mut self,
        target: &mut V,
        pairs: Vec<(V, V)>,
        keep: bool,
        at: u64,
    ) -> io::Result<()> {
        match target {
            V::Dict(d) => {
                if pairs.iter().any(|(k, _)| unhashable(k, 0)) {
                    return err("unhashable type as a dict key");
                }
                if keep && let Ok(mut d) = d.try_borrow_mut() {
                    d.extend(pairs);
                }
            }
            V::List(_) | V::ByteArray(_) => {
                if pairs
                    .iter()
                    .any(|(k, _)| !matches!(k, V::Int(_) | V::Bool(_) | V::Obj(_) | V::Dyn))
                {
                    return err("list indices must be integers");
                }
            }
            V::Global(g) => {
                let text = format!("sets items of {}.{} itself at load time", g.module, g.name);
                self.finding("pickle.global-mutation", Severity::High, text, at);
            }
            V::Obj(_) | V::Dyn | V::PersId(_) => {}
            other => {
                return err(format!(
                    "'{}' object does not support item assignment",
                    kind(other)
                ));
            }
        }
        Ok(())
    }

    /// joblib writes each array's bytes right after the BUILD of its
    /// NumpyArrayWrapper, outside the pickle opcodes: skip them (or, for
    /// object arrays, scan the nested pickle joblib writes there).
    fn joblib_array(&mut self, src: &mut dyn Src, w: &Obj, at: u64) -> io::Result<()> {
        let Some(V::Dict(state)) = &w.state else {
            return err("joblib array wrapper without a state");
        };
        let state = match state.try_borrow() {
            Ok(s) => s.clone(),
            Err(_) => return err("joblib array wrapper state"),
        };
        let get = |k: &str| {
            state
                .iter()
                .find(|(key, _)| matches!(key, V::Str(s) if &**s == k))
                .map(|(_, v)| v)
        };
        let Some(dtype) = get("dtype") else {
            return err("joblib array wrapper without a dtype");
        };
        let count: u128 = match get("shape") {
            Some(V::Tuple(t)) => {
                let mut c: u128 = 1;
                for d in t.iter() {
                    match d {
                        V::Int(i) if *i >= 0 => c = c.saturating_mul(*i as u128),
                        _ => return err("joblib array shape is not a tuple of sizes"),
                    }
                }
                c
            }
            _ => return err("joblib array wrapper without a shape"),
        };
        match dtype_itemsize(dtype, 0) {
            Some(DtypeSize::Object) => {
                // An object array: joblib calls pickle.load on the stream.
                if self.depth >= MAX_DEPTH {
                    self.finding(
                        "file.too-deep",
                        Severity::High,
                        "joblib object arrays nested deeper than the scanner follows: the rest was not scanned".into(),
                        at,
                    );
                    return fail(Fail::Bound, "joblib object arrays nested too deep");
                }
                let mut vm = Vm::new(
                    self.profile,
                    self.member.clone(),
                    self.depth + 1,
                    self.findings,
                )
                .with_base(self.base);
                let facts = vm.one(src)?;
                if let Stop::Bad(msg, o, _, _) = facts {
                    self.finding(
                        "pickle.malformed",
                        Severity::High,
                        format!("joblib object array: {msg}"),
                        o,
                    );
                }
                Ok(())
            }
            Some(DtypeSize::Bytes(size)) => {
                if get("numpy_array_alignment_bytes").is_some() {
                    let pad = read_u8(src)? as u64;
                    if src.skip(pad)? < pad {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "padding"));
                    }
                }
                let total = count.saturating_mul(size as u128);
                let total = u64::try_from(total).unwrap_or(u64::MAX);
                if src.skip(total)? < total {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "joblib array data runs past the end of the file",
                    ));
                }
                Ok(())
            }
            None => {
                self.finding(
                    "pickle.malformed",
                    Severity::High,
                    "joblib array with a dtype the scanner cannot size: the data after it was not scanned".into(),
                    at,
                );
                fail(Fail::Bound, "joblib array dtype not understood")
            }
        }
    }
}

/// Values whose type is known (not the result of a call).
fn is_constant(v: &V) -> bool {
    !matches!(
        v,
        V::Obj(_) | V::Dyn | V::PersId(_) | V::Global(_) | V::Buffer
    )
}

fn pairs_of(items: Vec<V>) -> io::Result<Vec<(V, V)>> {
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if unhashable(&k, 0) {
            return err("unhashable type as a dict key");
        }
        pairs.push((k, v));
    }
    Ok(pairs)
}

fn utf8_operand(l: &Line) -> io::Result<String> {
    match std::str::from_utf8(&l.kept) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => bad_operand("import operand is not UTF-8"),
    }
}

fn ascii_operand(l: &Line) -> io::Result<String> {
    if !l.kept.is_ascii() {
        return bad_operand("INST operand is not ASCII");
    }
    Ok(String::from_utf8_lossy(&l.kept).into_owned())
}

impl Clone for Global {
    fn clone(&self) -> Self {
        Global {
            module: self.module.clone(),
            name: self.name.clone(),
            allowed: self.allowed,
            finding: self.finding,
        }
    }
}

enum DtypeSize {
    Object,
    Bytes(u64),
}

/// Item size of a pickled `numpy.dtype(...)` value (a bounded walk: the
/// fields of a structured dtype can share values).
fn dtype_itemsize(v: &V, depth: u32) -> Option<DtypeSize> {
    let mut budget = 10_000u32;
    dtype_itemsize_in(v, depth, &mut budget)
}

fn dtype_itemsize_in(v: &V, depth: u32, budget: &mut u32) -> Option<DtypeSize> {
    if depth > 16 || *budget == 0 {
        return None;
    }
    *budget -= 1;
    let V::Obj(o) = v else { return None };
    let o = o.try_borrow().ok()?;
    if o.class.name != "dtype" {
        return None;
    }
    let V::Tuple(args) = &o.args else { return None };
    let V::Str(code) = args.first()? else {
        return None;
    };
    let kind = code.trim_start_matches(['<', '>', '=', '|']);
    if kind.starts_with('O') {
        return Some(DtypeSize::Object);
    }
    // Structured or sized dtypes carry the item size in the state tuple
    // (version, byte order, subarray, names, fields, elsize, alignment, flags).
    if let Some(V::Tuple(st)) = &o.state
        && st.len() >= 8
        && let V::Int(elsize) = st[5]
        && elsize > 0
    {
        match &st[4] {
            V::None => return Some(DtypeSize::Bytes(elsize as u64)),
            V::Dict(fields) => {
                // Each field is (dtype, offset[, title]); any object field
                // makes the whole array an object array for joblib.
                let fields = fields.try_borrow().ok()?;
                for (_, f) in fields.iter() {
                    let V::Tuple(t) = f else { return None };
                    match t
                        .first()
                        .and_then(|d| dtype_itemsize_in(d, depth + 1, budget))
                    {
                        Some(DtypeSize::Object) => return Some(DtypeSize::Object),
                        Some(DtypeSize::Bytes(_)) => {}
                        None => return None,
                    }
                }
                return Some(DtypeSize::Bytes(elsize as u64));
            }
            _ => return None,
        }
    }
    let digits: String = kind
        .chars()
        .skip_while(|c| c.is_ascii_alphabetic())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    match kind.chars().next()? {
        'b' | 'i' | 'u' | 'f' | 'c' | 'M' | 'm' | 'V' | 'S' => {
            digits.parse().ok().map(DtypeSize::Bytes)
        }
        'U' => digits.parse::<u64>().ok().map(|n| DtypeSize::Bytes(n * 4)),
        '?' => Some(DtypeSize::Bytes(1)),
        _ => None,
    }
}

/// Whether bytes should be scanned as nested content.
pub(crate) fn nested_candidate(b: &[u8]) -> bool {
    looks_binary_pickle(b) || b.starts_with(b"\x93NUMPY") || b.starts_with(b"PK\x03\x04")
}

/// Names of factories in a logging configuration: the values of '()' keys.
/// Values can share and even contain themselves (the memo), so the walks
/// of one scan visit a bounded number of values in all.
fn factories_in(v: &V, out: &mut Vec<String>, depth: u32, budget: &mut u32) {
    if depth > 32 || *budget == 0 {
        return;
    }
    *budget -= 1;
    match v {
        V::Dict(d) => {
            let Ok(d) = d.try_borrow() else { return };
            for (k, val) in d.iter() {
                if matches!(k, V::Str(s) if &**s == "()") {
                    out.push(match val {
                        V::Str(s) => s.to_string(),
                        V::Global(g) => format!("{}.{}", g.module, g.name),
                        other => kind(other).to_string(),
                    });
                }
                factories_in(val, out, depth + 1, budget);
            }
        }
        V::Tuple(t) | V::FrozenSet(t) => t
            .iter()
            .for_each(|x| factories_in(x, out, depth + 1, budget)),
        V::List(t) | V::Set(t) => {
            if let Ok(t) = t.try_borrow() {
                t.iter()
                    .for_each(|x| factories_in(x, out, depth + 1, budget));
            }
        }
        V::Obj(o) => {
            if let Ok(o) = o.try_borrow() {
                factories_in(&o.args, out, depth + 1, budget);
            }
        }
        _ => {}
    }
}

fn kind(v: &V) -> &'static str {
    match v {
        V::None => "None",
        V::Bool(_) => "bool",
        V::Int(_) | V::BigInt => "int",
        V::Float(_) => "float",
        V::Str(_) => "str",
        V::Bytes(_) | V::Big(_) => "bytes",
        V::ByteArray(_) => "bytearray",
        V::Tuple(_) => "tuple",
        V::FrozenSet(_) => "frozenset",
        V::List(_) => "list",
        V::Dict(_) => "dict",
        V::Set(_) => "set",
        V::Global(_) => "import",
        V::Obj(_) => "object built while loading",
        V::Dyn => "value computed while loading",
        V::PersId(_) => "persistent id",
        V::Buffer => "buffer",
    }
}

/// A short rendering of call arguments for messages.
fn render(v: &V) -> String {
    let mut s = String::new();
    render_into(v, &mut s, 0);
    if !matches!(v, V::Tuple(_)) {
        s = format!("({s})");
    }
    if s.chars().count() > 160 {
        s = s.chars().take(157).collect::<String>() + "…";
    }
    s
}

fn render_seq(items: &[V], open: char, close: char, s: &mut String, depth: u32) {
    s.push(open);
    for (i, x) in items.iter().enumerate() {
        if s.len() > 200 {
            s.push('…');
            break;
        }
        if i > 0 {
            s.push_str(", ");
        }
        render_into(x, s, depth + 1);
    }
    s.push(close);
}

fn render_into(v: &V, s: &mut String, depth: u32) {
    if depth > 4 || s.len() > 200 {
        s.push('…');
        return;
    }
    match v {
        V::Str(t) => s.push_str(&format!("{:?}", truncate(t, 60))),
        V::Bytes(b) => s.push_str(&format!("<{} bytes>", b.len())),
        V::Big(n) => s.push_str(&format!("<{n} bytes>")),
        V::Int(i) => s.push_str(&i.to_string()),
        V::Float(f) => s.push_str(&f.to_string()),
        V::Bool(b) => s.push_str(if *b { "True" } else { "False" }),
        V::None => s.push_str("None"),
        V::Global(g) => s.push_str(&format!("{}.{}", g.module, g.name)),
        V::Obj(o) => {
            let Ok(o) = o.try_borrow() else {
                s.push('…');
                return;
            };
            match &o.callee {
                Some(c) => render_into(c, s, depth + 1),
                None => s.push_str(&format!("{}.{}", o.class.module, o.class.name)),
            }
            if !matches!(o.args, V::Tuple(_)) {
                s.push('(');
            }
            render_into(&o.args, s, depth + 1);
            if !matches!(o.args, V::Tuple(_)) {
                s.push(')');
            }
        }
        V::Tuple(t) => render_seq(t, '(', ')', s, depth),
        V::FrozenSet(t) => render_seq(t, '{', '}', s, depth),
        V::List(t) | V::Set(t) => {
            let Ok(t) = t.try_borrow() else {
                s.push('…');
                return;
            };
            let (open, close) = if matches!(v, V::List(_)) {
                ('[', ']')
            } else {
                ('{', '}')
            };
            render_seq(&t, open, close, s, depth);
        }
        V::Dict(d) => {
            let Ok(d) = d.try_borrow() else {
                s.push('…');
                return;
            };
            s.push('{');
            for (i, (k, x)) in d.iter().enumerate() {
                if s.len() > 200 {
                    s.push('…');
                    break;
                }
                if i > 0 {
                    s.push_str(", ");
                }
                render_into(k, s, depth + 1);
                s.push_str(": ");
                render_into(x, s, depth + 1);
            }
            s.push('}');
        }
        V::PersId(p) => {
            s.push_str("persistent_load(");
            render_into(p, s, depth + 1);
            s.push(')');
        }
        other => s.push_str(kind(other)),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

// ---------------------------------------------------------------------------
// The trace: values as the differential test compares them.

/// Python's `==` between dict keys or set members, where the VM can tell.
fn py_eq(a: &V, b: &V, depth: u32) -> bool {
    if depth > 32 {
        return false;
    }
    let num = |v: &V| match v {
        V::Bool(x) => Some(f64::from(u8::from(*x))),
        V::Int(i) => Some(*i as f64),
        V::Float(f) => Some(*f),
        _ => None,
    };
    match (a, b) {
        (V::Int(x), V::Int(y)) => x == y,
        (V::Int(_) | V::Bool(_) | V::Float(_), V::Int(_) | V::Bool(_) | V::Float(_)) => {
            num(a) == num(b)
        }
        (V::None, V::None) => true,
        (V::Str(x), V::Str(y)) => x == y,
        (V::Bytes(x), V::Bytes(y)) => x == y,
        (V::Tuple(x), V::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| py_eq(p, q, depth + 1))
        }
        (V::Global(x), V::Global(y)) => x.module == y.module && x.name == y.name,
        (V::Obj(x), V::Obj(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}

fn dedup(items: &[V]) -> Vec<&V> {
    let mut out: Vec<&V> = Vec::new();
    for x in items {
        if !out.iter().any(|y| py_eq(x, y, 0)) {
            out.push(x);
        }
    }
    out
}

fn sorted_json(items: Vec<serde_json::Value>) -> serde_json::Value {
    let mut v: Vec<(String, serde_json::Value)> =
        items.into_iter().map(|x| (x.to_string(), x)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    serde_json::Value::Array(v.into_iter().map(|x| x.1).collect())
}

pub(crate) fn trace_value(v: &V) -> serde_json::Value {
    trace_at(v, 0)
}

fn trace_at(v: &V, depth: u32) -> serde_json::Value {
    use serde_json::json;
    if depth > 24 {
        return json!("…");
    }
    let d = depth + 1;
    match v {
        V::None => json!(null),
        V::Bool(b) => json!({"bool": b}),
        V::Int(i) => json!({"int": i.to_string()}),
        V::BigInt => json!({"int": "big"}),
        V::Float(f) => json!({"float": format!("{:016x}", f.to_bits())}),
        V::Str(s) => json!({"str": &**s}),
        V::Bytes(b) => json!({"bytes": hex::encode(b)}),
        V::Big(n) => json!({"big": n}),
        V::ByteArray(n) => json!({"bytearray": n}),
        V::Tuple(t) => json!({"tuple": t.iter().map(|x| trace_at(x, d)).collect::<Vec<_>>()}),
        V::List(l) => match l.try_borrow() {
            Ok(l) => json!({"list": l.iter().map(|x| trace_at(x, d)).collect::<Vec<_>>()}),
            Err(_) => json!("…"),
        },
        V::FrozenSet(t) => {
            json!({"frozenset": sorted_json(dedup(t).into_iter().map(|x| trace_at(x, d)).collect())})
        }
        V::Set(l) => match l.try_borrow() {
            Ok(l) => {
                json!({"set": sorted_json(dedup(&l).into_iter().map(|x| trace_at(x, d)).collect())})
            }
            Err(_) => json!("…"),
        },
        V::Dict(p) => match p.try_borrow() {
            Ok(p) => {
                // Later values replace earlier ones under an equal key,
                // which keeps its first place.
                let mut out: Vec<(&V, &V)> = Vec::new();
                for (k, x) in p.iter() {
                    match out.iter_mut().find(|(k2, _)| py_eq(k, k2, 0)) {
                        Some(slot) => slot.1 = x,
                        None => out.push((k, x)),
                    }
                }
                json!({"dict": out.into_iter().map(|(k, x)| json!([trace_at(k, d), trace_at(x, d)])).collect::<Vec<_>>()})
            }
            Err(_) => json!("…"),
        },
        V::Global(g) => json!({"global": format!("{}.{}", g.module, g.name)}),
        V::Obj(o) => match o.try_borrow() {
            Ok(o) => {
                let callee = match &o.callee {
                    Some(c) => trace_at(c, d),
                    None if d > 24 => json!("…"),
                    None => json!({"global": format!("{}.{}", o.class.module, o.class.name)}),
                };
                json!({"call": o.op, "callee": callee, "args": trace_at(&o.args, d),
                       "state": o.state.as_ref().map(|s| trace_at(s, d))})
            }
            Err(_) => json!("…"),
        },
        V::Dyn => json!({"dyn": true}),
        V::PersId(p) => json!({"persistent": trace_at(p, d)}),
        V::Buffer => json!({"buffer": true}),
    }
}

/// Runs a pickle for the differential test: the VM's events (imports,
/// calls, BUILDs, persistent loads) and its value, or where it failed.
#[doc(hidden)]
pub fn trace(bytes: &[u8]) -> serde_json::Value {
    let mut findings = Vec::new();
    let mut src = crate::input::StreamSrc::new(bytes);
    let mut vm = Vm::new(Profile::Auto, None, MAX_DEPTH, &mut findings);
    vm.trace = Some(Trace::default());
    let out = vm.run_inner(&mut src, true);
    let events = vm.trace.take().map(|t| t.events).unwrap_or_default();
    match out {
        Ok((facts, value)) => serde_json::json!({
            "events": events,
            "value": value.map(|v| trace_value(&v)),
            "error": facts.malformed.map(|(m, _)| m),
        }),
        Err(e) => serde_json::json!({"events": events, "value": null, "error": e.to_string()}),
    }
}

// ---------------------------------------------------------------------------
// Reading operands.

fn read_u8(src: &mut dyn Src) -> io::Result<u8> {
    Ok(read_n::<1>(src)?[0])
}

fn read_n<const N: usize>(src: &mut dyn Src) -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    io::Read::read_exact(src, &mut b)?;
    Ok(b)
}

/// A text operand: the bytes up to '\n' (not included), of any length as
/// in CPython; only the first `LINE_KEEP` bytes are kept.
struct Line {
    kept: Vec<u8>,
    len: u64,
    /// Longer than what was kept.
    long: bool,
}

impl Line {
    fn show(&self) -> String {
        let s = String::from_utf8_lossy(&self.kept[..self.kept.len().min(40)]).into_owned();
        if self.kept.len() > 40 || self.long {
            format!("{s:?}…")
        } else {
            format!("{s:?}")
        }
    }
}

fn read_line(src: &mut dyn Src) -> io::Result<Line> {
    let mut kept = Vec::new();
    let mut len: u64 = 0;
    loop {
        let buf = src.fill_buf()?;
        if buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "line"));
        }
        let (chunk, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        let room = LINE_KEEP.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..chunk.min(room)]);
        len += chunk as u64;
        src.consume(chunk + usize::from(done));
        if done {
            break;
        }
    }
    Ok(Line {
        long: len > kept.len() as u64,
        kept,
        len,
    })
}

fn long_bytes(b: &[u8]) -> V {
    if b.is_empty() {
        return V::Int(0);
    }
    let neg = b[b.len() - 1] & 0x80 != 0;
    // Sign-extension bytes past the sixteenth do not change the value.
    let fill = if neg { 0xff } else { 0 };
    let mut b = b;
    while b.len() > 16 && b[b.len() - 1] == fill && (b[b.len() - 2] & 0x80 != 0) == neg {
        b = &b[..b.len() - 1];
    }
    if b.len() > 16 {
        return V::BigInt;
    }
    let mut buf = if neg { [0xffu8; 16] } else { [0u8; 16] };
    buf[..b.len()].copy_from_slice(b);
    V::Int(i128::from_le_bytes(buf))
}

/// Scans a pickle held in memory.
#[cfg(test)]
pub(crate) fn scan_bytes(
    bytes: &[u8],
    profile: Profile,
    member: Option<String>,
    depth: u32,
    findings: &mut Vec<Finding>,
) -> io::Result<PickleFacts> {
    let mut src = crate::input::StreamSrc::new(bytes);
    Vm::new(profile, member, depth, findings).run(&mut src, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(b: &[u8], p: Profile) -> (Vec<Finding>, PickleFacts) {
        let mut f = Vec::new();
        let facts = scan_bytes(b, p, None, 0, &mut f).unwrap();
        (f, facts)
    }

    #[test]
    fn protocol0_os_system_without_proto() {
        let (f, facts) = scan(b"cos\nsystem\n(S'echo hi'\ntR.", Profile::Auto);
        assert_eq!(facts.pickles, 1);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("os.system"), "{}", f[0].message);
        assert!(f[0].message.contains("echo hi"), "{}", f[0].message);
    }

    #[test]
    fn stack_global_through_memo() {
        // proto 4: 'os' memoized, 'system' memoized, fetched back, STACK_GLOBAL.
        let mut p = vec![0x80, 4, 0x8c, 2];
        p.extend_from_slice(b"os");
        p.extend_from_slice(&[0x94, 0x8c, 6]);
        p.extend_from_slice(b"system");
        p.extend_from_slice(&[0x94, b'0', b'0', b'h', 0, b'h', 1, 0x93, 0x8c, 2]);
        p.extend_from_slice(b"id");
        p.extend_from_slice(&[0x85, b'R', b'.']);
        let (f, _) = scan(&p, Profile::Auto);
        assert!(
            f.iter()
                .any(|x| x.message.contains("os.system") && x.severity == Severity::Critical),
            "{f:?}"
        );
    }

    #[test]
    fn dynamic_stack_global_is_critical() {
        // STACK_GLOBAL whose operands are results of calls.
        let p = b"\x80\x04cbuiltins\nstr\n)R\x8c\x06system\x93.";
        let (f, _) = scan(p, Profile::Auto);
        assert!(f.iter().any(|x| x.rule == "pickle.dynamic-import"), "{f:?}");
    }

    #[test]
    fn benign_ordered_dict_is_clean() {
        let p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aK\x01s.";
        let (f, facts) = scan(p, Profile::Strict);
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(facts.protocol, Some(2));
    }

    #[test]
    fn inst_and_obj_are_checked() {
        let (f, _) = scan(b"(S'ls'\nios\nsystem\n.", Profile::Auto);
        assert!(f.iter().any(|x| x.message.contains("os.system")));
        let (f, _) = scan(b"(csubprocess\ncheck_output\nS'ls'\no.", Profile::Auto);
        assert!(
            f.iter()
                .any(|x| x.message.contains("subprocess.check_output"))
        );
    }

    #[test]
    fn ext_opcode_is_a_finding() {
        let (f, _) = scan(b"\x80\x02\x82\x01)R.", Profile::Auto);
        assert!(f.iter().any(|x| x.rule == "pickle.extension-registry"));
    }

    #[test]
    fn text_is_not_a_pickle() {
        let mut f = Vec::new();
        let mut src = crate::input::StreamSrc::new(&b"import os\nprint(1)\n"[..]);
        let facts = Vm::new(Profile::Auto, None, 0, &mut f)
            .run(&mut src, false)
            .unwrap();
        assert!(facts.not_pickle);
        assert!(f.is_empty());
    }

    #[test]
    fn truncated_malicious_pickle_still_reports() {
        let (f, facts) = scan(b"cos\nsystem\n(S'id'\ntR", Profile::Auto);
        assert!(facts.malformed.is_some());
        assert!(f.iter().any(|x| x.severity == Severity::Critical));
    }

    #[test]
    fn second_pickle_is_scanned() {
        let (f, facts) = scan(
            b"\x80\x02K\x01.\x80\x02cposix\nsystem\nX\x02\x00\x00\x00id\x85R.",
            Profile::Auto,
        );
        assert_eq!(facts.pickles, 2);
        assert!(f.iter().any(|x| x.message.contains("posix.system")));
    }

    #[test]
    fn nested_pickle_in_bytes_is_scanned() {
        let inner = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.";
        let mut p = b"\x80\x03cpickle\nloads\nC".to_vec();
        p.push(inner.len() as u8);
        p.extend_from_slice(inner);
        p.extend_from_slice(b"\x85R.");
        let (f, _) = scan(&p, Profile::Auto);
        assert!(f.iter().any(|x| x.message.contains("pickle.loads")));
        assert!(
            f.iter().any(|x| x.message.contains("os.system")
                && x.member.as_deref().is_some_and(|m| m.contains("nested"))),
            "{f:?}"
        );
    }

    #[test]
    fn logging_factory_named() {
        let p = b"\x80\x02clogging.config\ndictConfig\n}X\x02\x00\x00\x00()X\t\x00\x00\x00os.systems\x85R.";
        let (f, _) = scan(p, Profile::Auto);
        assert!(
            f.iter()
                .any(|x| x.rule == "pickle.factory" && x.message.contains("os.system")),
            "{f:?}"
        );
    }

    #[test]
    fn large_payload_is_skipped() {
        let mut p = vec![0x80, 4, 0x8e];
        p.extend_from_slice(&(1_000_000u64).to_le_bytes());
        p.extend(std::iter::repeat_n(7u8, 1_000_000));
        p.push(b'.');
        let (f, facts) = scan(&p, Profile::Strict);
        assert!(f.is_empty());
        assert_eq!(facts.pickles, 1);
    }

    #[test]
    fn py2_names_are_mapped() {
        let (f, _) = scan(b"ccommands\ngetoutput\n(S'id'\ntR.", Profile::Auto);
        assert!(f.iter().any(
            |x| x.message.contains("subprocess.getoutput") && x.severity == Severity::Critical
        ));
        let (f, _) = scan(b"c__builtin__\nset\n(]tR.", Profile::Strict);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn a_million_nested_lists_do_not_overflow_the_stack() {
        let n = 1_000_000;
        let mut p = vec![0x80, 4];
        p.extend(std::iter::repeat_n(b']', n));
        p.extend(std::iter::repeat_n(b'a', n - 1));
        p.push(b'.');
        // On a small stack, as the scan workers have.
        let h = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || scan(&p, Profile::Strict).1.pickles)
            .unwrap();
        assert_eq!(h.join().unwrap(), 1);
    }

    #[test]
    fn build_on_a_global_is_a_finding() {
        let (f, _) = scan(b"\x80\x02cmylib\nCONFIG\n}b.", Profile::Auto);
        assert!(f.iter().any(|x| x.rule == "pickle.global-mutation"));
    }

    fn critical(f: &[Finding], name: &str) -> bool {
        f.iter()
            .any(|x| x.severity == Severity::Critical && x.message.contains(name))
    }

    #[test]
    fn pop_after_mark_pops_the_mark() {
        // CPython: POP right after MARK removes the MARK, so STACK_GLOBAL
        // sees 'os' and 'system'.
        let p = b"\x80\x04\x8c\x02os\x8c\x06system(0\x93\x8c\x02id\x85R.";
        let (f, facts) = scan(p, Profile::Auto);
        assert!(critical(&f, "os.system"), "{f:?}");
        assert!(facts.malformed.is_none(), "{:?}", facts.malformed);
    }

    #[test]
    fn nothing_below_a_mark_is_reachable() {
        // DUP, TUPLE1, REDUCE and STOP cannot reach below the last MARK.
        for p in [
            &b"K\x01(2."[..],
            b"K\x01(\x85.",
            b"K\x01(.",
            b"cos\nsystem\nK\x01(R.",
        ] {
            let (_, facts) = scan(p, Profile::Auto);
            assert!(facts.malformed.is_some(), "{p:?}");
        }
    }

    #[test]
    fn memo_shares_mutable_values() {
        // A dict memoized empty, filled through the stack, fetched back:
        // the factory key is seen in the memo's copy too.
        let p = b"\x80\x02clogging.config\ndictConfig\n}q\x00X\x02\x00\x00\x00()X\t\x00\x00\x00os.systems0h\x00\x85R.";
        let (f, _) = scan(p, Profile::Auto);
        assert!(f.iter().any(|x| x.rule == "pickle.factory"), "{f:?}");
    }

    #[test]
    fn protocol0_operands_cpython_accepts() {
        for p in [
            &b"I0x1f\n(S'id'\nlp1_0\n0cos\nsystem\ng1_0\nR."[..],
            b"L0o17L\n0I1_000\n0cos\nsystem\n(S'id'\ntR.",
            b"I010\n0cos\nsystem\n(S'i\\x64'\ntR.",
            b"F1_0.5\n0cos\nsystem\n(V\\u0069d\ntR.",
        ] {
            let (f, facts) = scan(p, Profile::Auto);
            assert!(
                critical(&f, "os.system"),
                "{}: {f:?}",
                String::from_utf8_lossy(p)
            );
            assert!(facts.malformed.is_none(), "{:?}", facts.malformed);
        }
        // A text operand longer than any bound the scanner keeps.
        let mut p = b"S'".to_vec();
        p.extend(std::iter::repeat_n(b'a', 200_000));
        p.extend_from_slice(b"'\n0cos\nsystem\n(S'id'\ntR.");
        let (f, facts) = scan(&p, Profile::Auto);
        assert!(critical(&f, "os.system"), "{f:?}");
        assert!(facts.malformed.is_none());
    }

    #[test]
    fn a_pickle_that_fails_after_it_started_is_malformed_not_text() {
        let mut f = Vec::new();
        let mut src = crate::input::StreamSrc::new(&b"(I1\nI2\nS'unterminated\n0."[..]);
        let facts = Vm::new(Profile::Auto, None, 0, &mut f)
            .run(&mut src, false)
            .unwrap();
        assert!(!facts.not_pickle);
        assert!(facts.malformed.is_some());
        // Prose that happens to start with an opcode stays text.
        for t in [
            &b"MIT License\n"[..],
            b"Note: x\n",
            b"(see below)\n",
            b"import os\n",
        ] {
            let mut f = Vec::new();
            let mut src = crate::input::StreamSrc::new(t);
            let facts = Vm::new(Profile::Auto, None, 0, &mut f)
                .run(&mut src, false)
                .unwrap();
            assert!(facts.not_pickle, "{}", String::from_utf8_lossy(t));
        }
    }

    #[test]
    fn py2_names_only_for_protocols_below_3() {
        let (f, _) = scan(b"\x80\x03c__builtin__\nset\n)R.", Profile::Strict);
        assert!(
            f.iter().any(|x| x.message.contains("__builtin__.set")),
            "{f:?}"
        );
        let (f, _) = scan(b"\x80\x02c__builtin__\nset\n)R.", Profile::Strict);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn persid_and_ext() {
        let (f, facts) = scan(b"Pabc\n)R.", Profile::Auto);
        assert!(f.iter().any(|x| x.rule == "pickle.dynamic-call"), "{f:?}");
        assert!(facts.malformed.is_none());
        let (_, facts) = scan(b"\x80\x02\x84\x00\x00\x00\x00.", Profile::Auto);
        assert!(facts.malformed.is_some(), "EXT code 0 is an error");
    }

    #[test]
    fn partial_only_around_allowed_callables() {
        // REDUCE partial(check_array) then BUILD (func, args, kwds, dict).
        let ok = b"\x80\x02cfunctools\npartial\ncsklearn.utils.validation\ncheck_array\n\x85R(csklearn.utils.validation\ncheck_array\n)}Ntb.";
        let (f, _) = scan(ok, Profile::Auto);
        assert!(f.is_empty(), "{f:?}");
        let bad = b"\x80\x02cfunctools\npartial\ncos\nsystem\n\x85R.";
        let (f, _) = scan(bad, Profile::Auto);
        assert!(f.iter().any(|x| x.rule == "pickle.indirect-call"), "{f:?}");
        // The state swaps the callable for another one.
        let swap = b"\x80\x02cfunctools\npartial\ncsklearn.utils.validation\ncheck_array\n\x85R(cbuiltins\neval\n)}Ntb.";
        let (f, _) = scan(swap, Profile::Auto);
        assert!(f.iter().any(|x| x.rule == "pickle.indirect-call"), "{f:?}");
    }

    #[test]
    fn self_containing_values_do_not_hang_the_walks() {
        // L = []; L += [L, L] (twenty times over through the memo), then
        // handed to logging.config.dictConfig.
        let mut p = b"\x80\x02clogging.config\ndictConfig\n]q\x00".to_vec();
        for _ in 0..20 {
            p.extend_from_slice(b"(h\x00h\x00e");
        }
        p.extend_from_slice(b"\x85R.");
        let (f, facts) = scan(&p, Profile::Auto);
        assert!(facts.malformed.is_none());
        assert!(
            f.iter().any(|x| x.message.contains("logging.config")),
            "{f:?}"
        );
    }

    #[test]
    fn shared_tuples_as_keys_do_not_hang() {
        // t = (t, t) sixty times over, then used as a dict key.
        let mut p = b"\x80\x02}K\x01".to_vec();
        for _ in 0..60 {
            p.extend_from_slice(b"2\x86");
        }
        p.extend_from_slice(b"Ns.");
        let (_, facts) = scan(&p, Profile::Strict);
        assert!(facts.malformed.is_none());
    }
}
