"""What a global reached by a pickle does when loaded: dangerous, code by value, safe or unknown.

The tables name modules and attribute paths. "*" covers a whole module and its submodules; a name
covers itself and everything below it ("Popen" covers "Popen.communicate"). Dangerous entries win
over safe ones, so `torch.load` is dangerous although `torch` is safe.
"""

from __future__ import annotations

import _compat_pickle
import hashlib
import json
from dataclasses import dataclass

DANGEROUS = "dangerous"
CODE_BY_VALUE = "code_by_value"
SAFE = "safe"
UNKNOWN = "unknown"

# category: what a loader running it can do to the machine it runs on
CATEGORIES: dict[str, str] = {
    "process": "runs a program or a shell command",
    "code": "evaluates, compiles or runs Python code",
    "import": "imports a module named by a string",
    "filesystem": "removes, moves or writes files",
    "network": "opens network connections",
    "unpickle": "loads another pickle or serialized code",
    "interpreter": "changes the interpreter's state or reaches its internals",
    "native": "calls native code or raw memory",
    "unresolved": "a callable whose name is only known when the pickle runs",
}

_ALL = "*"
_OS_PROCESS = ("system", "popen", "execl", "execle", "execlp", "execlpe", "execv", "execve",
               "execvp", "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv",
               "spawnve", "spawnvp", "spawnvpe", "fork", "forkpty", "posix_spawn",
               "posix_spawnp", "startfile", "kill", "killpg")  # fmt: skip
_OS_FILES = ("remove", "unlink", "rmdir", "removedirs", "rename", "renames", "replace",
             "truncate", "ftruncate", "write", "pwrite", "writev", "open", "fdopen", "chmod",
             "lchmod", "fchmod", "chown", "lchown", "fchown", "link", "symlink", "mkdir",
             "makedirs", "mkfifo", "mknod", "utime", "chdir", "chroot")  # fmt: skip

