"""Pickle scan: what one file's pickles import, by a symbolic opcode walk that unpickles nothing.

Also the formats around the streams: zlib/gzip/bz2/xz/lzma, joblib's raw array data, torch's zip
and legacy formats, skops' JSON schema. ``envrun.pickles.preflight`` turns the results into findings;
``envrun.pickles.safety`` judges every recorded `GlobalUse` (where and how a callable is reached).
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import math
import pickletools
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast


@dataclass(frozen=True)
class PickleInfo:
    """What one pickled file references; `notes` say where the scan had to stop short."""

    path: str
    protocol: int | None
    modules: tuple[str, ...]
    globals: tuple[str, ...]
    error: str | None
    notes: tuple[str, ...] = ()


@dataclass
class GlobalUse:
    """One reference to a callable: where (archive member, byte offset), how named, how called.

    `how`: GLOBAL, INST, STACK_GLOBAL, STACK_GLOBAL computed (names built at load time), EXT
    (copyreg's extension registry), getattr / getattr computed (an attribute looked up by a call),
    import (a module imported by name), skops (a schema entry). `module` is "?" when unknowable,
    "<object>" for an attribute of an object the scan cannot name. Offsets count in the
    decompressed stream, inside `member` when the pickle is an archive member.
    """

    member: str
    offset: int | None
    module: str
    name: str
    how: str
    calls: dict[str, int] = field(default_factory=dict)  # opcode: offset of its first call
    count: int = 0  # calls in all


@dataclass(frozen=True)
class PickleWalk:
    """`PickleInfo` plus every global use the walk recorded, in stream order."""

    info: PickleInfo
    uses: tuple[GlobalUse, ...]
    incomplete: bool  # the walk stopped before the end for a reason of ours (lz4, unknown sizes)


# --- the symbolic pickle machine ---------------------------------------------------------------

_BIG_ARG = 1 << 20
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_OPAQUE: Any = object()


class _Corrupt(Exception):
    """The bytes are not a pickle stream; the message says where."""


class _Incomplete(Exception):
    """The scan stopped early for a reason of ours, not the file's."""


@dataclass(frozen=True)
class _Global:
    module: str
    name: str
    use: int = field(default=-1, compare=False, hash=False)  # index into _Scan.uses


@dataclass(eq=False)
class _Made:
    """An object the unpickler would build: its callable or class, args, and BUILD state."""

    cls: Any
    args: Any
    state: Any = None


_JOBLIB_WRAPPERS = {_Global(m, "NumpyArrayWrapper") for m in
                    ("joblib.numpy_pickle", "sklearn.externals.joblib.numpy_pickle")}  # fmt: skip
_RECONSTRUCTORS = {_Global("copyreg", "_reconstructor"), _Global("copy_reg", "_reconstructor")}
_GETATTR = {_Global(m, "getattr") for m in ("builtins", "__builtin__")}
# operator.attrgetter("a")(obj) and methodcaller("a", ...)(obj) reach obj.a as getattr does.
_GETTERS = {
    _Global(m, n) for m in ("operator", "_operator") for n in ("attrgetter", "methodcaller")
}
# Callables that import a module named by a string at load time (cloudpickle by value, dill).
_IMPORTERS = {_Global(m, n) for m, n in (
    ("cloudpickle.cloudpickle", "subimport"), ("cloudpickle.cloudpickle", "dynamic_subimport"),
    ("cloudpickle.cloudpickle_fast", "subimport"), ("dill._dill", "_import_module"),
    ("importlib", "import_module"), ("builtins", "__import__"))}  # fmt: skip


def _sized(fmt: str, decode: str | None) -> Callable[[IO[bytes]], Any]:
    """A reader for a length-prefixed payload that skips big ones (array data) unread."""

    def read(f: IO[bytes]) -> Any:
        (size,) = struct.unpack(fmt, f.read(struct.calcsize(fmt)))
        if size < 0 or size > _BIG_ARG:
            _skip(f, max(size, 0))
            return _OPAQUE
        data = f.read(size)
        if len(data) < size:
            raise ValueError(f"expected {size} bytes, found {len(data)}")
        return data.decode(decode, "surrogatepass") if decode else data

    return read


_READERS = {
    "BINSTRING": _sized("<i", "latin-1"), "BINBYTES": _sized("<I", None),
    "BINUNICODE": _sized("<I", "utf-8"), "BINBYTES8": _sized("<Q", None),
    "BINUNICODE8": _sized("<Q", "utf-8"), "BYTEARRAY8": _sized("<Q", None),
    "LONG4": _sized("<i", None),  # a huge integer's value never matters here
}  # fmt: skip


def _skip(f: IO[bytes], size: int) -> None:
    if f.seekable():
        f.seek(size, io.SEEK_CUR)
    while not f.seekable() and size > 0 and (chunk := f.read(min(size, 1 << 20))):
        size -= len(chunk)


class _Scan:
    """What every pickle stream of one file references."""

    def __init__(self) -> None:
        self.protocol: int | None = None
        self.globals: set[tuple[str, str]] = set()
        self.modules: set[str] = set()
        self.notes: list[str] = []
        self.joblib = False  # dict contents are tracked only once a joblib wrapper appears
        self.uses: list[GlobalUse] = []
        self.member = ""  # the archive member being walked

    def stream(self, f: IO[bytes]) -> Any:
        """Walk one pickle stream up to STOP; return its symbolic top-level value."""
        machine = _Machine(self, f)
        result = machine.run()
        proto = machine.proto if machine.proto is not None else machine.highest
        self.protocol = proto if self.protocol is None else max(self.protocol, proto)
        return result


class _Machine:
    """The pickle VM run symbolically: strings, numbers and tuples are real, objects opaque."""

    def __init__(self, scan: _Scan, f: IO[bytes]) -> None:
        self.scan, self.f = scan, f
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.proto: int | None = None
        self.highest = 0
        self.pos = 0  # where the current opcode starts; kept only for the opcodes that use it

    def run(self) -> Any:
        read, stack = self.f.read, self.stack
        while True:
            code = read(1)
            entry = _TABLE.get(code)
            if entry is None:
                detail = f"unknown opcode {code!r}" if code else "the data ends before STOP"
                raise _Corrupt(f"opcode error at byte {self.f.tell() - len(code)}: {detail}")
            op, reader, handler, tracked = entry
            if tracked:
                self.pos = self.f.tell() - 1
            if self.proto is None and op.proto > self.highest:  # protocols 0-1 have no PROTO
                self.highest = op.proto
            try:
                arg = reader(self.f) if reader else None
            except (ValueError, struct.error) as exc:
                raise _Corrupt(f"opcode error at byte {self.f.tell()}: {exc}") from None
            if handler is None:
                stack.append(arg)
            elif handler is _stop:
                return stack.pop() if stack else _OPAQUE
            else:
                handler(self, arg)

    def pop(self) -> Any:
        return self.stack.pop() if self.stack else _OPAQUE

    def popn(self, n: int) -> list[Any]:
        return [self.pop() for _ in range(n)][::-1]

    def top(self) -> Any:
        return self.stack[-1] if self.stack else _OPAQUE

    def pop_mark(self) -> list[Any]:
        at = min(self.marks.pop() if self.marks else 0, len(self.stack))
        items = self.stack[at:]
        del self.stack[at:]
        return items

    def record(self, module: str, name: str, how: str) -> _Global:
        """A callable reached at the current opcode, recorded for the safety scan."""
        self.scan.uses.append(GlobalUse(self.scan.member, self.pos, module, name, how))
        return _Global(module, name, len(self.scan.uses) - 1)

    def called(self, target: Any, opcode: str) -> None:
        if isinstance(target, _Global) and target.use >= 0:
            use = self.scan.uses[target.use]
            use.calls.setdefault(opcode, self.pos)
            use.count += 1

    def glob(self, module: Any, name: Any, how: str = "STACK_GLOBAL") -> Any:
        if not (isinstance(module, str) and isinstance(name, str)):
            self.scan.notes.append("a global is named by a computed value; it is not listed")
            return self.record(_text(module), _text(name), f"{how} computed")
        self.scan.globals.add((module, name))
        self.scan.modules.add(module)
        found = self.record(module, name, how)
        self.scan.joblib = self.scan.joblib or found in _JOBLIB_WRAPPERS
        return found

    def inst(self, module: str, name: str) -> None:
        cls = self.glob(module, name, "INST")
        self.called(cls, "INST")
        self.stack.append(_Made(cls, tuple(self.pop_mark())))

    def fill(self, items: list[Any]) -> None:
        target = self.top()
        if self.scan.joblib and isinstance(target, dict):  # only string keys matter (and hash)
            pairs = zip(items[::2], items[1::2], strict=False)
            target.update((key, value) for key, value in pairs if isinstance(key, str))

    def reduce(self, func: Any, args: Any) -> None:
        self.called(func, "REDUCE")
        known = func if isinstance(func, _Global) else None
        first = args[0] if isinstance(args, tuple) and args else _OPAQUE
        if known in _IMPORTERS and isinstance(first, str):
            self.scan.modules.add(first)
            self.stack.append(self.record(first, "", "import"))  # the module object itself
            return
        if known in _GETATTR and isinstance(args, tuple) and len(args) >= 2:
            self.stack.append(self.attribute(args[0], args[1]))
            return
        if isinstance(func, _Made) and func.cls in _GETTERS:
            name = func.args[0] if isinstance(func.args, tuple) and func.args else _OPAQUE
            found = self.attribute(first, name)
            if func.cls.name == "methodcaller":
                self.called(found, "REDUCE")
            self.stack.append(_Made(found, args))
            return
        if known in _RECONSTRUCTORS and isinstance(args, tuple) and args:
            func = args[0]  # protocols 0-1 build plain instances through copyreg._reconstructor
            self.called(func, "REDUCE")
        self.stack.append(_Made(func, args))

    def attribute(self, target: Any, name: Any) -> _Global:
        """getattr(target, name): a module's or class's attribute by path, else an object's."""
        if isinstance(target, _Global):
            module, path = target.module, target.name
        elif isinstance(target, _Made) and isinstance(target.cls, _Global):
            module, path = "<object>", f"{target.cls.module}.{target.cls.name}()"
        else:
            module, path = "<object>", ""
        if not isinstance(name, str):
            return self.record(module, f"{path}.?" if path else "?", "getattr computed")
        return self.record(module, f"{path}.{name}" if path else name, "getattr")

    def build(self, state: Any) -> None:
        obj = self.top()
        if isinstance(obj, _Made):
            self.called(obj.cls, "BUILD")  # __setstate__, when the class defines one
            obj.state = state
            if isinstance(obj.cls, _Global) and obj.cls in _JOBLIB_WRAPPERS:
                self.joblib_array(state)

    def joblib_array(self, state: Any) -> None:
        # joblib writes a numpy array's raw bytes right after its wrapper's BUILD opcode.
        size = _joblib_array_size(state)
        if size is None:
            raise _Incomplete(
                "stopped at a joblib array of unknown size; later objects are not listed"
            )
        nbytes, padded, objects = size
        if objects:  # object arrays follow as a nested pickle stream
            self.scan.stream(self.f)
            return
        if padded:
            _skip(self.f, (self.f.read(1) or b"\0")[0])
        _skip(self.f, nbytes)

    def generic(self, op: pickletools.OpcodeInfo) -> None:
        """PERSID, lists, sets, buffers: keep the stack's shape, values opaque."""
        before = list(op.stack_before)
        if pickletools.markobject in before:
            self.pop_mark()
            before = before[: before.index(pickletools.markobject)]
        self.popn(len(before))
        self.stack.extend(_OPAQUE for _ in op.stack_after)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "?"


def _stop(machine: _Machine, arg: Any) -> None:
    raise AssertionError("STOP is handled by _Machine.run")  # pragma: no cover


def _split(arg: str) -> tuple[str, str]:
    module, _, name = arg.partition(" ")  # pickletools joins GLOBAL's two lines with a space
    return module, name


def _put(machine: _Machine, index: int) -> None:
    machine.memo[index] = machine.top()


def _get(machine: _Machine, index: int) -> None:
    machine.stack.append(machine.memo.get(index, _OPAQUE))


def _set_proto(machine: _Machine, arg: int) -> None:
    machine.proto = arg if machine.proto is None else machine.proto


def _dict(machine: _Machine, _: Any) -> None:
    items = machine.pop_mark()
    machine.stack.append({})
    machine.fill(items)


def _obj(machine: _Machine, _: Any) -> None:
    items = machine.pop_mark()
    if items:
        machine.called(items[0], "OBJ")
    machine.stack.append(_Made(items[0], tuple(items[1:])) if items else _OPAQUE)


def _newobj(machine: _Machine, args: list[Any]) -> None:
    machine.called(args[0], "NEWOBJ")
    machine.stack.append(_Made(args[0], args[1]))


def _ext(machine: _Machine, code: Any) -> None:
    # The callable comes from the loading process's copyreg registry, which nothing here can see.
    machine.stack.append(machine.record("?", f"extension code {code}", "EXT"))


_Handler = Callable[[_Machine, Any], object]
_HANDLERS: dict[str, _Handler] = {
    "STOP": _stop, "PROTO": _set_proto, "FRAME": lambda m, a: None,
    "MARK": lambda m, a: m.marks.append(len(m.stack)), "EMPTY_TUPLE": lambda m, a: m.stack.append(()),
    "EMPTY_DICT": lambda m, a: m.stack.append({}), "TUPLE": lambda m, a: m.stack.append(tuple(m.pop_mark())),
    "TUPLE1": lambda m, a: m.stack.append(tuple(m.popn(1))),
    "TUPLE2": lambda m, a: m.stack.append(tuple(m.popn(2))),
    "TUPLE3": lambda m, a: m.stack.append(tuple(m.popn(3))),
    "DICT": _dict, "OBJ": _obj,
    "SETITEM": lambda m, a: m.fill(m.popn(2)), "SETITEMS": lambda m, a: m.fill(m.pop_mark()),
    "GET": _get, "BINGET": _get, "LONG_BINGET": _get, "PUT": _put, "BINPUT": _put,
    "LONG_BINPUT": _put, "MEMOIZE": lambda m, a: _put(m, len(m.memo)),
    "GLOBAL": lambda m, a: m.stack.append(m.glob(*_split(a), "GLOBAL")),
    "STACK_GLOBAL": lambda m, a: m.stack.append(m.glob(*m.popn(2))),
    "INST": lambda m, a: m.inst(*_split(a)),
    "REDUCE": lambda m, a: m.reduce(*m.popn(2)), "BUILD": lambda m, a: m.build(m.pop()),
    "NEWOBJ": lambda m, a: _newobj(m, m.popn(2)), "NEWOBJ_EX": lambda m, a: _newobj(m, m.popn(3)),
    "EXT1": _ext, "EXT2": _ext, "EXT4": _ext,
}  # fmt: skip
# Opcodes whose start offset the safety scan reports.
_TRACKED = frozenset(("GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "BUILD", "NEWOBJ",
                      "NEWOBJ_EX", "EXT1", "EXT2", "EXT4"))  # fmt: skip
# These push a constant; the opcodes that push their own argument (strings, numbers) get no handler.
_PUSHERS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}


