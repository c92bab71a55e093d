//! What a pickle may import: allow lists of (module, qualified name) per
//! profile, and a deny list that only sets the severity of what is not
//! allowed and explains it.
//!
//! A name is either allowed or a finding. The deny list never makes
//! anything pass; it says how bad a name is known to be (code execution,
//! an importer, a network call) so the report can rank it.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::Severity;

/// Which kinds of benign pickles a scan accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Standard containers and value types only.
    Strict,
    /// + NumPy arrays, dtypes, random states (and joblib's array wrapper).
    Numpy,
    /// + PyTorch state dicts and archives (tensors, storages, parameters).
    Torch,
    /// + scikit-learn estimators and pipelines, SciPy sparse matrices.
    Sklearn,
    /// Torch, scikit-learn and NumPy together (the default).
    Auto,
}

impl Profile {
    /// `strict`, `numpy`, `torch`, `sklearn` or `auto`.
    pub fn parse(s: &str) -> Option<Profile> {
        Some(match s {
            "strict" => Profile::Strict,
            "numpy" => Profile::Numpy,
            "torch" => Profile::Torch,
            "sklearn" => Profile::Sklearn,
            "auto" => Profile::Auto,
            _ => return None,
        })
    }
    /// The name [`Profile::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Strict => "strict",
            Profile::Numpy => "numpy",
            Profile::Torch => "torch",
            Profile::Sklearn => "sklearn",
            Profile::Auto => "auto",
        }
    }
    fn numpy(self) -> bool {
        !matches!(self, Profile::Strict)
    }
    fn torch(self) -> bool {
        matches!(self, Profile::Torch | Profile::Auto)
    }
    fn sklearn(self) -> bool {
        matches!(self, Profile::Sklearn | Profile::Auto)
    }
}

/// Constructors of standard containers and value types: every profile.
const STANDARD: &[(&str, &str)] = &[
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "bytes"),
    ("builtins", "complex"),
    ("builtins", "slice"),
    ("builtins", "range"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "tuple"),
    ("builtins", "str"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "bool"),
    ("builtins", "object"),
    ("builtins", "Ellipsis"),
    ("builtins", "NotImplemented"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("collections", "deque"),
    ("collections", "Counter"),
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("decimal", "Decimal"),
    ("fractions", "Fraction"),
    ("uuid", "UUID"),
    ("copyreg", "_reconstructor"),
    // Protocol 2 writes bytes as _codecs.encode(text, 'latin1').
    ("_codecs", "encode"),
    ("codecs", "encode"),
];

