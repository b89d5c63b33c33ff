"""Which devices a run uses.

``auto`` means the best device the engine can use on this machine (cuda, then mps, then cpu).
A device asked for by name but absent is kept, with the reason, so that its tests are skipped
rather than silently dropped.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

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


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (a container's
    ``--cpus``), which ``os.cpu_count()`` does not see."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def engine_threads() -> int:
    """Threads an engine runs with: the available cores, shared among pytest-xdist workers.

    More threads than cores is the costliest mistake on a small machine: two CTranslate2 or torch
    runs sharing two cores each ran 5-20x slower than alone."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    return max(1, available_cores() // max(1, int(workers) if workers.isdigit() else 1))


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as ``CUDA_VISIBLE_DEVICES`` names them (or the
    NVIDIA driver's count), read without initialising CUDA."""
    named = os.environ.get("CUDA_VISIBLE_DEVICES")
    if named is not None:
        return [d.strip() for d in named.split(",") if d.strip()]
    try:
        return [str(i) for i in range(len(os.listdir("/proc/driver/nvidia/gpus")))]
    except OSError:
        return []


def worker_gpu(spec: str, gpus: list[str], worker: str, workers: int) -> str | None:
    """The one GPU an xdist worker (``gw<N>``) keeps to, round robin over ``gpus``, for a run on
    ``cuda`` (or ``auto``) with several GPUs and workers; None where there is nothing to share out
    (one GPU or worker, or devices named by index, ``cuda:1``)."""
    names = parse(spec)
    wants = any(name in ("cuda", "auto") for name in names)
    number = worker.removeprefix("gw")
    if not wants or len(gpus) < 2 or workers < 2 or not number.isdigit():
        return None
    return gpus[int(number) % len(gpus)]


# Libraries whose threads are OpenMP's (GNU libgomp), which reads OMP_WAIT_POLICY once, when it loads.
OPENMP_LIBRARIES = ("ctranslate2", "torch", "onnxruntime")


def passive_waiting() -> str:
    """Make the engines' OpenMP threads wait without spinning, unless the user chose a policy;
    returns the policy in effect, as the results record it.

    A spinning thread burns CPU time while it waits for a core that another process holds: beside
    two busy loops, a two-thread CTranslate2 run used up to 4x its quiet CPU time spinning, and
    with passive waiting within about 10%. The gate's CPU-time check needs that; on a quiet
    machine passive waiting costs some wall time (about 10% here), the same in the baseline's run
    and the gate's. OpenMP reads the policy when its library loads: set after that, it is unknown."""
    if "OMP_WAIT_POLICY" not in os.environ and not any(name in sys.modules for name in OPENMP_LIBRARIES):
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    policy = os.environ.get("OMP_WAIT_POLICY", "").upper()
    if policy:
        return policy
    loaded = [name for name in OPENMP_LIBRARIES if name in sys.modules]
    return f"unknown ({', '.join(loaded)} loaded first)" if loaded else "default"


# glibc's mallopt parameters, and what is kept: blocks of up to 256 MB come from the heap (a
# Whisper encoder's attention scores over a 30 s window are 54 MB for tiny, more for larger
# models), and up to 512 MB freed at its top stays there
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEPT_BLOCK, KEPT_TOP = 256 * 2**20, 512 * 2**20


@cache
def keep_freed_memory() -> str:
    """Have glibc's malloc keep the engine's freed buffers for reuse; returns what the results
    record ("kept", or "default" where the C library is not glibc).

    An engine allocates and frees the same large buffers for every case (a 30 s window's features
    and activations); by default glibc hands each back to the kernel, which faults it in again,
    zeroed, on the next call. Faster-Whisper tiny.en on 40 short cases: 2.3 million page faults
    and 5.0 s of system time became 86,000 and 0.8 s, and the run about 14% shorter; it is the same
    memory, held between cases rather than returned."""
    if not sys.platform.startswith("linux"):
        return "default"
    try:
        libc = ctypes.CDLL(None)
        kept = libc.mallopt(M_MMAP_THRESHOLD, KEPT_BLOCK) and libc.mallopt(M_TRIM_THRESHOLD, KEPT_TOP)
    except (OSError, AttributeError):  # a C library without mallopt (musl)
        return "default"
    return "kept" if kept else "default"


def one_blas_thread() -> None:
    """One thread for the BLAS libraries loaded so far (numpy's OpenBLAS), for this process.

    Engines do their heavy work on their own threads (CTranslate2's, torch's); numpy only
    prepares their input (faster-whisper's mel spectrogram). Its BLAS threads spin for a while
    after each call, on the cores the engine's threads need next: side by side on two cores, a
    run of 100 cases without this used 1-14% more CPU time, for no gain in wall time."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


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


def set_torch_threads(device: str) -> int:
    """Give torch ``engine_threads()`` intra-op threads on the CPU (its default is every core the
    machine has, whoever else runs on them); returns the number set, 0 off the CPU."""
    if device != "cpu":
        return 0
    import torch

    threads = engine_threads()
    torch.set_num_threads(threads)
    return threads


def torch_compute_type(
    engine: str, option: str, requested: str | None, device: str, on_cuda: str, allowed: tuple[str, ...]
) -> str:
    """The dtype a torch engine runs in: ``requested``, else ``on_cuda`` on cuda and float32 elsewhere
    (half precision on a CPU is slow or unsupported; mps float16 is left to the user)."""
    chosen = requested or (on_cuda if device.startswith("cuda") else "float32")
    if chosen not in allowed:
        raise SpeechlabError(f"{engine}: {option} must be one of {', '.join(allowed)}, not {chosen!r}")
    return chosen