# (module, names or "*", category): the first match wins, so specific entries come first.
_DANGEROUS: tuple[tuple[str, tuple[str, ...] | str, str], ...] = (
    *((m, _OS_PROCESS, "process") for m in ("os", "posix", "nt")),
    *((m, _OS_FILES, "filesystem") for m in ("os", "posix", "nt")),
    *((m, _ALL, "interpreter") for m in ("os", "posix", "nt")),  # environ, putenv, _exit...
    ("subprocess", _ALL, "process"), ("_posixsubprocess", _ALL, "process"),
    ("commands", _ALL, "process"), ("popen2", _ALL, "process"), ("pty", _ALL, "process"),
    ("platform", ("popen",), "process"), ("asyncio", _ALL, "process"),
    ("multiprocessing", _ALL, "process"), ("concurrent", _ALL, "process"),
    ("webbrowser", _ALL, "process"), ("pip", _ALL, "process"), ("ensurepip", _ALL, "process"),
    ("venv", _ALL, "process"), ("torch.utils.collect_env", ("run",), "process"),
    ("torch._inductor.codecache", ("compile_file",), "process"),
    ("builtins", ("eval", "exec", "compile", "execfile", "apply", "breakpoint", "input"), "code"),
    ("builtins", ("__import__", "reload"), "import"),
    ("builtins", ("open", "file"), "filesystem"),
    ("builtins", ("globals", "locals", "vars", "setattr", "delattr", "exit", "quit"),
     "interpreter"),
    ("runpy", _ALL, "code"), ("code", _ALL, "code"), ("codeop", _ALL, "code"),
    ("pdb", _ALL, "code"), ("bdb", _ALL, "code"), ("timeit", _ALL, "code"),
    ("cProfile", _ALL, "code"), ("profile", _ALL, "code"), ("trace", _ALL, "code"),
    ("doctest", _ALL, "code"), ("idlelib", _ALL, "code"), ("lib2to3", _ALL, "code"),
    ("numpy.testing._private.utils", _ALL, "code"),  # runstring() is exec()
    ("numpy.f2py", _ALL, "code"), ("numpy.distutils", _ALL, "process"),
    ("pandas", ("eval",), "code"), ("pandas.core.computation", _ALL, "code"),
    ("torch.jit.unsupported_tensor_ops", _ALL, "code"), ("torch._dynamo.guards", _ALL, "code"),
    ("torch.fx.experimental.symbolic_shapes", ("ShapeEnv",), "code"),
    ("torch.utils.bottleneck", _ALL, "code"),
    ("importlib", _ALL, "import"), ("imp", _ALL, "import"), ("pkgutil", _ALL, "import"),
    ("zipimport", _ALL, "import"), ("pydoc", _ALL, "import"),  # pydoc.locate imports by name
    ("shutil", _ALL, "filesystem"), ("tempfile", _ALL, "filesystem"),
    ("io", ("open", "open_code", "FileIO"), "filesystem"),
    ("_io", ("open", "open_code", "FileIO"), "filesystem"), ("codecs", ("open",), "filesystem"),
    ("fileinput", _ALL, "filesystem"), ("distutils", _ALL, "filesystem"),
    ("numpy", ("save", "savez", "savez_compressed", "savetxt", "tofile", "memmap"), "filesystem"),
    ("socket", _ALL, "network"), ("_socket", _ALL, "network"), ("ssl", _ALL, "network"),
    ("http", _ALL, "network"), ("httplib", _ALL, "network"), ("urllib", _ALL, "network"),
    ("urllib2", _ALL, "network"), ("requests", _ALL, "network"), ("httpx", _ALL, "network"),
    ("aiohttp", _ALL, "network"), ("ftplib", _ALL, "network"), ("smtplib", _ALL, "network"),
    ("telnetlib", _ALL, "network"), ("xmlrpc", _ALL, "network"), ("socketserver", _ALL, "network"),
    ("pickle", _ALL, "unpickle"), ("_pickle", _ALL, "unpickle"), ("cPickle", _ALL, "unpickle"),
    ("marshal", _ALL, "unpickle"), ("shelve", _ALL, "unpickle"), ("dill", ("load", "loads"),
     "unpickle"), ("cloudpickle", ("load", "loads"), "unpickle"),
    ("joblib", ("load",), "unpickle"), ("joblib.numpy_pickle", ("load",), "unpickle"),
    ("numpy", ("load",), "unpickle"), ("numpy.lib.npyio", ("load",), "unpickle"),
    ("numpy.lib._npyio_impl", ("load",), "unpickle"), ("pandas", ("read_pickle",), "unpickle"),
    ("pandas.io.pickle", _ALL, "unpickle"), ("torch", ("load",), "unpickle"),
    ("torch.serialization", ("load",), "unpickle"), ("torch.hub", _ALL, "unpickle"),
    ("torch.jit", ("load",), "unpickle"), ("torch.package", _ALL, "unpickle"),
    ("torch.utils._config_module", _ALL, "unpickle"),
    ("torch.utils.data.datapipes.utils.decoder", _ALL, "unpickle"),
    ("yaml", ("load", "load_all", "unsafe_load", "unsafe_load_all", "full_load"), "unpickle"),
    ("jsonpickle", _ALL, "unpickle"),
    ("sys", _ALL, "interpreter"), ("gc", _ALL, "interpreter"), ("inspect", _ALL, "interpreter"),
    ("atexit", _ALL, "interpreter"), ("signal", _ALL, "interpreter"),
    ("threading", _ALL, "interpreter"), ("_thread", _ALL, "interpreter"),
    ("ctypes", _ALL, "native"), ("_ctypes", _ALL, "native"), ("cffi", _ALL, "native"),
    ("numpy.ctypeslib", _ALL, "native"),
)  # fmt: skip

# Modules whose attributes, reached by a dotted name, are those dangerous modules themselves
# (numpy.testing._private.utils.os is os).
_DANGEROUS_MODULES = frozenset(m for m, names, _ in _DANGEROUS if names == _ALL and "." not in m)

