"""Who changed what, when, at which commit: recorded with baselines and registry changes."""

from __future__ import annotations

import getpass
import subprocess
from datetime import UTC, datetime


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
