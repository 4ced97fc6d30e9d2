"""The fixed vocabularies of the mapper language: processor and memory kinds, constraints, types."""
from __future__ import annotations

PROCESSOR_KINDS = ("CPU", "GPU", "OMP", "IO", "PY", "PROC")
MEMORY_KINDS = ("SYSMEM", "FBMEM", "ZCMEM", "RDMEM", "SOCKMEM", "VIRTUAL")
CONSTRAINTS = ("SOA", "AOS", "C_order", "F_order", "Align", "Compact", "Exact")
STEAL_SCOPES = ("SAME_NODE", "ANY_NODE")
PARAM_TYPES = ("int", "bool", "IPoint", "ISpace", "MSpace", "Task")
TRANSFORMS = {  # name -> number of arguments
    "merge": 2, "split": 2, "swap": 2, "slice": 3, "reverse": 1,
    "balance_split": 2, "auto_split": 2, "greedy_split": 2,
}
TASK_ATTRS = ("ipoint", "ispace", "parent")
TUPLE_ATTRS = ("len", "size", "volume")
SPACE_ATTRS = ("size", "len", "volume")