class _Lines:
    """Caps readline for the text opcodes: a newline-free blob must not be read whole."""

    def __init__(self, f: IO[bytes]) -> None:
        self.readline = lambda: f.readline(1 << 16)


def _entry(op: pickletools.OpcodeInfo) -> tuple[pickletools.OpcodeInfo, Any, _Handler | None, bool]:
    return (*_parts(op), op.name in _TRACKED)


def _parts(op: pickletools.OpcodeInfo) -> tuple[pickletools.OpcodeInfo, Any, _Handler | None]:
    reader = _READERS.get(op.name) or (op.arg.reader if op.arg else None)
    if op.arg is not None and op.arg.n == pickletools.UP_TO_NEWLINE:
        read_line = op.arg.reader
        reader = lambda f: read_line(cast(IO[bytes], _Lines(f)))  # noqa: E731
    if op.name in _PUSHERS:
        value = _PUSHERS[op.name]
        return op, None, lambda m, a: m.stack.append(value)
    if op.name in _HANDLERS:
        return op, reader, _HANDLERS[op.name]
    pushes_arg = op.arg is not None and not op.stack_before and len(op.stack_after) == 1
    if pushes_arg and op.name not in ("PERSID", "EXT1", "EXT2", "EXT4"):
        return op, reader, None
    return op, reader, lambda m, a: m.generic(op)


