"""Which devices a run uses.

``auto`` means the best device the engine can use on this machine (cuda, then mps, then cpu).
A device asked for by name but absent is kept, with the reason, so that its tests are skipped
rather than silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import SpeechlabError

KNOWN = ("cpu", "cuda", "mps")
PREFERENCE = ("cuda", "mps", "cpu")


def parse(spec: str) -> list[str]:
    """Split ``--speech-device`` ("auto", "cpu", "cpu,cuda", "cuda:1") into device names."""
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if not names:
        raise SpeechlabError("--speech-device: no device given")
    for name in names:
        base, _, index = name.partition(":")
        if name != "auto" and (base not in KNOWN or (index and not index.isdigit())):
            raise SpeechlabError(f"--speech-device: unknown device {name!r} (use auto, {', '.join(KNOWN)})")
    return list(dict.fromkeys(names))


def resolve(names: list[str], unavailable: Callable[[str], str | None]) -> list[tuple[str, str | None]]:
    """Map device names to (device, reason it cannot be used or None), resolving ``auto``."""
    resolved: list[tuple[str, str | None]] = []
    for name in names:
        if name == "auto":
            name = next(d for d in PREFERENCE if d == "cpu" or unavailable(d) is None)
        resolved.append((name, unavailable(name)))
    return list(dict.fromkeys(resolved))


def default_compute_type(device: str) -> str:
    """float32 on CPU, float16 on accelerators.

    Not int8 on CPU, though it is faster: int8 kernels differ between CPUs (with and without
    VNNI, say), and so do int8 transcripts, which would fail a baseline recorded elsewhere.
    Float32 gives the same transcripts across x86 CPUs."""
    return "float32" if device == "cpu" else "float16"


def torch_unavailable(device: str) -> str | None:
    """Why torch cannot use ``device`` here, or None: the check of every torch-based engine."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        return "cuda: torch sees no CUDA device"
    if device == "mps" and not torch.backends.mps.is_available():
        return "mps: torch sees no Metal device"
    return None


def torch_compute_type(
    engine: str, option: str, requested: str | None, device: str, on_cuda: str, allowed: tuple[str, ...]
) -> str:
    """The dtype a torch engine runs in: ``requested``, else ``on_cuda`` on cuda and float32 elsewhere
    (half precision on a CPU is slow or unsupported; mps float16 is left to the user)."""
    chosen = requested or (on_cuda if device.startswith("cuda") else "float32")
    if chosen not in allowed:
        raise SpeechlabError(f"{engine}: {option} must be one of {', '.join(allowed)}, not {chosen!r}")
    return chosen
