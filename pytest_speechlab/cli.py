"""The ``speechlab`` command: read the registry, and change a model's status.

``promote`` runs the suite for the model in this process (``pytest.main`` with
``--promote-to``), so the change is applied by the same gate and hook as in a pytest run;
``deprecate``, ``restore`` and ``register`` change the registry directly, with a reason.
``touched`` lists the models a change touches, for a CI gate to run; ``serve`` serves the
registry's production models over HTTP (the ``serve`` extra).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .core.settings import read_file_settings
from .errors import SpeechlabError
from .store.registry import STATUSES, Entry, Registry, change_status, load_registry, register

CORE = ("base.py", "sources.py", "__init__.py")  # engine modules every adapter depends on


def _registry_path(given: str | None) -> Path:
    if given:
        return Path(given)
    configured = read_file_settings(Path("pyproject.toml")).get("registry")
    return Path(configured or "registry.yaml")


def _load(path: Path) -> Registry:
    if not path.is_file():
        raise SpeechlabError(f"{path}: no registry here (pass --registry PATH)")
    return load_registry(path)


def cmd_list(args: argparse.Namespace) -> int:
    registry = _load(args.path)
    rows = [("model", "status", "capabilities", "source", "last change")]
    for name, entry in registry.models.items():
        last = entry.history[-1] if entry.history else {}
        when = f"{last.get('when', '-')} {last.get('from') or 'new'} -> {last.get('to', '-')}"
        rows.append((name, entry.status, ",".join(entry.capabilities), entry.source or "-", when))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    entry = _load(args.path).get(args.name)
    data = entry.as_yaml()
    history = data.pop("history")
    data["changes"] = len(history)
    print(yaml.safe_dump({args.name: data}, sort_keys=False, allow_unicode=True).rstrip())
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    entry = _load(args.path).get(args.name)
    for change in entry.history:
        flags = "".join(f" [{f}]" for f in ("forced", "restored") if change.get(f))
        print(
            f"{change.get('when')}  {change.get('from') or 'new'} -> {change['to']}{flags}  "
            f"by {change.get('who')} at {change.get('commit') or 'no commit'}: {change.get('reason')}"
        )
        for device, figures in (change.get("metrics") or {}).items():
            shown = ", ".join(f"{k} {v}" for k, v in figures.items())
            print(f"    {device}: {shown}")
        if change.get("results_sha256"):
            print(f"    results sha256 {change['results_sha256']}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    _load(args.path).get(args.name)  # a clear error before pytest starts
    argv = [f"--speech-model={args.name}", f"--promote-to={args.to}", f"--speech-registry={args.path}"]
    if args.reason:
        argv.append(f"--promote-reason={args.reason}")
    if args.force:
        argv.append("--promote-force")
    return int(pytest.main([*argv, *args.pytest_args]))


def cmd_deprecate(args: argparse.Namespace) -> int:
    change = change_status(args.path, args.name, "deprecated", reason=args.reason)
    print(f"{args.name}: {change['from']} -> deprecated, recorded in {args.path}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    change = change_status(args.path, args.name, args.to, reason=args.reason, restore=True)
    print(f"{args.name}: {change['from']} -> {args.to} (restored), recorded in {args.path}")
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from .engines import engine_class

    cls = engine_class(args.name)
    entry = Entry(
        args.name,
        status=args.status,
        source=args.source or str(getattr(cls, "default_source", "")),
        capabilities=list(cls.tasks),
    )
    register(args.path, entry, args.reason)
    print(f"{args.name}: registered as {args.status} in {args.path}")
    return 0


def touched_models(changed: list[str], registry: Registry, baselines: Path) -> list[str]:
    """Registry models a change to these files can affect, among those with baselines to gate."""
    from .engines import BUILTIN

    gated = [n for n, e in registry.models.items() if e.status != "deprecated" and (baselines / n).is_dir()]
    modules = {path.split(":")[0].rsplit(".", 1)[-1] + ".py": name for name, path in BUILTIN.items()}
    hit: set[str] = set()
    for path in changed:
        parts = Path(path).parts
        if parts[:1] == ("baselines",) and len(parts) > 2:
            hit.add(parts[1])
        elif parts[:2] == ("pytest_speechlab", "engines") and parts[-1] not in CORE:
            hit.update(n for m, n in modules.items() if m == parts[-1])
        elif parts[:1] in (("pytest_speechlab",), ("suites",), ("data",)) or path in (
            "pyproject.toml",
            "conftest.py",
            "registry.yaml",
        ):
            hit.update(gated)
    return [n for n in gated if n in hit]


def cmd_touched(args: argparse.Namespace) -> int:
    out = subprocess.run(
        ["git", "diff", "--name-only", f"{args.base}...HEAD"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SpeechlabError(f"git diff {args.base}...HEAD: {out.stderr.strip()}")
    models = touched_models(out.stdout.split(), _load(args.path), Path(args.baselines))
    print(",".join(models))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render the HTML report again from a saved results file (a CI artifact, say)."""
    from .report.html import write_report

    source = Path(args.results)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SpeechlabError(f"{source}: cannot read results ({exc})") from None
    runs = data.get("runs", [data]) if isinstance(data, dict) else None
    if not runs or not all(isinstance(r, dict) and "model" in r for r in runs):
        raise SpeechlabError(f"{source}: not a results file written by --speech-results")
    write_report(Path(args.out), runs)
    print(f"speechlab: report written to {args.out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the registry's production (and allowed) models over an OpenAI-compatible HTTP API."""
    from importlib import import_module

    try:
        from .serve.app import ServeConfig
        from .serve.run import serve
        from .serve.security import load_keys
    except ImportError as exc:
        raise SpeechlabError(
            f"serve: {exc.name} is not installed (pip install 'pytest-speechlab[serve]')"
        ) from None
    adapters = {}
    for spec in args.adapter:
        name, _, target = spec.partition("=")
        module, _, attr = target.partition(":")
        try:
            adapters[name] = getattr(import_module(module), attr)
        except (ImportError, AttributeError, ValueError):
            raise SpeechlabError(
                f"--adapter {spec}: expected NAME=module:Class that can be imported"
            ) from None
    config = ServeConfig(
        registry=args.path,
        allow=("production", *args.allow),
        models=tuple(args.model),
        device=args.device,
        workers=args.workers,
        queue_size=args.queue,
        threads=args.threads,
        memory_mb=args.memory_mb,
        timeout_s=args.timeout,
        max_upload_mb=args.max_upload_mb,
        max_audio_s=args.max_audio_s,
        rate=args.rate_limit,
        rate_storage=args.rate_limit_storage,
        adapters=adapters,
    )
    keys = load_keys(Path(args.api_keys_file) if args.api_keys_file else None)
    return serve(config, keys, args.host, args.port, args.no_auth, args.grace)


def _serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the registry's production models over HTTP (OpenAI API)")
    add = serve.add_argument
    add("--registry", default=argparse.SUPPRESS, metavar="PATH", help="default: registry.yaml")
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8000, help="0 picks a free port (the log says which)")
    add("--allow", action="append", default=[], choices=("candidate",), help="serve candidates too")
    add("--model", action="append", default=[], metavar="NAME", help="serve only this model (repeatable)")
    add("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    add("--workers", type=int, default=1, help="inference threads per model (default 1)")
    add("--queue", type=int, default=8, help="requests that may wait per model; more get 503 (default 8)")
    add("--threads", type=int, default=None, help="engine threads per worker (default: cores / workers)")
    add("--memory-mb", type=float, default=None, help="memory budget of loaded models (LRU eviction)")
    add("--timeout", type=float, default=120.0, help="seconds a request may wait and run (default 120)")
    add("--max-upload-mb", type=float, default=25.0, help="largest request body (default 25)")
    add("--max-audio-s", type=float, default=600.0, help="longest audio accepted (default 600)")
    add("--rate-limit", default=None, metavar="RATE", help="per key (or client address), e.g. 120/minute")
    add("--rate-limit-storage", default="memory://", metavar="URI", help="limits storage, e.g. redis://host")
    add(
        "--api-keys-file",
        default=None,
        metavar="PATH",
        help="sha256 of each key, one a line ($SPEECHLAB_API_KEYS: keys)",
    )
    add("--no-auth", action="store_true", help="allow a non-loopback --host without API keys")
    add("--grace", type=float, default=30.0, help="seconds in-flight requests get on SIGTERM (default 30)")
    add("--adapter", action="append", default=[], metavar="NAME=module:Class", help="an adapter of your own")
    serve.set_defaults(func=cmd_serve)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="speechlab", description=__doc__.splitlines()[0])
    top.add_argument("--registry", default=None, metavar="PATH", help="default: registry.yaml")
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every model and its status").set_defaults(func=cmd_list)
    for name, func, text in (("show", cmd_show, "one model"), ("history", cmd_history, "its status changes")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("name")
        cmd.set_defaults(func=func)
    promote = sub.add_parser(
        "promote",
        help="run the gate, then promote if it passes",
        usage="%(prog)s NAME --to STATUS [-- PYTEST_ARGS]",
    )
    promote.add_argument("name")
    promote.add_argument("--to", required=True, choices=("candidate", "production"))
    promote.add_argument("--reason", default="")
    promote.add_argument("--force", action="store_true", help="allow skipping a stage (needs --reason)")
    promote.set_defaults(func=cmd_promote)
    deprecate = sub.add_parser("deprecate", help="retire a model")
    deprecate.add_argument("name")
    deprecate.add_argument("--reason", required=True)
    deprecate.set_defaults(func=cmd_deprecate)
    restore = sub.add_parser("restore", help="bring a deprecated model back")
    restore.add_argument("name")
    restore.add_argument("--to", required=True, choices=STATUSES[:-1])
    restore.add_argument("--reason", required=True)
    restore.set_defaults(func=cmd_restore)
    reg = sub.add_parser("register", help="add a model (a --speech-model name) to the registry")
    reg.add_argument("name")
    reg.add_argument("--status", default="experimental", choices=STATUSES[:-1])
    reg.add_argument("--source", default=None, help="default: the engine's default source")
    reg.add_argument("--reason", required=True)
    reg.set_defaults(func=cmd_register)
    touched = sub.add_parser("touched", help="models a change since BASE can affect (comma separated)")
    touched.add_argument("--base", required=True, help="git ref, e.g. origin/main")
    touched.add_argument("--baselines", default="baselines")
    touched.set_defaults(func=cmd_touched)
    report = sub.add_parser("report", help="render the HTML report from a --speech-results file")
    report.add_argument("results", help="results JSON written by --speech-results")
    report.add_argument("out", help="HTML file to write")
    report.set_defaults(func=cmd_report)
    _serve_parser(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser().parse_args(argv[:split])
    args.pytest_args = argv[split + 1 :]  # after "--": passed to pytest by promote
    try:
        args.path = _registry_path(getattr(args, "registry", None))
        return args.func(args)
    except SpeechlabError as exc:
        print(f"speechlab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