# Attribute names that are dangerous on any object: what getattr on an unnamed object reaches.
_DANGEROUS_ATTRS: dict[str, str] = {
    **dict.fromkeys(("system", "popen", "spawn", "Popen", "check_output", "check_call",
                     "getoutput", "getstatusoutput", "run_path", "run_module"), "process"),
    **dict.fromkeys(("eval", "exec", "compile", "execfile", "runcode", "runsource",
                     "__code__", "__globals__", "__builtins__", "__subclasses__", "f_globals",
                     "gi_frame", "__reduce__", "__reduce_ex__"), "code"),
    **dict.fromkeys(("__import__", "import_module", "load_module", "exec_module", "locate",
                     "__loader__", "__spec__"), "import"),
    **dict.fromkeys(("rmtree", "remove", "unlink", "rmdir", "write", "write_text",
                     "write_bytes", "writelines", "truncate", "rename", "replace", "to_pickle",
                     "savefig", "to_csv", "to_parquet", "open"), "filesystem"),
    **dict.fromkeys(("urlopen", "urlretrieve", "connect", "create_connection", "request",
                     "sendall", "send"), "network"),
    **dict.fromkeys(("loads", "load", "Unpickler", "load_state_dict_from_url", "read_pickle"),
                    "unpickle"),
    **dict.fromkeys(("setattr", "__setattr__", "__setitem__", "__delattr__", "modules",
                     "__dict__", "environ", "putenv"), "interpreter"),
}  # fmt: skip

# What cloudpickle and dill use to rebuild functions and classes from their code.
_CODE_BY_VALUE: tuple[tuple[str, tuple[str, ...] | str], ...] = (
    ("cloudpickle", _ALL), ("dill", _ALL), ("srsly.cloudpickle", _ALL),
    ("types", ("CodeType", "FunctionType", "LambdaType", "CellType", "MethodType", "ModuleType",
               "new_class", "SimpleNamespace")),
)  # fmt: skip

_SAFE: tuple[tuple[str, tuple[str, ...] | str], ...] = (
    ("numpy", _ALL), ("pandas", _ALL), ("sklearn", _ALL), ("scipy", _ALL), ("torch", _ALL),
    ("xgboost", _ALL), ("lightgbm", _ALL), ("catboost", _ALL), ("joblib", _ALL),
    ("statsmodels", _ALL), ("skops", _ALL), ("mlflow", _ALL), ("pyarrow", _ALL),
    ("transformers", _ALL), ("tokenizers", _ALL), ("sentence_transformers", _ALL),
    ("keras", _ALL), ("tensorflow", _ALL), ("imblearn", _ALL), ("category_encoders", _ALL),
    ("prophet", _ALL), ("pytz", _ALL), ("dateutil", _ALL), ("zoneinfo", _ALL),
    ("collections", _ALL), ("datetime", _ALL), ("decimal", _ALL), ("fractions", _ALL),
    ("uuid", _ALL), ("enum", _ALL), ("pathlib", _ALL), ("re", _ALL), ("array", _ALL),
    ("copyreg", ("_reconstructor", "__newobj__", "__newobj_ex__")),
    ("_codecs", ("encode",)), ("codecs", ("encode",)), ("functools", ("partial", "reduce")),
    ("operator", ("itemgetter",)), ("typing", _ALL), ("numbers", _ALL), ("math", _ALL),
    ("builtins", ("object", "type", "set", "frozenset", "dict", "list", "tuple", "bytearray",
                  "bytes", "str", "int", "float", "complex", "bool", "slice", "range",
                  "NoneType", "Ellipsis", "NotImplemented", "print", "len", "min", "max",
                  "abs", "round", "sum", "sorted", "reversed", "enumerate", "zip", "map",
                  "filter", "property", "staticmethod", "classmethod", "super", "isinstance",
                  "issubclass", "hash", "id", "repr", "format", "iter", "next", "any", "all",
                  "frozenset", "memoryview", "ValueError", "TypeError", "KeyError",
                  "IndexError", "RuntimeError", "Exception")),
)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """A classification, its category (for dangerous ones) and why, in a few words."""

    verdict: str
    category: str | None
    reason: str