const NUMPY: &[(&str, &str)] = &[
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy", "matrix"),
    ("numpy", "recarray"),
    ("numpy", "record"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.records", "recarray"),
    ("numpy._core.records", "recarray"),
    ("numpy.matrixlib.defmatrix", "matrix"),
    ("numpy.ma.core", "_mareconstruct"),
    ("numpy.ma.core", "MaskedArray"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random.mtrand", "RandomState"),
    ("numpy.random._generator", "Generator"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._pcg64", "PCG64DXSM"),
    ("numpy.random._philox", "Philox"),
    ("numpy.random._sfc64", "SFC64"),
    ("numpy.random.bit_generator", "SeedSequence"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
];

const TORCH: &[(&str, &str)] = &[
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor_v3"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._utils", "_rebuild_sparse_tensor"),
    ("torch._utils", "_rebuild_device_tensor_from_numpy"),
    ("torch._utils", "_rebuild_meta_tensor_no_storage"),
    ("torch._utils", "_rebuild_wrapper_subclass"),
    ("torch._utils", "_rebuild_qtensor"),
    ("torch._utils", "_rebuild_nested_tensor"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch.serialization", "_get_layout"),
    ("torch", "Size"),
    ("torch", "device"),
    ("torch", "Tensor"),
    ("torch._tensor", "Tensor"),
    ("torch.nn.parameter", "Parameter"),
    ("torch.nn.parameter", "Buffer"),
    ("torch.nn.parameter", "UninitializedParameter"),
    ("torch.storage", "UntypedStorage"),
    ("torch.storage", "TypedStorage"),
    ("torch.nn.modules.module", "_IncompatibleKeys"),
];

/// Names under `torch` that are storage classes, dtypes, layouts, memory
/// formats and quantisation schemes: values, not functions.
const TORCH_VALUES: &[&str] = &[
    "FloatStorage",
    "DoubleStorage",
    "HalfStorage",
    "BFloat16Storage",
    "LongStorage",
    "IntStorage",
    "ShortStorage",
    "CharStorage",
    "ByteStorage",
    "BoolStorage",
    "ComplexFloatStorage",
    "ComplexDoubleStorage",
    "QUInt8Storage",
    "QInt8Storage",
    "QInt32Storage",
    "QUInt4x2Storage",
    "QUInt2x4Storage",
    "UntypedStorage",
    "float32",
    "float",
    "float64",
    "double",
    "float16",
    "half",
    "bfloat16",
    "int8",
    "uint8",
    "int16",
    "short",
    "int32",
    "int",
    "int64",
    "long",
    "bool",
    "complex32",
    "complex64",
    "complex128",
    "cfloat",
    "cdouble",
    "chalf",
    "quint8",
    "qint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "uint16",
    "uint32",
    "uint64",
    "strided",
    "sparse_coo",
    "sparse_csr",
    "sparse_csc",
    "sparse_bsr",
    "sparse_bsc",
    "_mkldnn",
    "jagged",
    "contiguous_format",
    "channels_last",
    "channels_last_3d",
    "preserve_format",
    "per_tensor_affine",
    "per_channel_affine",
    "per_tensor_symmetric",
    "per_channel_symmetric",
    "per_channel_affine_float_qparams",
];

/// Exact names generated from the real packages by
/// scripts/gen-scan-allowlist.sh: `PROFILE MODULE NAME` a line.
const GENERATED: &str = include_str!("allow-generated.txt");

/// Exact torch layer classes generated from PyTorch's own sources by
/// scripts/gen-torch-allowlist.sh: `torch MODULE NAME` a line.
const GENERATED_TORCH: &str = include_str!("allow-torch.txt");

/// A set of exact (module, name) pairs.
type Names = HashSet<(&'static str, &'static str)>;

/// The generated names, by profile.
struct Generated {
    numpy: Names,
    sklearn: Names,
    torch: Names,
}

fn generated() -> &'static Generated {
    static SETS: OnceLock<Generated> = OnceLock::new();
    SETS.get_or_init(|| {
        let mut g = Generated {
            numpy: HashSet::new(),
            sklearn: HashSet::new(),
            torch: HashSet::new(),
        };
        for line in GENERATED.lines().chain(GENERATED_TORCH.lines()) {
            let mut it = line.split(' ');
            match (it.next(), it.next(), it.next()) {
                (Some("numpy"), Some(m), Some(n)) => {
                    g.numpy.insert((m, n));
                }
                (Some("sklearn"), Some(m), Some(n)) => {
                    g.sklearn.insert((m, n));
                }
                (Some("torch"), Some(m), Some(n)) => {
                    g.torch.insert((m, n));
                }
                _ => {}
            }
        }
        g
    })
}

/// Whether `module.name` is allowed under `profile`.
pub(crate) fn allowed(profile: Profile, module: &str, name: &str) -> bool {
    let hit = |list: &[(&str, &str)]| list.iter().any(|&(m, n)| m == module && n == name);
    if hit(STANDARD) {
        return true;
    }
    if profile.numpy() && (hit(NUMPY) || generated().numpy.contains(&(module, name))) {
        return true;
    }
    if profile.torch() {
        if hit(TORCH) {
            return true;
        }
        if module == "torch" && TORCH_VALUES.contains(&name) {
            return true;
        }
        // Whole modules saved with torch.save(model): the layer classes
        // torch defines, by exact name (a capitalised name imported into a
        // layer module, such as `OrderedDict`, is not one of them).
        if generated().torch.contains(&(module, name)) {
            return true;
        }
    }
    profile.sklearn() && generated().sklearn.contains(&(module, name))
}

/// NumPy's ufunc reconstructor imports `module` and reads `name` from it: a
/// resolver, allowed only for NumPy's own ufuncs.
pub(crate) fn is_ufunc_reconstructor(module: &str, name: &str) -> bool {
    matches!(
        module,
        "numpy.core._ufunc_config"
            | "numpy.core"
            | "numpy._core"
            | "numpy.core.multiarray"
            | "numpy._core.multiarray"
            | "numpy._core._ufunc_config"
            | "numpy.core._internal"
            | "numpy._core._internal"
    ) && name == "_ufunc_reconstruct"
}

/// `functools.partial`: allowed only around a callable that is allowed
/// itself (checked where it is called and where its state is set).
pub(crate) fn is_partial(module: &str, name: &str) -> bool {
    matches!(module, "functools" | "_functools") && name == "partial"
}

/// How bad a name that is not allowed is known to be, and why.
pub(crate) struct Verdict {
    pub rule: &'static str,
    pub severity: Severity,
    pub why: &'static str,
}

/// Deny list: (module or module prefix, optional name, rule, severity, why).
/// `None` as name means every name in the module (and its submodules).
const DENY: &[(&str, Option<&str>, &str, Severity, &str)] = &[
    (
        "os",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "runs operating-system commands or touches the file system",
    ),
    (
        "posix",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "runs operating-system commands (os on POSIX)",
    ),
    (
        "nt",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "runs operating-system commands (os on Windows)",
    ),
    (
        "subprocess",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "starts processes",
    ),
    (
        "_posixsubprocess",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "starts processes",
    ),
    (
        "pty",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "spawns a shell",
    ),
    (
        "commands",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "runs shell commands (Python 2 name of subprocess helpers)",
    ),
    (
        "builtins",
        Some("eval"),
        "pickle.code-execution",
        Severity::Critical,
        "evaluates Python source",
    ),
    (
        "builtins",
        Some("exec"),
        "pickle.code-execution",
        Severity::Critical,
        "executes Python source",
    ),
    (
        "builtins",
        Some("compile"),
        "pickle.code-execution",
        Severity::Critical,
        "compiles Python source",
    ),
    (
        "builtins",
        Some("__import__"),
        "pickle.importer",
        Severity::Critical,
        "imports any module by name",
    ),
    (
        "builtins",
        Some("getattr"),
        "pickle.attribute-access",
        Severity::Critical,
        "reads any attribute by name (reaches os.system from any module)",
    ),
    (
        "builtins",
        Some("setattr"),
        "pickle.attribute-access",
        Severity::Critical,
        "overwrites any attribute by name",
    ),
    (
        "builtins",
        Some("delattr"),
        "pickle.attribute-access",
        Severity::Critical,
        "deletes any attribute by name",
    ),
    (
        "builtins",
        Some("globals"),
        "pickle.attribute-access",
        Severity::Critical,
        "exposes module globals",
    ),
    (
        "builtins",
        Some("locals"),
        "pickle.attribute-access",
        Severity::Critical,
        "exposes local variables",
    ),
    (
        "builtins",
        Some("vars"),
        "pickle.attribute-access",
        Severity::Critical,
        "exposes an object's namespace",
    ),
    (
        "builtins",
        Some("open"),
        "pickle.filesystem",
        Severity::Critical,
        "opens files for reading or writing",
    ),
    (
        "builtins",
        Some("breakpoint"),
        "pickle.code-execution",
        Severity::Critical,
        "starts a debugger",
    ),
    (
        "builtins",
        Some("input"),
        "pickle.code-execution",
        Severity::High,
        "reads from the terminal",
    ),
    (
        "builtins",
        Some("print"),
        "pickle.code-execution",
        Severity::Medium,
        "writes to the terminal",
    ),
    (
        "builtins",
        Some("exit"),
        "pickle.code-execution",
        Severity::High,
        "ends the process",
    ),
    (
        "builtins",
        Some("quit"),
        "pickle.code-execution",
        Severity::High,
        "ends the process",
    ),
    (
        "builtins",
        Some("type"),
        "pickle.code-execution",
        Severity::High,
        "creates classes at load time",
    ),
    (
        "builtins",
        None,
        "pickle.not-allowed",
        Severity::High,
        "a built-in beyond the plain constructors",
    ),
    (
        "runpy",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "runs Python modules and files",
    ),
    (
        "code",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "an interactive interpreter that runs source",
    ),
    (
        "codeop",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "compiles Python source",
    ),
    (
        "timeit",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "executes the statement it is given",
    ),
    (
        "pdb",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "a debugger that runs statements",
    ),
    (
        "bdb",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "a debugger that runs statements",
    ),
    (
        "cProfile",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "a profiler that executes the statement it is given",
    ),
    (
        "profile",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "a profiler that executes the statement it is given",
    ),
    (
        "trace",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "a tracer that executes the code it is given",
    ),
    (
        "doctest",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "executes examples as code",
    ),
    (
        "idlelib",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "IDLE's runners execute code",
    ),
    (
        "lib2to3",
        None,
        "pickle.code-execution",
        Severity::High,
        "reads and rewrites source files",
    ),
    (
        "pip",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "installs and runs packages",
    ),
    (
        "ensurepip",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "installs and runs pip",
    ),
    (
        "setuptools",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "builds and runs setup scripts",
    ),
    (
        "distutils",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "spawns compilers and runs setup code",
    ),
    (
        "venv",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "creates environments and runs pip",
    ),
    (
        "asyncio",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "its subprocess transports start processes",
    ),
    (
        "multiprocessing",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "starts processes and unpickles their messages",
    ),
    (
        "concurrent",
        None,
        "pickle.code-execution",
        Severity::High,
        "runs callables in workers",
    ),
    (
        "threading",
        None,
        "pickle.code-execution",
        Severity::High,
        "runs callables in threads",
    ),
    (
        "_thread",
        None,
        "pickle.code-execution",
        Severity::High,
        "runs callables in threads",
    ),
    (
        "signal",
        None,
        "pickle.code-execution",
        Severity::High,
        "installs signal handlers",
    ),
    (
        "sys",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "changes the interpreter (modules, paths, hooks)",
    ),
    (
        "gc",
        None,
        "pickle.code-execution",
        Severity::High,
        "reaches every live object",
    ),
    (
        "ctypes",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "calls native code",
    ),
    (
        "_ctypes",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "calls native code",
    ),
    (
        "cffi",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "calls native code",
    ),
    (
        "marshal",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "loads code objects",
    ),
    (
        "types",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "builds functions and code objects",
    ),
    (
        "importlib",
        None,
        "pickle.importer",
        Severity::Critical,
        "imports any module by name",
    ),
    (
        "imp",
        None,
        "pickle.importer",
        Severity::Critical,
        "imports any module by name",
    ),
    (
        "zipimport",
        None,
        "pickle.importer",
        Severity::Critical,
        "imports code from archives",
    ),
    (
        "pkgutil",
        None,
        "pickle.importer",
        Severity::Critical,
        "resolve_name imports and reads any attribute by a dotted name",
    ),
    (
        "pydoc",
        None,
        "pickle.importer",
        Severity::Critical,
        "locate imports any object by a dotted name; pipepager runs commands",
    ),
    (
        "inspect",
        None,
        "pickle.attribute-access",
        Severity::Critical,
        "getattr_static reads any attribute by name",
    ),
    (
        "site",
        None,
        "pickle.importer",
        Severity::Critical,
        "executes .pth files and changes import paths",
    ),
    (
        "operator",
        None,
        "pickle.attribute-access",
        Severity::Critical,
        "attrgetter, itemgetter and methodcaller reach and call attributes by name",
    ),
    (
        "_operator",
        None,
        "pickle.attribute-access",
        Severity::Critical,
        "attrgetter, itemgetter and methodcaller reach and call attributes by name",
    ),
    (
        "functools",
        None,
        "pickle.indirect-call",
        Severity::High,
        "partial and reduce call other callables",
    ),
    (
        "_functools",
        None,
        "pickle.indirect-call",
        Severity::High,
        "partial and reduce call other callables",
    ),
    (
        "itertools",
        None,
        "pickle.indirect-call",
        Severity::Medium,
        "starmap and kin call other callables",
    ),
    (
        "copyreg",
        None,
        "pickle.indirect-call",
        Severity::High,
        "registers reducers and constructors",
    ),
    (
        "logging.config",
        None,
        "pickle.factory",
        Severity::Critical,
        "dictConfig calls any factory named by a '()' key",
    ),
    (
        "logging",
        None,
        "pickle.filesystem",
        Severity::High,
        "handlers open files and sockets",
    ),
    (
        "pickle",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "unpickles nested data (a second, unscanned pickle)",
    ),
    (
        "_pickle",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "unpickles nested data (a second, unscanned pickle)",
    ),
    (
        "cPickle",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "unpickles nested data",
    ),
    (
        "dill",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "unpickles code and nested data",
    ),
    (
        "cloudpickle",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "unpickles code and nested data",
    ),
    (
        "shelve",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "unpickles stored data",
    ),
    (
        "joblib",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "joblib.load unpickles nested files",
    ),
    (
        "numpy.load",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "numpy.load can unpickle object arrays",
    ),
    (
        "numpy",
        Some("load"),
        "pickle.nested-loader",
        Severity::Critical,
        "numpy.load can unpickle object arrays",
    ),
    (
        "numpy.lib.npyio",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "numpy.load can unpickle object arrays",
    ),
    (
        "numpy.lib._npyio_impl",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "numpy.load can unpickle object arrays",
    ),
    (
        "numpy.lib.format",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "read_array can unpickle object arrays",
    ),
    (
        "numpy.f2py",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "compiles and runs code",
    ),
    (
        "numpy.distutils",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "spawns compilers",
    ),
    (
        "numpy.testing",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "runstring executes source",
    ),
    (
        "numpy.ctypeslib",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "loads native libraries",
    ),
    (
        "numpy",
        Some("fromfile"),
        "pickle.filesystem",
        Severity::High,
        "reads files",
    ),
    (
        "numpy",
        Some("save"),
        "pickle.filesystem",
        Severity::High,
        "writes files",
    ),
    (
        "numpy",
        Some("savetxt"),
        "pickle.filesystem",
        Severity::High,
        "writes files",
    ),
    (
        "numpy",
        Some("loadtxt"),
        "pickle.filesystem",
        Severity::High,
        "reads files",
    ),
    (
        "numpy",
        Some("genfromtxt"),
        "pickle.filesystem",
        Severity::High,
        "reads files",
    ),
    (
        "torch",
        Some("load"),
        "pickle.nested-loader",
        Severity::Critical,
        "torch.load unpickles nested files",
    ),
    (
        "torch.serialization",
        None,
        "pickle.nested-loader",
        Severity::Critical,
        "torch.serialization loads nested files",
    ),
    (
        "torch.jit",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "loads and runs TorchScript",
    ),
    (
        "torch.hub",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "downloads and runs code",
    ),
    (
        "torch.package",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "imports packaged code",
    ),
    (
        "torch.utils.cpp_extension",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "compiles and loads native code",
    ),
    (
        "torch.distributed",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "remote procedure calls",
    ),
    (
        "torch._dynamo",
        None,
        "pickle.code-execution",
        Severity::High,
        "compiles and runs code",
    ),
    (
        "torch._inductor",
        None,
        "pickle.code-execution",
        Severity::High,
        "compiles and runs code",
    ),
    (
        "torch.ops",
        None,
        "pickle.code-execution",
        Severity::High,
        "calls registered operators",
    ),
    (
        "torch.classes",
        None,
        "pickle.code-execution",
        Severity::High,
        "calls registered classes",
    ),
    (
        "shutil",
        None,
        "pickle.filesystem",
        Severity::Critical,
        "copies, moves and deletes files",
    ),
    (
        "tempfile",
        None,
        "pickle.filesystem",
        Severity::High,
        "creates files",
    ),
    (
        "glob",
        None,
        "pickle.filesystem",
        Severity::Medium,
        "lists files",
    ),
    (
        "pathlib",
        None,
        "pickle.filesystem",
        Severity::High,
        "reads, writes and deletes files",
    ),
    (
        "io",
        None,
        "pickle.filesystem",
        Severity::High,
        "opens files",
    ),
    (
        "_io",
        None,
        "pickle.filesystem",
        Severity::High,
        "opens files",
    ),
    (
        "codecs",
        None,
        "pickle.filesystem",
        Severity::High,
        "codecs.open opens files",
    ),
    (
        "fileinput",
        None,
        "pickle.filesystem",
        Severity::High,
        "reads files",
    ),
    (
        "linecache",
        None,
        "pickle.filesystem",
        Severity::High,
        "reads files",
    ),
    (
        "zipfile",
        None,
        "pickle.filesystem",
        Severity::High,
        "reads and writes archives",
    ),
    (
        "tarfile",
        None,
        "pickle.filesystem",
        Severity::High,
        "extracts archives (path traversal)",
    ),
    (
        "socket",
        None,
        "pickle.network",
        Severity::Critical,
        "opens network connections",
    ),
    (
        "_socket",
        None,
        "pickle.network",
        Severity::Critical,
        "opens network connections",
    ),
    (
        "ssl",
        None,
        "pickle.network",
        Severity::High,
        "opens network connections",
    ),
    (
        "http",
        None,
        "pickle.network",
        Severity::High,
        "makes HTTP requests or serves",
    ),
    (
        "urllib",
        None,
        "pickle.network",
        Severity::High,
        "fetches URLs",
    ),
    (
        "requests",
        None,
        "pickle.network",
        Severity::High,
        "makes HTTP requests",
    ),
    (
        "httpx",
        None,
        "pickle.network",
        Severity::High,
        "makes HTTP requests",
    ),
    (
        "aiohttp",
        None,
        "pickle.network",
        Severity::High,
        "makes HTTP requests",
    ),
    (
        "ftplib",
        None,
        "pickle.network",
        Severity::High,
        "opens FTP connections",
    ),
    (
        "smtplib",
        None,
        "pickle.network",
        Severity::High,
        "sends mail",
    ),
    (
        "telnetlib",
        None,
        "pickle.network",
        Severity::High,
        "opens telnet connections",
    ),
    (
        "poplib",
        None,
        "pickle.network",
        Severity::High,
        "opens mail connections",
    ),
    (
        "imaplib",
        None,
        "pickle.network",
        Severity::High,
        "opens mail connections",
    ),
    (
        "xmlrpc",
        None,
        "pickle.network",
        Severity::High,
        "makes remote calls",
    ),
    (
        "socketserver",
        None,
        "pickle.network",
        Severity::High,
        "serves on the network",
    ),
    (
        "webbrowser",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "starts a browser (runs a command)",
    ),
    (
        "uuid",
        Some("_get_command_stdout"),
        "pickle.code-execution",
        Severity::Critical,
        "runs a command",
    ),
    (
        "_osx_support",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "runs commands",
    ),
    (
        "platform",
        None,
        "pickle.code-execution",
        Severity::High,
        "runs commands to probe the system",
    ),
    (
        "ctypes.util",
        None,
        "pickle.code-execution",
        Severity::Critical,
        "runs commands to find libraries",
    ),
    (
        "__main__",
        None,
        "pickle.not-allowed",
        Severity::Medium,
        "a class of the script that saved the file: its code runs when it loads",
    ),
];

/// The verdict for a name that is not allowed.
pub(crate) fn verdict(module: &str, name: &str) -> Verdict {
    // Attribute paths (protocol 4 resolves "a.b.c" by getattr): any step
    // through a dunder or a dangerous name is critical.
    if name.contains('.') {
        for part in name.split('.') {
            if part.starts_with("__") && part.ends_with("__")
                || matches!(
                    part,
                    "system"
                        | "popen"
                        | "Popen"
                        | "exec"
                        | "eval"
                        | "os"
                        | "subprocess"
                        | "builtins"
                        | "sys"
                        | "getattr"
                        | "import_module"
                )
            {
                return Verdict {
                    rule: "pickle.attribute-access",
                    severity: Severity::Critical,
                    why: "an attribute path that reaches code execution or interpreter internals",
                };
            }
        }
    }
    let mut best: Option<(usize, Verdict)> = None;
    for &(m, n, rule, severity, why) in DENY {
        let module_hit =
            module == m || module.starts_with(m) && module.as_bytes().get(m.len()) == Some(&b'.');
        if !module_hit {
            continue;
        }
        let specificity = match n {
            Some(n)
                if n == name
                    || name.starts_with(n) && name.as_bytes().get(n.len()) == Some(&b'.') =>
            {
                m.len() + 1000
            }
            Some(_) => continue,
            None => m.len(),
        };
        if best.as_ref().is_none_or(|(s, _)| specificity > *s) {
            best = Some((
                specificity,
                Verdict {
                    rule,
                    severity,
                    why,
                },
            ));
        }
    }
    best.map(|(_, v)| v).unwrap_or(Verdict {
        rule: "pickle.not-allowed",
        severity: Severity::Medium,
        why: "not on the allow list: importing it runs that module's code, and calling it runs its own",
    })
}

/// The names `find_class` imports for a protocol 0–2 stream: Python 2
/// names mapped as `fix_imports` does (NAME_MAPPING, then IMPORT_MAPPING).
pub(crate) fn py3_name(module: &str, name: &str) -> (String, String) {
    if let Some((_, (m, n))) = crate::compat::NAME_MAPPING
        .iter()
        .find(|((m, n), _)| *m == module && *n == name)
    {
        return (m.to_string(), n.to_string());
    }
    if let Some((_, m)) = crate::compat::IMPORT_MAPPING
        .iter()
        .find(|(m, _)| *m == module)
    {
        return (m.to_string(), name.to_string());
    }
    (module.to_string(), name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_types_are_allowed_everywhere() {
        for p in [
            Profile::Strict,
            Profile::Numpy,
            Profile::Torch,
            Profile::Sklearn,
            Profile::Auto,
        ] {
            assert!(allowed(p, "collections", "OrderedDict"));
            assert!(!allowed(p, "os", "system"));
        }
    }

    /// Torch layers are exact generated names: the layers torch defines
    /// (including ones only built inside others, such as attention's
    /// output projection), never any capitalised name under
    /// `torch.nn.modules`.
    #[test]
    fn torch_layers_are_exact_names() {
        for (m, n) in [
            ("torch.nn.modules.linear", "Linear"),
            ("torch.nn.modules.linear", "NonDynamicallyQuantizableLinear"),
            ("torch.nn.modules.activation", "MultiheadAttention"),
            ("torch.nn.modules.container", "Sequential"),
            ("torch.nn.modules.normalization", "RMSNorm"),
            ("torch.nn.modules.module", "Module"),
        ] {
            assert!(allowed(Profile::Torch, m, n), "{m}.{n}");
            assert!(!allowed(Profile::Sklearn, m, n), "{m}.{n}");
        }
        for (m, n) in [
            ("torch.nn.modules.module", "OrderedDict"),
            ("torch.nn.modules.module", "Callable"),
            ("torch.nn.modules.linear", "Evil"),
            ("torch.nn.modules.linear", "Linear.__init__"),
            ("torch.nn.modules.evil", "Linear"),
        ] {
            assert!(!allowed(Profile::Torch, m, n), "{m}.{n}");
        }
        assert!(
            generated().torch.len() >= 150,
            "{}",
            generated().torch.len()
        );
    }

    #[test]
    fn profiles_differ() {
        assert!(allowed(
            Profile::Torch,
            "torch._utils",
            "_rebuild_tensor_v2"
        ));
        assert!(!allowed(
            Profile::Sklearn,
            "torch._utils",
            "_rebuild_tensor_v2"
        ));
        assert!(allowed(
            Profile::Sklearn,
            "sklearn.linear_model._logistic",
            "LogisticRegression"
        ));
        assert!(!allowed(
            Profile::Sklearn,
            "sklearn.datasets._svmlight_format_io",
            "dump_svmlight_file"
        ));
        assert!(!allowed(
            Profile::Sklearn,
            "sklearn.utils._testing",
            "TempMemmap"
        ));
        assert!(!allowed(Profile::Strict, "numpy", "ndarray"));
        // Exact names from the real packages, not naming patterns.
        for (m, n) in [
            ("numpy", "float64"),
            ("numpy", "log1p"),
            ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
            ("sklearn.metrics._dist_metrics", "newObj"),
            ("sklearn.metrics._dist_metrics", "EuclideanDistance64"),
            (
                "sklearn.ensemble._hist_gradient_boosting.binning",
                "_BinMapper",
            ),
            ("pandas.core.frame", "DataFrame"),
            ("pandas._libs.internals", "_unpickle_block"),
            ("scipy.sparse._csr", "csr_matrix"),
        ] {
            assert!(allowed(Profile::Auto, m, n), "{m}.{n}");
        }
        for (m, n) in [
            ("joblib.numpy_pickle_compat", "NDArrayWrapper"),
            ("joblib.numpy_pickle_compat", "ZNDArrayWrapper"),
            ("sklearn.datasets._base", "Path"),
            ("sklearn.utils", "Bunch2"),
            ("sklearn.externals._packaging.version", "Version"),
            ("numpy", "memmap"),
            ("pandas", "HDFStore"),
            ("pandas", "ExcelWriter"),
        ] {
            assert!(!allowed(Profile::Auto, m, n), "{m}.{n}");
        }
        assert!(allowed(
            Profile::Numpy,
            "numpy._core.multiarray",
            "_reconstruct"
        ));
    }

    #[test]
    fn deny_list_ranks() {
        assert_eq!(verdict("os", "system").severity, Severity::Critical);
        assert_eq!(verdict("posix", "system").rule, "pickle.code-execution");
        assert_eq!(
            verdict("builtins", "getattr").rule,
            "pickle.attribute-access"
        );
        assert_eq!(verdict("builtins", "reversed").severity, Severity::High);
        assert_eq!(
            verdict("logging.config", "dictConfig").rule,
            "pickle.factory"
        );
        assert_eq!(verdict("numpy", "load").rule, "pickle.nested-loader");
        assert_eq!(
            verdict("numpy.testing._private.utils", "runstring").severity,
            Severity::Critical
        );
        assert_eq!(verdict("mylib", "Thing").severity, Severity::Medium);
        assert_eq!(
            verdict("collections", "os.system").severity,
            Severity::Critical
        );
        assert_eq!(verdict("torch", "load").severity, Severity::Critical);
        assert_eq!(
            verdict("osx", "x").severity,
            Severity::Medium,
            "prefix match is by module path, not by text"
        );
    }
}
