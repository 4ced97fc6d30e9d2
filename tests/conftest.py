"""Shared pytest setup: markers that depend on what this machine has."""
from __future__ import annotations

import shutil

import pytest


def _has_gpu() -> bool:
    from hpcmap.machine import detect_gpus

    return bool(detect_gpus())


def pytest_collection_modifyitems(config, items):
    if shutil.which("nvidia-smi") and _has_gpu():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU; this machine has none")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
