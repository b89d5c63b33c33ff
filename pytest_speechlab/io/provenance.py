"""What produced a figure and who changed what: the machine, the packages, the commit and the
person, recorded with results, baselines and registry changes."""

from __future__ import annotations

import getpass
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .calibration import calibrate
from .devices import keep_freed_memory, passive_waiting


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def who() -> str:
    """``Name <email>`` from git where set, else the login name."""
    parts = []
    for key in ("user.name", "user.email"):
        try:
            out = subprocess.run(["git", "config", key], capture_output=True, text=True, timeout=5)
            parts.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            parts.append("")
    name, email = parts
    if name:
        return f"{name} <{email}>" if email else name
    return getpass.getuser()


def git_commit() -> str | None:
    """HEAD's commit, with ``-dirty`` when tracked files have uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.returncode == 1 else "")


def git_toplevel(cwd: Path) -> Path | None:
    """The git work tree that holds ``cwd``; None outside one or without git."""
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(top.stdout.strip()) if top.returncode == 0 else None


def git_status(paths: list[str], top: Path) -> list[str] | None:
    """``git status --porcelain`` lines (``XY path``, relative to ``top``) of ``paths`` inside the
    work tree ``top``: tracked changes, untracked files, and ignored files one by one (``!!``: a
    file the run uses may be hidden by ``.gitignore``); None where git fails."""
    if not paths:
        return []
    command = ["git", "status", "--porcelain", "-z", "--untracked-files=all", "--ignored=traditional"]
    try:
        out = subprocess.run([*command, "--", *paths], cwd=top, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    lines, fields = [], iter(out.stdout.split("\0"))
    for field in fields:
        if field:
            lines.append(field)
            if {"R", "C"} & set(field[:2]):  # a rename or copy: the next field is the old path
                next(fields, None)
    return lines


CORE_PACKAGES = ("pytest-speechlab", "jiwer", "numpy", "soundfile", "soxr")


def versions(names: Iterable[str]) -> dict[str, str]:
    """The installed version of each package, or "not installed"."""
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def packages(extra: dict[str, str]) -> dict[str, str]:
    return {**versions(CORE_PACKAGES), **extra}


SIMD_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimd", "sve")


def cpu_model() -> tuple[str, list[str]]:
    """The CPU's name and the SIMD extensions that change numeric kernels (Linux; else the
    platform's processor string): quantised transcripts can differ between them."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), []
    name = re.search(r"^(?:model name|Model)\s*:\s*(.+)$", info, re.M)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", info, re.M)
    present = set(flags.group(1).split()) if flags else set()
    return (name.group(1).strip() if name else platform.machine()), [f for f in SIMD_FLAGS if f in present]


def machine() -> dict[str, Any]:
    cpu, simd = cpu_model()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu,
        "simd": simd,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "calibration_ms": round(calibrate() * 1000, 3),
        "omp_wait_policy": passive_waiting(),  # what the CPU-time figures were measured under
        "malloc": keep_freed_memory(),  # kept: freed buffers reused, not faulted in again (less system time)
    }