_TABLE = {op.code.encode("latin-1"): _entry(op) for op in pickletools.opcodes}


def _joblib_array_size(state: Any) -> tuple[int, bool, bool] | None:
    """(bytes, padded, object array) from a NumpyArrayWrapper's state, or None when unknown."""
    shape, dtype = (
        (state.get("shape"), state.get("dtype")) if isinstance(state, dict) else ((), None)
    )
    if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
        return None
    if not (isinstance(dtype, _Made) and isinstance(dtype.args, tuple) and dtype.args):
        return None
    code = dtype.args[0].lstrip("<>=|") if isinstance(dtype.args[0], str) else ""
    padded = isinstance(state.get("numpy_array_alignment_bytes"), int)
    # numpy pickles a dtype as dtype("f8", ...) with the element size in its state for U5, V24...
    dstate = dtype.state if isinstance(dtype.state, tuple) and len(dtype.state) > 5 else (0,) * 6
    digits = re.search(r"\d+$", code)
    elsize = (
        dstate[5] if isinstance(dstate[5], int) and dstate[5] > 0 else digits and int(digits[0])
    )
    if code.startswith("O") or not elsize:
        return (0, False, True) if code.startswith("O") else None
    return elsize * math.prod(shape), padded, False


# --- files and archives ------------------------------------------------------------------------

