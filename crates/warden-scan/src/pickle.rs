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

use std::collections::HashMap;
use std::io;
use std::rc::Rc;

use crate::allow::{self, Profile};
use crate::input::{Src, peek, read_vec};
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
/// Text-line opcodes longer than this are malformed.
const MAX_LINE: usize = 64 * 1024;
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
    Tuple(Rc<Vec<V>>),
    List(Rc<Vec<V>>),
    Dict(Rc<Vec<(V, V)>>),
    Set(Rc<Vec<V>>),
    Global(Rc<Global>),
    Obj(Rc<Obj>),
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
        V::List(rc) | V::Tuple(rc) | V::Set(rc) => {
            if let Some(items) = Rc::get_mut(rc) {
                work.append(items);
            }
        }
        V::Dict(rc) => {
            if let Some(pairs) = Rc::get_mut(rc) {
                for (k, x) in pairs.drain(..) {
                    work.push(k);
                    work.push(x);
                }
            }
        }
        V::Obj(rc) => {
            if let Some(o) = Rc::get_mut(rc) {
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
    pub args: V,
    pub state: Option<V>,
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

/// Everything a scan of one pickle stream needs.
pub(crate) struct Vm<'a> {
    profile: Profile,
    member: Option<String>,
    depth: u32,
    pub findings: &'a mut Vec<Finding>,
    facts: PickleFacts,
    kept: usize,
    base: u64,
}

enum Stop {
    /// STOP reached: the value, and the protocol seen.
    Done(V),
    /// Parse error at offset.
    Bad(String, u64),
    /// End of input before the first opcode.
    Empty,
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

fn err<T>(m: impl Into<String>) -> Result<T, io::Error> {
    Err(io::Error::new(io::ErrorKind::InvalidData, m.into()))
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

    /// Scans pickles back to back until the input ends or stops looking
    /// like a pickle. `strict_start`: the caller knows this is a pickle, so
    /// a first opcode that is not one is malformed rather than "not a pickle".
    pub(crate) fn run(mut self, src: &mut dyn Src, strict_start: bool) -> io::Result<PickleFacts> {
        loop {
            let start = src.pos();
            let before = self.findings.len();
            let n_globals = self.facts.globals.len();
            match self.one(src)? {
                Stop::Done(v) => {
                    self.facts.pickles += 1;
                    if self.facts.pickles == 1 && matches!(v, V::Int(0x1950a86a20f9469cfc6c)) {
                        self.facts.torch_legacy = true;
                    }
                    // Legacy torch: magic, protocol, sys info, the object,
                    // the storage keys, then raw storage bytes.
                    if self.facts.torch_legacy && self.facts.pickles == 5 {
                        return Ok(self.facts);
                    }
                }
                Stop::Empty => {
                    if self.facts.pickles == 0 {
                        self.facts.not_pickle = true;
                    }
                    return Ok(self.facts);
                }
                Stop::Bad(m, at) => {
                    let produced =
                        self.findings.len() > before || self.facts.globals.len() > n_globals;
                    if self.facts.pickles == 0 {
                        if strict_start || produced {
                            self.facts.malformed = Some((m, at));
                        } else {
                            self.facts.not_pickle = true;
                        }
                    } else if produced {
                        self.facts.malformed = Some((m, at));
                    } else {
                        // Trailing bytes that are not a pickle: ignored by
                        // every loader that reads one pickle.
                        let _ = start;
                    }
                    return Ok(self.facts);
                }
            }
            // Another pickle follows only if the next byte is an opcode.
            let next = peek(src, 3)?;
            if next.is_empty() || !(looks_binary_pickle(&next) || may_start_pickle(&next)) {
                return Ok(self.facts);
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

    /// Resolves an import the way `find_class` would, and checks it.
    fn resolve(&mut self, module: &str, name: &str, offset: u64, how: &str) -> V {
        let module = allow::py3_module(module).to_string();
        let name = name.to_string();
        let allowed = allow::allowed(self.profile, &module, &name);
        if module == "joblib.numpy_pickle" && name == "NumpyArrayWrapper" {
            self.facts.joblib = true;
        }
        self.note_global(&module, &name, allowed);
        let finding = if allowed || allow::is_ufunc_reconstructor(&module, &name) {
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
    fn call(&mut self, callable: V, args: V, offset: u64, op: &str) -> V {
        match &callable {
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
                } else if let Some(i) = g.finding {
                    let text = format!(" — called as {}.{}{}", g.module, g.name, render(&args));
                    if let Some(f) = self.findings.get_mut(i)
                        && !f.message.contains(" — called as ")
                    {
                        f.message.push_str(&text);
                    }
                    if g.module == "logging.config" {
                        let mut names = Vec::new();
                        factories(&args, &mut names, 0);
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
                V::Obj(Rc::new(Obj {
                    class: g.clone(),
                    args,
                    state: None,
                }))
            }
            other => {
                let what = match &other {
                    V::Obj(o) => format!("the result of {}.{}", o.class.module, o.class.name),
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
                V::Dyn
            }
        }
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
            return err("payload runs past the end of the data");
        }
        Ok(None)
    }

    /// Scans bytes that are themselves a pickle, a NumPy file or a zip.
    fn nested(&mut self, bytes: &[u8], offset: u64) {
        if self.depth >= MAX_DEPTH || !nested_candidate(bytes) {
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
        let mut stack: Vec<V> = Vec::new();
        let mut marks: Vec<usize> = Vec::new();
        let mut memo: HashMap<u64, V> = HashMap::new();
        let mut first = true;
        loop {
            let at = src.pos();
            let op = {
                let b = src.fill_buf()?;
                if b.is_empty() {
                    if first {
                        return Ok(Stop::Empty);
                    }
                    return Ok(Stop::Bad(
                        "the pickle ends without STOP (truncated)".into(),
                        at,
                    ));
                }
                b[0]
            };
            if !is_opcode(op) {
                return Ok(Stop::Bad(
                    format!("byte 0x{op:02x} is not a pickle opcode"),
                    at,
                ));
            }
            src.consume(1);
            first = false;
            if stack.len() > MAX_STACK || memo.len() > MAX_MEMO {
                return Ok(Stop::Bad(
                    "stack or memo larger than the scanner's bound".into(),
                    at,
                ));
            }
            match self.step(op, src, &mut stack, &mut marks, &mut memo, at) {
                Ok(Some(v)) => return Ok(Stop::Done(v)),
                Ok(None) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(Stop::Bad("the pickle is truncated".into(), at));
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Ok(Stop::Bad(format!("{} (opcode 0x{op:02x})", e), at));
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
        stack: &mut Vec<V>,
        marks: &mut Vec<usize>,
        memo: &mut HashMap<u64, V>,
        at: u64,
    ) -> io::Result<Option<V>> {
        fn pop(stack: &mut Vec<V>) -> io::Result<V> {
            match stack.pop() {
                Some(v) => Ok(v),
                None => err("stack underflow"),
            }
        }
        fn pop_mark(stack: &mut Vec<V>, marks: &mut Vec<usize>) -> io::Result<Vec<V>> {
            let Some(m) = marks.pop() else {
                return err("no MARK on the stack");
            };
            if m > stack.len() {
                return err("MARK beyond the stack");
            }
            Ok(stack.split_off(m))
        }
        fn top(stack: &mut [V]) -> io::Result<&mut V> {
            match stack.last_mut() {
                Some(v) => Ok(v),
                None => err("stack underflow"),
            }
        }
        match op {
            0x80 => {
                let v = read_u8(src)?;
                if v > 5 {
                    return err(format!("unsupported pickle protocol {v}"));
                }
                self.facts.protocol.get_or_insert(v);
            }
            0x95 => {
                read_n::<8>(src)?;
            }
            b'.' => return Ok(Some(stack.pop().unwrap_or(V::None))),
            b'(' => marks.push(stack.len()),
            b'0' => {
                if stack.is_empty() {
                    // POP with an empty stack pops the mark, as CPython does.
                    if marks.pop().is_none() {
                        return err("stack underflow");
                    }
                } else {
                    stack.pop();
                }
            }
            b'1' => {
                pop_mark(stack, marks)?;
            }
            b'2' => {
                let v = top(stack)?.clone();
                stack.push(v);
            }
            b'N' => stack.push(V::None),
            0x88 => stack.push(V::Bool(true)),
            0x89 => stack.push(V::Bool(false)),
            b'I' => {
                let l = read_line(src)?;
                let s = std::str::from_utf8(&l).unwrap_or("");
                stack.push(match s {
                    "00" => V::Bool(false),
                    "01" => V::Bool(true),
                    _ => match s.trim().parse::<i128>() {
                        Ok(i) => V::Int(i),
                        Err(_) => return err(format!("INT operand {s:?} is not an integer")),
                    },
                });
            }
            b'L' => {
                let l = read_line(src)?;
                let s = std::str::from_utf8(&l)
                    .unwrap_or("")
                    .trim()
                    .trim_end_matches('L');
                stack.push(match s.parse::<i128>() {
                    Ok(i) => V::Int(i),
                    Err(_)
                        if !s.is_empty()
                            && s.trim_start_matches('-')
                                .bytes()
                                .all(|b| b.is_ascii_digit()) =>
                    {
                        V::BigInt
                    }
                    Err(_) => return err(format!("LONG operand {s:?} is not an integer")),
                });
            }
            b'J' => stack.push(V::Int(i32::from_le_bytes(read_n::<4>(src)?) as i128)),
            b'K' => stack.push(V::Int(read_u8(src)? as i128)),
            b'M' => stack.push(V::Int(u16::from_le_bytes(read_n::<2>(src)?) as i128)),
            0x8a => {
                let n = read_u8(src)? as u64;
                stack.push(long_bytes(&read_vec(src, n as usize)?));
            }
            0x8b => {
                let n = i32::from_le_bytes(read_n::<4>(src)?);
                if n < 0 {
                    return err("LONG4 with a negative length");
                }
                if n as u64 > INLINE_MAX {
                    if src.skip(n as u64)? < n as u64 {
                        return err("LONG4 runs past the end");
                    }
                    stack.push(V::BigInt);
                } else {
                    stack.push(long_bytes(&read_vec(src, n as usize)?));
                }
            }
            b'F' => {
                let l = read_line(src)?;
                let s = std::str::from_utf8(&l).unwrap_or("").trim();
                match s.parse::<f64>() {
                    Ok(f) => stack.push(V::Float(f)),
                    Err(_) => return err(format!("FLOAT operand {s:?} is not a number")),
                }
            }
            b'G' => stack.push(V::Float(f64::from_be_bytes(read_n::<8>(src)?))),
            b'S' => {
                let l = read_line(src)?;
                stack.push(V::Str(decode_string_repr(&l)?.into()));
            }
            b'V' => {
                let l = read_line(src)?;
                stack.push(V::Str(decode_raw_unicode_escape(&l).into()));
            }
            b'T' | b'X' | b'B' => {
                let n = i32::from_le_bytes(read_n::<4>(src)?);
                if n < 0 {
                    return err("negative length");
                }
                self.push_payload(op, src, stack, n as u64, at)?;
            }
            b'U' | b'C' | 0x8c => {
                let n = read_u8(src)? as u64;
                self.push_payload(op, src, stack, n, at)?;
            }
            0x8d | 0x8e | 0x96 => {
                let n = u64::from_le_bytes(read_n::<8>(src)?);
                self.push_payload(op, src, stack, n, at)?;
            }
            0x97 => stack.push(V::Buffer),
            0x98 => {}
            b')' => stack.push(V::Tuple(Rc::new(Vec::new()))),
            b't' => {
                let items = pop_mark(stack, marks)?;
                stack.push(V::Tuple(Rc::new(items)));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return err("stack underflow");
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(V::Tuple(Rc::new(items)));
            }
            b']' => stack.push(V::List(Rc::new(Vec::new()))),
            b'l' => {
                let items = pop_mark(stack, marks)?;
                stack.push(V::List(Rc::new(items)));
            }
            b'}' => stack.push(V::Dict(Rc::new(Vec::new()))),
            b'd' => {
                let items = pop_mark(stack, marks)?;
                if items.len() % 2 != 0 {
                    return err("DICT with an odd number of items");
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                stack.push(V::Dict(Rc::new(pairs)));
            }
            0x8f => stack.push(V::Set(Rc::new(Vec::new()))),
            0x91 => {
                let items = pop_mark(stack, marks)?;
                stack.push(V::Set(Rc::new(items)));
            }
            b'a' => {
                let v = pop(stack)?;
                let keep = self.keep();
                self.container_add(top(stack)?, vec![v], keep, at)?;
            }
            b'e' | 0x90 => {
                let items = pop_mark(stack, marks)?;
                let keep = self.keep();
                self.container_add(top(stack)?, items, keep, at)?;
            }
            b's' => {
                let v = pop(stack)?;
                let k = pop(stack)?;
                let keep = self.keep();
                self.container_set(top(stack)?, vec![(k, v)], keep, at)?;
            }
            b'u' => {
                let items = pop_mark(stack, marks)?;
                if items.len() % 2 != 0 {
                    return err("SETITEMS with an odd number of items");
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                let keep = self.keep();
                self.container_set(top(stack)?, pairs, keep, at)?;
            }
            b'p' => {
                let l = read_line(src)?;
                let k = parse_index(&l)?;
                memo.insert(k, top(stack)?.clone());
            }
            b'q' => {
                let k = read_u8(src)? as u64;
                memo.insert(k, top(stack)?.clone());
            }
            b'r' => {
                let k = u32::from_le_bytes(read_n::<4>(src)?) as u64;
                memo.insert(k, top(stack)?.clone());
            }
            0x94 => {
                let k = memo.len() as u64;
                memo.insert(k, top(stack)?.clone());
            }
            b'g' | b'h' | b'j' => {
                let k = match op {
                    b'g' => parse_index(&read_line(src)?)?,
                    b'h' => read_u8(src)? as u64,
                    _ => u32::from_le_bytes(read_n::<4>(src)?) as u64,
                };
                match memo.get(&k) {
                    Some(v) => stack.push(v.clone()),
                    None => return err(format!("memo slot {k} is empty")),
                }
            }
            b'c' => {
                let module = read_line(src)?;
                let name = read_line(src)?;
                let (m, n) = ident_pair(&module, &name)?;
                let g = self.resolve(&m, &n, at, "GLOBAL");
                stack.push(g);
            }
            0x93 => {
                let name = pop(stack)?;
                let module = pop(stack)?;
                match (&module, &name) {
                    (V::Str(m), V::Str(n)) => {
                        let g = self.resolve(m, n, at, "STACK_GLOBAL");
                        stack.push(g);
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
                        stack.push(V::Dyn);
                    }
                }
            }
            b'i' => {
                let module = read_line(src)?;
                let name = read_line(src)?;
                let (m, n) = ident_pair(&module, &name)?;
                let args = pop_mark(stack, marks)?;
                let g = self.resolve(&m, &n, at, "INST");
                let v = self.call(g, V::Tuple(Rc::new(args)), at, "INST");
                stack.push(v);
            }
            b'o' => {
                let mut items = pop_mark(stack, marks)?;
                if items.is_empty() {
                    return err("OBJ without a class");
                }
                let class = items.remove(0);
                let v = self.call(class, V::Tuple(Rc::new(items)), at, "OBJ");
                stack.push(v);
            }
            0x82..=0x84 => {
                let code = match op {
                    0x82 => read_u8(src)? as u32,
                    0x83 => u16::from_le_bytes(read_n::<2>(src)?) as u32,
                    _ => i32::from_le_bytes(read_n::<4>(src)?) as u32,
                };
                self.finding(
                    "pickle.extension-registry",
                    Severity::High,
                    format!("imports through the copyreg extension registry (code {code}): the name is only known at load time"),
                    at,
                );
                stack.push(V::Dyn);
            }
            b'R' => {
                let args = pop(stack)?;
                let f = pop(stack)?;
                let v = self.call(f, args, at, "REDUCE");
                stack.push(v);
            }
            0x81 => {
                let args = pop(stack)?;
                let cls = pop(stack)?;
                let v = self.call(cls, args, at, "NEWOBJ");
                stack.push(v);
            }
            0x92 => {
                let _kwargs = pop(stack)?;
                let args = pop(stack)?;
                let cls = pop(stack)?;
                let v = self.call(cls, args, at, "NEWOBJ_EX");
                stack.push(v);
            }
            b'b' => {
                let state = pop(stack)?;
                let target = top(stack)?;
                match target {
                    V::Obj(o) => {
                        let o = Rc::make_mut(o);
                        o.state = Some(state);
                    }
                    V::Global(g) => {
                        let text = format!(
                            "BUILD sets attributes of {}.{} itself (not of an instance) at load time",
                            g.module, g.name
                        );
                        self.finding("pickle.global-mutation", Severity::High, text, at);
                    }
                    _ => {}
                }
                let wrapper = match stack.last() {
                    Some(V::Obj(o))
                        if o.class.module == "joblib.numpy_pickle"
                            && o.class.name == "NumpyArrayWrapper" =>
                    {
                        Some(o.clone())
                    }
                    _ => None,
                };
                if let Some(w) = wrapper {
                    self.joblib_array(src, &w, at)?;
                }
            }
            b'P' => {
                let l = read_line(src)?;
                stack.push(V::PersId(Rc::new(V::Str(
                    String::from_utf8_lossy(&l).into(),
                ))));
            }
            b'Q' => {
                let pid = pop(stack)?;
                stack.push(V::PersId(Rc::new(pid)));
            }
            _ => return err(format!("unknown opcode 0x{op:02x}")),
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
                    String::from_utf8_lossy(&b).into_owned()
                };
                stack.push(V::Str(s.into()));
            }
            Some(b) => stack.push(V::Bytes(b)),
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
    ) -> io::Result<()> {
        match target {
            V::List(l) | V::Set(l) if keep => {
                Rc::make_mut(l).extend(items);
            }
            V::Global(g) => {
                let text = format!("appends to {}.{} itself at load time", g.module, g.name);
                self.finding("pickle.global-mutation", Severity::High, text, at);
            }
            _ => {}
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
            V::Dict(d) if keep => {
                Rc::make_mut(d).extend(pairs);
            }
            V::Global(g) => {
                let text = format!("sets items of {}.{} itself at load time", g.module, g.name);
                self.finding("pickle.global-mutation", Severity::High, text, at);
            }
            _ => {}
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
                        Severity::Medium,
                        "joblib object arrays nested deeper than the scanner follows: the rest was not scanned".into(),
                        at,
                    );
                    return err("joblib object arrays nested too deep");
                }
                let mut vm = Vm::new(
                    self.profile,
                    self.member.clone(),
                    self.depth + 1,
                    self.findings,
                )
                .with_base(self.base);
                let facts = vm.one(src)?;
                if let Stop::Bad(m, o) = facts {
                    self.finding(
                        "pickle.malformed",
                        Severity::Medium,
                        format!("joblib object array: {m}"),
                        o,
                    );
                }
                Ok(())
            }
            Some(DtypeSize::Bytes(size)) => {
                if get("numpy_array_alignment_bytes").is_some() {
                    let pad = read_u8(src)? as u64;
                    if src.skip(pad)? < pad {
                        return err("joblib array padding runs past the end");
                    }
                }
                let total = count.saturating_mul(size as u128);
                let total = u64::try_from(total).unwrap_or(u64::MAX);
                if src.skip(total)? < total {
                    return err("joblib array data runs past the end of the file");
                }
                Ok(())
            }
            None => {
                self.finding(
                    "pickle.malformed",
                    Severity::Medium,
                    "joblib array with a dtype the scanner cannot size: the data after it was not scanned".into(),
                    at,
                );
                err("joblib array dtype not understood")
            }
        }
    }
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

/// Item size of a pickled `numpy.dtype(...)` value.
fn dtype_itemsize(v: &V, depth: u32) -> Option<DtypeSize> {
    if depth > 16 {
        return None;
    }
    let V::Obj(o) = v else { return None };
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
                for (_, f) in fields.iter() {
                    let V::Tuple(t) = f else { return None };
                    match t.first().and_then(|d| dtype_itemsize(d, depth + 1)) {
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
fn factories(v: &V, out: &mut Vec<String>, depth: u32) {
    if depth > 32 {
        return;
    }
    match v {
        V::Dict(d) => {
            for (k, val) in d.iter() {
                if matches!(k, V::Str(s) if &**s == "()") {
                    out.push(match val {
                        V::Str(s) => s.to_string(),
                        V::Global(g) => format!("{}.{}", g.module, g.name),
                        other => kind(other).to_string(),
                    });
                }
                factories(val, out, depth + 1);
            }
        }
        V::Tuple(t) | V::List(t) | V::Set(t) => t.iter().for_each(|x| factories(x, out, depth + 1)),
        V::Obj(o) => factories(&o.args, out, depth + 1),
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
        V::Tuple(_) => "tuple",
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
            s.push_str(&format!("{}.{}", o.class.module, o.class.name));
            if !matches!(o.args, V::Tuple(_)) {
                s.push('(');
            }
            render_into(&o.args, s, depth + 1);
            if !matches!(o.args, V::Tuple(_)) {
                s.push(')');
            }
        }
        V::Tuple(t) | V::List(t) | V::Set(t) => {
            let (open, close) = match v {
                V::Tuple(_) => ('(', ')'),
                V::List(_) => ('[', ']'),
                _ => ('{', '}'),
            };
            s.push(open);
            for (i, x) in t.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                render_into(x, s, depth + 1);
            }
            s.push(close);
        }
        V::Dict(d) => {
            s.push('{');
            for (i, (k, x)) in d.iter().enumerate() {
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

fn read_u8(src: &mut dyn Src) -> io::Result<u8> {
    Ok(read_n::<1>(src)?[0])
}

fn read_n<const N: usize>(src: &mut dyn Src) -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    io::Read::read_exact(src, &mut b)?;
    Ok(b)
}

/// A text operand: bytes up to '\n' (not included), bounded.
fn read_line(src: &mut dyn Src) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let buf = src.fill_buf()?;
        if buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "line"));
        }
        if let Some(i) = memchr::memchr(b'\n', buf) {
            out.extend_from_slice(&buf[..i]);
            src.consume(i + 1);
            break;
        }
        let n = buf.len();
        out.extend_from_slice(buf);
        src.consume(n);
        if out.len() > MAX_LINE {
            return err("text operand longer than 64 KiB");
        }
    }
    if out.len() > MAX_LINE {
        return err("text operand longer than 64 KiB");
    }
    if out.last() == Some(&b'\r') {
        out.pop();
    }
    Ok(out)
}

fn parse_index(l: &[u8]) -> io::Result<u64> {
    match std::str::from_utf8(l)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        Some(k) => Ok(k),
        None => err("memo index is not a number"),
    }
}

/// GLOBAL/INST operands: a module path and a (possibly dotted) name,
/// both identifiers, else the opcode is malformed (Python fails to import).
fn ident_pair(module: &[u8], name: &[u8]) -> io::Result<(String, String)> {
    let m = std::str::from_utf8(module)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "module name is not UTF-8"))?;
    let n = std::str::from_utf8(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "name is not UTF-8"))?;
    let ident = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|p| {
                let mut c = p.chars();
                matches!(c.next(), Some(ch) if ch == '_' || ch.is_alphabetic())
                    && c.all(|ch| ch == '_' || ch.is_alphanumeric())
            })
    };
    if !ident(m) || !ident(n) {
        return err(format!("import operands {m:?} {n:?} are not identifiers"));
    }
    Ok((m.to_string(), n.to_string()))
}

fn long_bytes(b: &[u8]) -> V {
    if b.is_empty() {
        return V::Int(0);
    }
    if b.len() > 16 {
        return V::BigInt;
    }
    let neg = b[b.len() - 1] & 0x80 != 0;
    let mut buf = if neg { [0xffu8; 16] } else { [0u8; 16] };
    buf[..b.len()].copy_from_slice(b);
    V::Int(i128::from_le_bytes(buf))
}

/// Decodes protocol 0's STRING operand: a quoted Python literal.
fn decode_string_repr(l: &[u8]) -> io::Result<String> {
    if l.len() < 2 || l[0] != l[l.len() - 1] || !(l[0] == b'\'' || l[0] == b'"') {
        return err("STRING operand is not quoted");
    }
    let body = &l[1..l.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c != b'\\' || i + 1 >= body.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = body[i + 1];
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                let mut k = 0;
                while k < 2 && i < body.len() && (b'0'..=b'7').contains(&body[i]) {
                    v = v * 8 + (body[i] - b'0') as u32;
                    i += 1;
                    k += 1;
                }
                out.push(v as u8);
            }
            b'x' if i + 2 <= body.len() => {
                let h = std::str::from_utf8(&body[i..i + 2])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => out.push(v),
                    None => return err("bad \\x escape in STRING"),
                }
                i += 2;
            }
            b'\\' | b'\'' | b'"' => out.push(e),
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out.iter().map(|&c| c as char).collect())
}

/// Decodes protocol 0's UNICODE operand (raw-unicode-escape).
fn decode_raw_unicode_escape(l: &[u8]) -> String {
    let mut out = String::with_capacity(l.len());
    let mut i = 0;
    while i < l.len() {
        if l[i] == b'\\' && i + 1 < l.len() && (l[i + 1] == b'u' || l[i + 1] == b'U') {
            let n = if l[i + 1] == b'u' { 4 } else { 8 };
            if let Some(h) = l.get(i + 2..i + 2 + n)
                && let Some(c) = std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
            {
                out.push(c);
                i += 2 + n;
                continue;
            }
        }
        out.push(l[i] as char);
        i += 1;
    }
    out
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
}
