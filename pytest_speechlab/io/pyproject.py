"""Reading ``[tool.speechlab]`` from a project's pyproject.toml: what ``core.settings`` types."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ..core.settings import FILE_KEYS, finite
from ..errors import SpeechlabError


def read_file_settings(path: Path) -> dict[str, Any]:
    """``[tool.speechlab]`` of a pyproject.toml, checked for unknown keys."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpeechlabError(f"{path}: not valid TOML ({exc})") from None
    section = data.get("tool", {}).get("speechlab", {})
    finite(path, section, "[tool.speechlab]")
    unknown = set(section) - FILE_KEYS
    if unknown:
        raise SpeechlabError(f"{path}: unknown [tool.speechlab] key(s) {', '.join(sorted(unknown))}")
    return section