_MAGIC = ((b"PK\x03\x04", "zip"), (b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"),
          (b"\x5d\x00\x00", "lzma"), (b"\x04\x22\x4d\x18", "lz4"), (b"ZF", "joblib-zfile"))  # fmt: skip
_MAX_DEPTH = 2  # a torch archive inside a .pt2 archive, no deeper
# The files preflight scans; in an archive, members ending in the first three are pickles.
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".pt2", ".ckpt", ".skops")


def _sniff(head: bytes) -> str:
    kind = next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)
    if kind is None and len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        kind = "zlib"  # a zlib header is a multiple of 31, and 0x78 is no pickle opcode
    return kind or ("pickle" if head[:1] == b"\x80" else "unknown")


class _ZlibReader(io.RawIOBase):
    """Streams a raw zlib stream (joblib's default compressor), which the stdlib cannot."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw, self._z, self._pos = raw, zlib.decompressobj(), 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._z.eof:
            data = self._z.unconsumed_tail or self._raw.read(1 << 16)
            if not data:
                raise EOFError("the compressed data ends early")
            out = self._z.decompress(data, len(view))  # bounded: a zip bomb cannot balloon
            if out:
                view[: len(out)] = out
                self._pos += len(out)
                return len(out)
        return 0


_OPENERS: dict[str, Callable[[IO[bytes]], Any]] = {
    "gzip": lambda f: gzip.GzipFile(fileobj=f), "bz2": bz2.BZ2File, "xz": lzma.LZMAFile,
    "lzma": lzma.LZMAFile, "zlib": lambda f: io.BufferedReader(_ZlibReader(f)),
}  # fmt: skip


def _scan_file(scan: _Scan, f: IO[bytes], depth: int) -> None:
    kind = _sniff(f.read(8))
    f.seek(0)
    if kind == "zip" and depth <= _MAX_DEPTH:
        _scan_zip(scan, f, depth)
    elif kind in _OPENERS:
        with _OPENERS[kind](f) as inner:
            _scan_streams(scan, inner)
    elif kind in ("lz4", "joblib-zfile"):
        raise _Incomplete(f"cannot inspect {kind}-compressed data (only stdlib formats are read)")
    else:
        _scan_streams(scan, f)


def _scan_streams(scan: _Scan, f: IO[bytes]) -> None:
    # torch.save's legacy (non-zip) format: magic, protocol, sys info, the object, storage keys.
    if scan.stream(f) == _TORCH_LEGACY_MAGIC:
        for _ in range(4):
            scan.stream(f)


def _scan_zip(scan: _Scan, f: IO[bytes], depth: int) -> None:
    with zipfile.ZipFile(f) as archive:
        outer = scan.member
        if "schema.json" in archive.namelist():  # skops: JSON naming each object's module
            scan.member = f"{outer}/schema.json" if outer else "schema.json"
            with archive.open("schema.json") as schema:
                _skops_modules(json.load(schema), scan)
            scan.member = outer
            return
        for member in (m for m in archive.infolist() if not m.is_dir()):
            with archive.open(member) as inner:  # torch: */data.pkl, maybe nested archives
                is_pickle = member.filename.lower().endswith(_PICKLE_SUFFIXES[:3])
                if not is_pickle and (depth == _MAX_DEPTH or inner.read(4) != b"PK\x03\x04"):
                    continue
                inner.seek(0)
                scan.member = f"{outer}/{member.filename}" if outer else member.filename
                try:
                    _scan_file(scan, inner, depth + 1)
                except _Corrupt as exc:
                    raise _Corrupt(f"{exc} in archive member {member.filename}") from None
                scan.member = outer


def _skops_modules(node: Any, scan: _Scan) -> None:
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            for mod_key, name_key in (("__module__", "__class__"), ("module_path", "function")):
                module, name = item.get(mod_key), item.get(name_key)
                if isinstance(module, str) and isinstance(name, str):
                    scan.globals.add((module, name))
                    scan.modules.add(module)
                    scan.uses.append(GlobalUse(scan.member, None, module, name, "skops"))
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)


_READ_ERRORS = (OSError, EOFError, ValueError, RecursionError, NotImplementedError, zlib.error,
                lzma.LZMAError, zipfile.BadZipFile)  # fmt: skip


def scan_pickle(path: Path, *, root: Path | None = None) -> PickleInfo:
    """Read a pickled file (plain, compressed, torch zip or skops) without unpickling it."""
    return walk_pickle(path, root=root).info


def walk_pickle(path: Path, *, root: Path | None = None) -> PickleWalk:
    """scan_pickle() with every global use recorded; what was read before an error is kept."""
    rel = path.relative_to(root).as_posix() if root is not None else path.name
    scan, error, incomplete = _Scan(), None, False
    try:
        with path.open("rb") as f:
            _scan_file(scan, f, 0)
    except _Corrupt as exc:
        error = f"not a pickle stream ({exc})"
    except _Incomplete as exc:
        scan.notes.append(str(exc))
        incomplete = True
    except _READ_ERRORS as exc:
        error = f"not readable ({type(exc).__name__}: {exc})"
    info = PickleInfo(rel, scan.protocol, tuple(sorted(scan.modules)),
                      tuple(sorted({f"{m}.{n}" for m, n in scan.globals})), error,
                      tuple(dict.fromkeys(scan.notes)))  # fmt: skip
    return PickleWalk(info, tuple(scan.uses), incomplete)