def _matches(entry: tuple[str, ...] | str, path: str) -> bool:
    return entry == _ALL or any(path == n or path.startswith(f"{n}.") for n in entry)


def _lookup(
    table: tuple[tuple[str, tuple[str, ...] | str, str], ...], module: str, path: str
) -> tuple[str, str] | None:
    """(table module, category) for the first entry covering module.path, submodules included."""
    for name, entry, category in table:
        if module == name and _matches(entry, path):
            return name, category
        if module.startswith(f"{name}.") and entry == _ALL:
            return name, category
    return None


def _covered(table: tuple[tuple[str, tuple[str, ...] | str], ...], module: str, path: str) -> bool:
    return _lookup(tuple((m, e, "") for m, e in table), module, path) is not None


def normalize(module: str, name: str) -> tuple[str, str]:
    """Python 2 spellings (`__builtin__.eval`, `copy_reg`) as the unpickler reads them."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _dangerous(module: str, name: str) -> tuple[str, str] | None:
    """(category, what matched) when module.name, or any module reached on its path, is dangerous."""
    if found := _lookup(_DANGEROUS, module, name):
        return found[1], f"{module}.{name}".rstrip(".")
    parts = name.split(".") if name else []
    # An attribute path can step into another module: numpy.testing._private.utils.os.system.
    for i, part in enumerate(parts):
        if part in _DANGEROUS_MODULES:
            rest = ".".join(parts[i + 1 :])
            found = _lookup(_DANGEROUS, part, rest)
            via = f"{part}.{rest}".rstrip(".")
            return (found[1] if found else "interpreter"), f"{via} (reached through {module})"
    return None


def classify(module: str, name: str, how: str) -> Verdict:  # noqa: PLR0911 - one verdict per rule
    """The verdict on one global use (`how` as in `GlobalUse.how`)."""
    module, name = normalize(module, name)
    if module == "?" or name == "?" or name.endswith(".?"):
        return Verdict(DANGEROUS, "unresolved", f"{how}: the name is computed when the pickle runs")
    if module == "<object>":
        last = name.rsplit(".", 1)[-1]
        if last in _DANGEROUS_ATTRS:
            return Verdict(DANGEROUS, _DANGEROUS_ATTRS[last], f"attribute {last} of an object")
        return Verdict(UNKNOWN, None, "an attribute of an object built by the pickle")
    if how == "import":  # cloudpickle imports os for a function that uses os.path: normal
        return Verdict(UNKNOWN, None, "a module imported by name; what is taken from it is judged")
    if found := _dangerous(module, name):
        category, what = found
        return Verdict(DANGEROUS, category, f"{what}: {CATEGORIES[category]}")
    last = name.rsplit(".", 1)[-1]
    if "." in name and last in _DANGEROUS_ATTRS:  # pathlib.Path.write_text, by getattr or name
        category = _DANGEROUS_ATTRS[last]
        return Verdict(DANGEROUS, category, f"{module}.{name}: {CATEGORIES[category]}")
    if _covered(_CODE_BY_VALUE, module, name):
        return Verdict(CODE_BY_VALUE, None, "rebuilds a function or class from its code")
    if _covered(_SAFE, module, name):
        return Verdict(SAFE, None, "a known reconstructor")
    if module == "builtins" and name in ("getattr",):
        return Verdict(UNKNOWN, None, "attribute lookup; what it reaches is judged on its own")
    return Verdict(UNKNOWN, None, "not in envrun's tables")


def tables_digest() -> str:
    """A digest of these tables, so cached verdicts expire when the tables change."""
    data = [_DANGEROUS, sorted(_DANGEROUS_ATTRS.items()), _CODE_BY_VALUE, _SAFE]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
