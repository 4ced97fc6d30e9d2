"""Reference evaluator of the policy IR: where does each point of a launch go?

It reads the same JSON the C++ mapper reads (IR.md) so both can be compared point by point.
Mapping-time errors raise `MappingError`, whose text is `FILE:LINE: message`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hpcmap.dsl.limits import with_depth_room
from hpcmap.dsl.spaces import Space, enumerate_all

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# DefaultMapper's own order of preference among the kinds a task has variants for.
DEFAULT_KINDS = ("GPU", "OMP", "CPU")


class MappingError(Exception):
    """An error found while mapping (index out of range, division by zero, ...)."""

    def __init__(self, source: str, line: int, message: str):
        super().__init__(f"{source}:{line}: {message}")
        self.source, self.line, self.message = source, line, message


@dataclass(frozen=True)
class MachineShape:
    """What the evaluator needs of a machine: node count, processors of each kind per node, and
    the memory kinds that processors of each kind have affinity to (for `.has(MEM)`)."""

    nodes: int
    procs: dict[str, int]
    memories: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        return int(self.procs.get(kind, 0))

    def sees(self, kind: str, memory: str) -> bool:
        default = ("FBMEM", "ZCMEM") if kind == "GPU" else ("SYSMEM",)
        return memory in self.memories.get(kind, default)


@dataclass(frozen=True)
class Kind:
    """A processor or memory kind word used as a value (`GPU`, `FBMEM`)."""

    name: str


@dataclass(frozen=True)
class TaskValue:
    ipoint: tuple[int, ...]
    ispace: tuple[int, ...]
    current: tuple[int, int] = (0, 0)
    parent: TaskValue | None = None


@dataclass(frozen=True)
class Proc:
    kind: str
    node: int
    index: int


@dataclass(frozen=True)
class ProcSet:
    procs: tuple[Proc, ...]


@dataclass
class Placement:
    """Where one point goes: a processor, plus the whole set when the function returned one."""

    point: tuple[int, ...]
    node: int
    processor: int
    kind: str
    set: list[tuple[int, int]] | None = None

    def to_json(self) -> dict:
        out = {"point": list(self.point), "node": self.node, "processor": self.processor, "kind": self.kind}
        if self.set is not None:
            out["set"] = [list(p) for p in self.set]
        return out


def _type_name(v) -> str:
    if isinstance(v, bool):
        return "a bool"
    if isinstance(v, int):
        return "an int"
    if isinstance(v, tuple):
        return "a tuple"
    if isinstance(v, Space):
        return "a machine space"
    if isinstance(v, TaskValue):
        return "a task"
    if isinstance(v, Proc):
        return "a processor"
    if isinstance(v, ProcSet):
        return "a set of processors"
    if isinstance(v, Kind):
        return "a kind"
    return type(v).__name__


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def format_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(str(x) for x in v) + ")"
    if isinstance(v, Space):
        return f"Machine({v.kind})" + format_value(v.size)
    if isinstance(v, Proc):
        return f"proc({v.node}, {v.index})"
    if isinstance(v, ProcSet):
        return "{" + ", ".join(format_value(p) for p in v.procs) + "}"
    if isinstance(v, Kind):
        return v.name
    return "task"


def format_print(fmt: str, values: list) -> str:
    parts = fmt.split("{}")
    out = parts[0]
    for i, rest in enumerate(parts[1:]):
        out += (format_value(values[i]) if i < len(values) else "{}") + rest
    return out.replace('\\"', '"').replace("\\n", "\n")


class _Return(Exception):
    def __init__(self, value):
        self.value = value


@dataclass
class Evaluator:
    """Evaluates globals once for a machine, then maps points of launches."""

    ir: dict
    machine: MachineShape
    printed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.ir.get("version") != 1:
            raise ValueError(f"policy IR version {self.ir.get('version')!r} is not supported (expected 1)")
        self.source = self.ir.get("source", "<policy>")
        self._globals: dict[int, object] = {}
        for p in self.ir.get("prints", []):
            frame = [None] * p.get("nslots", 0)
            self.printed.append(format_print(p["format"], [self.eval(a, frame, None) for a in p["args"]]))

    @with_depth_room
    def global_value(self, index: int):
        """A global's value, computed on first use (a GPU space is never built on a CPU-only run)."""
        if index not in self._globals:
            g = self.ir["globals"][index]
            self._globals[index] = self.eval(g["expr"], [None] * g.get("nslots", 0), None)
        return self._globals[index]

    # ------------------------------------------------------------ entry points
    def machine_kinds(self, fname: str) -> set[str]:
        """The kinds of every `Machine(KIND)` a function can reach (through calls and globals)."""
        kinds: set[str] = set()
        seen_functions, seen_globals = {fname}, set()
        stack = [st for st in self.ir["functions"].get(fname, {}).get("body", [])]
        while stack:
            n = stack.pop()
            if isinstance(n, list):
                stack.extend(n)
                continue
            if not isinstance(n, dict):
                continue
            if n.get("op") == "machine":
                kinds.add(n["kind"])
            elif n.get("op") == "global" and n["index"] not in seen_globals:
                seen_globals.add(n["index"])
                stack.append(self.ir["globals"][n["index"]]["expr"])
            elif n.get("op") == "call" and n["function"] not in seen_functions:
                seen_functions.add(n["function"])
                stack.append(self.ir["functions"].get(n["function"], {}).get("body", []))
            stack.extend(v for v in n.values() if isinstance(v, (dict, list)))
        return kinds

    def applies(self, entry: dict) -> bool:
        """A map statement whose function needs a processor kind this machine lacks does not apply."""
        return all(self.machine.count(k) > 0 for k in self.machine_kinds(entry["function"]))

    def run_kind(self, task: str, variants: list[str] | None = None) -> tuple[str, int | None]:
        """(kind, line of the Task statement that chose it) of the processors the task runs on: the
        first kind of its Task statement with processors here (and a variant, when `variants` is
        known); else DefaultMapper's choice (line None)."""
        usable = lambda k: self.machine.count(k) > 0 and (variants is None or k in variants)  # noqa: E731
        rules = [e for e in self.ir["tasks"] if e["task"] in ("*", task)]
        if rules:
            rule = min(rules, key=lambda e: (-e.get("rank", 0), e["order"]))
            for k in rule["kinds"]:
                if usable(k):
                    return k, rule["line"]
        return next((k for k in DEFAULT_KINDS if usable(k)), "CPU"), None

    def function_for(self, task: str, launch: str | None = None, kind: str | None = None) -> tuple[str, str]:
        """(function name, "index" or "single") of the map statement for the task: the first one
        naming it, else the first one naming the kind it runs on (`kind`, or `run_kind`'s), else the
        first one for `*`; statements that do not apply here are skipped.
        `launch` ("index" or "single") looks only at that statement kind."""
        kind = kind or self.run_kind(task)[0]
        for key, launch_kind in (("index_maps", "index"), ("single_maps", "single")):
            if launch not in (None, launch_kind):
                continue
            for wanted in (task, kind, "*"):
                entries = [e for e in self.ir[key] if wanted in e["tasks"] and self.applies(e)]
                if entries:
                    return min(entries, key=lambda e: e["order"])["function"], launch_kind
        raise LookupError(f"no IndexTaskMap or SingleTaskMap names task '{task}'")

    @with_depth_room
    def call(self, name: str, args: list, line: int = 0):
        f = self.ir["functions"].get(name)
        if f is None:
            raise MappingError(self.source, line, f"function '{name}' is not defined")
        if len(args) != len(f["params"]):
            raise MappingError(self.source, line, f"'{name}' takes {len(f['params'])} argument(s), got {len(args)}")
        frame = list(args) + [None] * (f["nslots"] - len(args))
        try:
            for st in f["body"]:
                self.stmt(st, frame, f)
        except _Return as r:
            return r.value
        raise MappingError(self.source, f["line"], f"function '{name}' ended without 'return'")

    @staticmethod
    def task_value(ipoint: tuple[int, ...], ispace: tuple[int, ...], current: tuple[int, int] = (0, 0)) -> TaskValue:
        """The task a mapping function sees; its parent is a single task on the same processor."""
        return TaskValue(tuple(ipoint), tuple(ispace), current, TaskValue((0,), (1,), current))

    def map_point(self, task: str, ispace: tuple[int, ...], ipoint: tuple[int, ...],
                  current: tuple[int, int] = (0, 0), kind: str | None = None) -> Placement:
        fname, _ = self.function_for(task, kind=kind)
        value = self.call(fname, [self.task_value(ipoint, ispace, current)], self.ir["functions"][fname]["line"])
        return self.placement(fname, tuple(ipoint), value)

    def placement(self, fname: str, point: tuple[int, ...], value) -> Placement:
        if isinstance(value, Proc):
            return Placement(point, value.node, value.index, value.kind)
        if isinstance(value, ProcSet):
            first = value.procs[0]
            return Placement(point, first.node, first.index, first.kind,
                             [(p.node, p.index) for p in value.procs])
        line = self.ir["functions"][fname]["line"]
        raise MappingError(self.source, line, f"{fname} returned {_type_name(value)}, not a processor")

    def explain(self, task: str, ispace: tuple[int, ...]) -> list[Placement]:
        """Placement of every point of the launch domain, row-major (last dimension fastest)."""
        return [self.map_point(task, ispace, p) for p in enumerate_all(tuple(ispace), [None] * len(ispace))]

    # ------------------------------------------------------------ statements
    def stmt(self, st: dict, frame: list, f: dict) -> None:
        op = st["op"]
        if op == "assign":
            frame[st["slot"]] = self.eval(st["expr"], frame, f)
        elif op == "return":
            raise _Return(self.eval(st["expr"], frame, f))
        elif op == "print":
            self.printed.append(format_print(st["format"], [self.eval(a, frame, f) for a in st["args"]]))
        else:
            raise MappingError(self.source, st.get("line", 0), f"unknown statement '{op}'")

    # ------------------------------------------------------------ expressions
    def fail(self, node: dict, message: str):
        raise MappingError(self.source, node.get("line", 0), message)

    def want_int(self, node: dict, v, what: str) -> int:
        if not _is_int(v):
            self.fail(node, f"{what} needs an int, got {_type_name(v)}")
        return v

    def truth(self, node: dict, v) -> bool:
        if isinstance(v, bool):
            return v
        if _is_int(v):
            return v != 0
        self.fail(node, f"a condition needs a bool or an int, got {_type_name(v)}")

    def eval(self, n: dict, frame: list, f: dict | None):
        op = n["op"]
        ev = lambda x: self.eval(x, frame, f)  # noqa: E731
        if op == "int":
            return int(n["value"])
        if op == "bool":
            return bool(n["value"])
        if op == "local":
            v = frame[n["slot"]]
            if v is None:
                self.fail(n, "a variable is used before it is assigned")
            return v
        if op == "global":
            return self.global_value(n["index"])
        if op == "tuple":
            return tuple(self.want_int(n, v, "a tuple element") for v in self.values(n["items"], frame, f))
        if op == "kind":
            return Kind(n["value"])
        if op == "has":
            return self.has(n, frame, f)
        if op == "splat":
            self.fail(n, "'*' unpacks a tuple only inside a tuple, an index or a call's arguments")
        if op == "unary":
            v = ev(n["operand"])
            if n["operator"] == "!":
                return not self.truth(n, v)
            if _is_int(v):
                return self.arith(n, "-", 0, v)
            if isinstance(v, tuple):
                return tuple(self.arith(n, "-", 0, x) for x in v)
            self.fail(n, f"'-' needs an int or a tuple, got {_type_name(v)}")
        if op == "binary":
            return self.binary(n, frame, f)
        if op == "cond":
            return ev(n["then"]) if self.truth(n, ev(n["cond"])) else ev(n["else"])
        if op == "attr":
            return self.attr(n, ev(n["obj"]))
        if op == "method":
            return self.method(n, ev(n["obj"]), [ev(a) for a in n["args"]])
        if op == "call":
            return self.call(n["function"], self.values(n["args"], frame, f), n["line"])
        if op == "machine":
            kind = n["kind"]
            count = self.machine.count(kind)
            if count <= 0 or self.machine.nodes <= 0:
                self.fail(n, f"machine has no {kind} processors")
            return Space(kind, (self.machine.nodes, count))
        if op == "index":
            return self.index(n, ev(n["obj"]), frame, f)
        if op == "slice":
            return self.slice(n, ev(n["obj"]), frame, f)
        if op == "tuple_for":
            seq = ev(n["iter"])
            if not isinstance(seq, tuple):
                self.fail(n, f"'for ... in' needs a tuple, got {_type_name(seq)}")
            out = []
            for x in seq:
                frame[n["slot"]] = x
                out.append(self.want_int(n, ev(n["body"]), "a tuple element"))
            return tuple(out)
        self.fail(n, f"unknown expression '{op}'")

    def values(self, items: list, frame: list, f) -> list:
        """Evaluated items of a tuple or an argument list, with `*t` unpacked in place."""
        out = []
        for item in items:
            if item["op"] != "splat":
                out.append(self.eval(item, frame, f))
                continue
            v = self.eval(item["expr"], frame, f)
            if isinstance(v, tuple):
                out.extend(v)
            elif _is_int(v):
                out.append(v)
            else:
                self.fail(item, f"'*' needs a tuple, got {_type_name(v)}")
        return out

    def has(self, n: dict, frame: list, f) -> bool:
        """`m[i].has(MEM)`: processor i of m's kind on this node; `p.has(MEM)`: processor p."""
        obj = self.eval(n["obj"], frame, f)
        if n.get("index") is not None:
            if not isinstance(obj, Space):
                self.fail(n, f"'.has()' needs a machine space, got {_type_name(obj)}")
            i = self.want_int(n, self.eval(n["index"], frame, f), "an index")
            count = self.machine.count(obj.kind)
            if not 0 <= i < count:
                self.fail(n, f"index {i} out of range for the {count} {obj.kind} processors of a node")
            kind = obj.kind
        elif isinstance(obj, Proc):
            kind = obj.kind
        else:
            self.fail(n, f"'.has()' needs a processor, got {_type_name(obj)}")
        return self.machine.sees(kind, n["memory"])

    def binary(self, n: dict, frame: list, f):
        o = n["operator"]
        ev = lambda x: self.eval(x, frame, f)  # noqa: E731
        if o == "&&":
            return self.truth(n, ev(n["left"])) and self.truth(n, ev(n["right"]))
        if o == "||":
            return self.truth(n, ev(n["left"])) or self.truth(n, ev(n["right"]))
        a, b = ev(n["left"]), ev(n["right"])
        if o in ("==", "!="):
            same = type(a) is type(b) and a == b
            return same if o == "==" else not same
        if o in ("<", "<=", ">", ">="):
            self.want_int(n, a, f"'{o}'")
            self.want_int(n, b, f"'{o}'")
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[o]
        if _is_int(a) and _is_int(b):
            return self.arith(n, o, a, b)
        if isinstance(a, tuple) or isinstance(b, tuple):
            if isinstance(a, tuple) and isinstance(b, tuple):
                if len(a) != len(b):
                    self.fail(n, f"'{o}' needs tuples of equal length, got {len(a)} and {len(b)}")
                return tuple(self.arith(n, o, x, y) for x, y in zip(a, b))
            if isinstance(a, tuple) and _is_int(b):
                return tuple(self.arith(n, o, x, b) for x in a)
            if _is_int(a) and isinstance(b, tuple):
                return tuple(self.arith(n, o, a, y) for y in b)
        self.fail(n, f"'{o}' needs ints or tuples, got {_type_name(a)} and {_type_name(b)}")

    def arith(self, n: dict, o: str, a: int, b: int) -> int:
        """64-bit integer arithmetic: a result outside int64 is a mapping-time error."""
        if o in ("/", "%") and b == 0:
            self.fail(n, "division by zero" if o == "/" else "modulo by zero")
        if o == "%" and b == -1:
            return 0
        r = a + b if o == "+" else a - b if o == "-" else a * b if o == "*" else _tdiv(a, b)
        if o == "%":
            r = a - b * r
        if not INT64_MIN <= r <= INT64_MAX:
            self.fail(n, f"integer overflow in {a} {o} {b}")
        return r

    def attr(self, n: dict, v):
        name = n["name"]
        if isinstance(v, TaskValue):
            if name == "ipoint":
                return v.ipoint
            if name == "ispace":
                return v.ispace
            if name == "parent":
                return v.parent or TaskValue((0,), (1,), v.current)
        elif isinstance(v, (tuple, Space)):
            t = v.size if isinstance(v, Space) else v
            if name == "size":
                return t
            if name == "len":
                return len(t)
            if name == "volume":
                out = 1
                for x in t:
                    out = self.arith(n, "*", out, x)
                return out
        self.fail(n, f"{_type_name(v)} has no attribute '.{name}'")

    def method(self, n: dict, obj, args: list):
        name = n["name"]
        if name == "processor":
            if not isinstance(obj, TaskValue) or len(args) != 1 or not isinstance(args[0], Space):
                self.fail(n, "processor(m) is called on a task with one machine space")
            coords = args[0].from_base(obj.current)
            if coords is None:
                self.fail(n, f"the task's processor {obj.current} is not in this machine space")
            return coords
        if not isinstance(obj, Space):
            self.fail(n, f"'.{name}()' needs a machine space, got {_type_name(obj)}")
        try:
            return obj.transform(name, args)
        except ValueError as exc:
            self.fail(n, str(exc))

    def index(self, n: dict, obj, frame: list, f):
        items = n["items"]
        if isinstance(obj, tuple):
            if len(items) != 1 or items[0]["kind"] != "expr":
                self.fail(n, "a tuple takes exactly one integer index")
            i = self.want_int(n, self.eval(items[0]["expr"], frame, f), "an index")
            if not -len(obj) <= i < len(obj):
                self.fail(n, f"index {i} out of range for a tuple of length {len(obj)}")
            return obj[i]
        if not isinstance(obj, Space):
            self.fail(n, f"cannot index {_type_name(obj)}")
        values: list[int | None] = []
        for it in items:
            if it["kind"] == "all":
                values.append(None)
                continue
            v = self.eval(it["expr"], frame, f)
            if it["kind"] == "splat" and _is_int(v):
                values.append(v)
            elif it["kind"] == "splat":
                if not isinstance(v, tuple):
                    self.fail(n, f"'*' needs a tuple, got {_type_name(v)}")
                values.extend(v)
            else:
                values.append(self.want_int(n, v, "an index"))
        size = obj.size
        if len(values) != len(size):
            self.fail(n, f"space has {len(size)} dimensions, got {len(values)} indices")
        for d, (v, s) in enumerate(zip(values, size)):
            if v is not None and not 0 <= v < s:
                self.fail(n, f"index {v} out of range for dimension {d} of size {s}")
        if None not in values:
            node, proc = obj.to_base(tuple(values))
            return Proc(obj.kind, node, proc)
        return ProcSet(tuple(Proc(obj.kind, *obj.to_base(ix)) for ix in enumerate_all(size, values)))

    def slice(self, n: dict, obj, frame: list, f):
        if isinstance(obj, Space):
            obj = obj.size
        if not isinstance(obj, tuple):
            self.fail(n, f"cannot slice {_type_name(obj)}")
        length = len(obj)

        def bound(e, default: int) -> int:
            if e is None:
                return default
            v = self.want_int(n, self.eval(e, frame, f), "a slice bound")
            if v < 0:
                v += length
            return min(max(v, 0), length)

        return obj[bound(n["lo"], 0):bound(n["hi"], length)]
