"""Names of Realm processor and memory kinds as Legion Prof numbers them."""
from __future__ import annotations

PROC_KINDS = {0: "NONE", 1: "GPU", 2: "CPU", 3: "UTIL", 4: "IO", 5: "GROUP", 6: "SET", 7: "OMP", 8: "PY"}
MEM_KINDS = {0: "NONE", 1: "GLOBAL", 2: "SYSMEM", 3: "REGMEM", 4: "SOCKMEM", 5: "ZCMEM", 6: "FBMEM",
             7: "DISK", 8: "HDF", 9: "FILE", 10: "L3CACHE", 11: "L2CACHE", 12: "L1CACHE",
             13: "MANAGED", 14: "DYNAMIC"}


def proc_kind_name(kind: int) -> str:
    return PROC_KINDS.get(kind, f"PROC{kind}")


def mem_kind_name(kind: int) -> str:
    return MEM_KINDS.get(kind, f"MEM{kind}")
