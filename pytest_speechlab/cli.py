"""The ``speechlab`` command: read the registry, and change a model's status.

``promote`` runs the suite for the model in this process (``pytest.main`` with
``--promote-to``), so the change is applied by the same gate and hook as in a pytest run, and so
does ``restore`` of a model that was a candidate or in production before it was deprecated;
``register`` (as experimental), ``deprecate`` and ``restore --to experimental`` change the
registry directly, with a reason. ``touched`` lists the models a change touches, for a CI gate.
``manifest convert`` writes our YAML manifest from any format the plugin reads, ``manifest
build`` one from a folder of audio files with transcripts beside them.
``serve`` serves the registry's production models over HTTP (the ``serve`` extra).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .core.case import Case
from .errors import SpeechlabError
from .io.manifest import read_header
from .io.pyproject import read_file_settings
from .store.atomic import open_atomic, shown, write_atomic
from .store.registry import PROMOTIONS, Entry, Registry, change_status, load_registry, register

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


def _gate(args: argparse.Namespace, target: str, *flags: str) -> int:
    """Run the suite for ``args.name`` with ``--promote-to=target`` in this process: the registry
    changes only if the gate passes."""
    argv = [f"--speech-model={args.name}", f"--promote-to={target}", f"--speech-registry={args.path}", *flags]
    if args.reason:
        argv.append(f"--promote-reason={args.reason}")
    # This package is imported already, so pytest cannot rewrite the plugin's asserts (it has none
    # to rewrite): say nothing of it instead of warning on every promotion.
    quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    return int(pytest.main([*argv, *quiet, *args.pytest_args]))


def cmd_promote(args: argparse.Namespace) -> int:
    _load(args.path).get(args.name)  # a clear error before pytest starts
    if args.force and not args.reason.strip():
        raise SpeechlabError("speechlab promote --force: give the reason with --reason")
    return _gate(args, args.to, *(["--promote-force"] if args.force else []))


def cmd_deprecate(args: argparse.Namespace) -> int:
    change = change_status(args.path, args.name, "deprecated", reason=args.reason)
    print(f"{args.name}: {change['from']} -> deprecated, recorded in {args.path}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Back to the status before deprecation (through the gate for candidate and production), or
    to experimental with ``--to experimental``."""
    entry = _load(args.path).get(args.name)
    target = args.to or entry.before_deprecation()
    if target in PROMOTIONS:
        return _gate(args, target, "--promote-restore")
    change = change_status(args.path, args.name, target, reason=args.reason, restore=True)
    print(f"{args.name}: {change['from']} -> {target} (restored), recorded in {args.path}")
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from .engines import engine_class

    cls = engine_class(args.name)
    entry = Entry(
        args.name,
        status="experimental",
        source=args.source or str(getattr(cls, "default_source", "")),
        capabilities=list(cls.tasks),
    )
    register(args.path, entry, args.reason)
    print(f"{args.name}: registered as experimental in {args.path}")
    recorded = sorted(_baselines_folder().glob(f"{args.name}/*.json"))
    if recorded:
        print(f"its baselines are recorded ({', '.join(shown(p) for p in recorded)}); next:")
    else:
        print(f"next: record its baselines (pytest --speech-model={args.name} --update-baselines), then")
    print(f"      speechlab promote {args.name} --to candidate")
    return 0


def _baselines_folder() -> Path:
    """The project's baselines folder: ``[tool.speechlab] baselines`` of ./pyproject.toml."""
    return Path(read_file_settings(Path("pyproject.toml")).get("baselines") or "baselines")


def touched_models(
    changed: list[str], registry: Registry, baselines: Path, judge: str | None = None
) -> list[str]:
    """Registry models a change to these files can affect, among those with baselines to gate;
    a change to the judge (the speech-to-text model that listens to synthesised speech) touches
    every text-to-speech model too."""
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
        elif parts[:1] in (("pytest_speechlab",), ("data",)) or path in (
            "pyproject.toml",
            "conftest.py",
            "registry.yaml",
        ):
            hit.update(gated)
    if judge and judge in hit:
        hit.update(n for n in gated if "tts" in registry.models[n].capabilities)
    return [n for n in gated if n in hit]


def cmd_touched(args: argparse.Namespace) -> int:
    out = subprocess.run(
        ["git", "diff", "--name-only", "-z", f"{args.base}...HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SpeechlabError(f"git diff {args.base}...HEAD: {out.stderr.strip()}")
    judge = read_file_settings(Path("pyproject.toml")).get("judge", "faster_whisper")
    changed = [path for path in out.stdout.split("\0") if path]
    models = touched_models(changed, _load(args.path), Path(args.baselines), judge)
    print(",".join(models))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render the HTML report again from a saved results file (a CI artifact, say)."""
    from .report.html import write_report
    from .report.results_file import runs_of

    source = Path(args.results)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SpeechlabError(f"{source}: cannot read results ({exc})") from None
    write_report(Path(args.out), runs_of(data, str(source)))
    print(f"speechlab: report written to {args.out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the registry's production (and allowed) models over an OpenAI-compatible HTTP API."""
    from importlib import import_module

    try:
        from .serve.app import ServeConfig
        from .serve.security import load_keys
        from .serve.server import serve
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
        allowed_hosts=tuple(h.strip() for h in (args.allowed_hosts or "").split(",") if h.strip()),
        allow_identity_change=args.allow_identity_change,
    )
    keys = load_keys(Path(args.api_keys_file) if args.api_keys_file else None)
    return serve(config, keys, args.host, args.port, args.no_auth, args.grace, args.forwarded_allow_ips)


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
    add(
        "--allowed-hosts",
        default=None,
        metavar="HOST[,HOST]",
        help="Host headers answered (default on loopback: localhost, 127.0.0.1, ::1; elsewhere any)",
    )
    add(
        "--forwarded-allow-ips",
        default=None,
        metavar="IP[,IP]",
        help="proxies whose X-Forwarded-For is believed (default: none; the client is the socket's peer)",
    )
    add(
        "--allow-identity-change",
        action="store_true",
        help="serve a model loaded unlike its last promotion (engine, compute type, device); logged",
    )
    serve.set_defaults(func=cmd_serve)


def cmd_compare(args: argparse.Namespace) -> int:
    """Two results files side by side: per case and corpus, with the bootstrap interval."""
    from .report.compare import compare

    documents = []
    for name in (args.a, args.b):
        try:
            documents.append(json.loads(Path(name).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise SpeechlabError(f"{name}: cannot read results ({exc})") from None
    print("\n".join(compare(documents[0], documents[1], (args.a, args.b), args.markdown)))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Start a project: settings, manifest, a test file with the shipped suites, .gitignore."""
    from . import scaffold
    from .engines import engine_class

    root = Path(args.folder).resolve()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for model in models:
        engine_class(model)  # a typo is one line here, not at the first run
    manifest, text = root / "speech" / "manifest.yaml", None
    if args.audio:
        from .io.formats.writer import dump, entry, folder_cases

        audio = Path(args.audio).resolve()
        manifest = audio / "manifest.yaml"  # beside the audio: a manifest's audio may not leave its folder
        if args.force or not manifest.exists():  # one built already (manifest build) is kept
            cases, skipped = folder_cases(audio, skip_missing=args.skip_missing)
            text = dump([entry(c, audio) for c in cases], f"Built by speechlab init from {audio.name}")
            _tell_skipped(skipped)
    plan = scaffold.plan(root, args.suites.split(","), manifest, text, args.force, tuple(models))
    scaffold.write(plan)
    for path in plan.writes:
        print(f"speechlab: wrote {shown(path)}")
    for kept in plan.kept:
        print(f"speechlab: kept {kept}")
    steps = [] if args.audio else [f"fill {shown(manifest)} (or: speechlab init --audio DIR)"]
    model = models[0] if models else "faster_whisper"
    run = "pytest" if models else f"pytest --speech-model={model}"  # a bare pytest runs the models
    steps += [
        f"{run} --update-baselines   # record the baselines; review them",
        f"{run}                      # the gate: compare with them",
        f"speechlab register {model} --reason '...'   # then promote it through the gate",
    ]
    print("next: " + "\n      ".join(steps))
    return 0


def _fresh(out: Path, force: bool) -> Path:
    if out.exists() and not force:
        raise SpeechlabError(f"{out}: exists; pass --force to replace it")
    return out.resolve()


def _extract(case: Case, folder: Path) -> Path:
    """Write the encoded bytes of a case held in a table row to ``folder/<id>.<ext>``, as they
    are (the same samples decode from them)."""
    from .io.formats.hf import embedded_bytes

    assert case.embedded is not None
    data = embedded_bytes(case.audio, case.embedded)
    header = read_header(f"{case.audio} row {case.embedded.row}", io.BytesIO(data))
    target = folder / f"{case.id}.{header.format.lower()}"
    if target.exists() and target.read_bytes() != data:
        raise SpeechlabError(f"{target}: exists with other content; choose another --audio-dir")
    if not target.exists():
        with open_atomic(target, "wb") as f:
            f.write(data)
    return target


def _audio_root(args: argparse.Namespace) -> Path | None:
    return Path(args.audio_root).resolve() if args.audio_root else None


def _tell_root(out: Path, entries: list[dict[str, Any]], root: Path | None) -> None:
    """Say how to run a written manifest whose audio leads out of its folder."""
    from .io.formats.writer import reaches_out

    if root is not None and reaches_out(entries):
        print(
            f"speechlab: {shown(out)} names audio outside its folder: run it with --speech-audio-root={root}"
        )


def cmd_manifest_convert(args: argparse.Namespace) -> int:
    from .io.formats.writer import dump, entry
    from .io.manifest import load_manifest

    root = _audio_root(args)
    manifest = load_manifest(args.source, root)
    out = _fresh(Path(args.out), args.force)
    audio_dir = (out.parent / args.audio_dir).resolve()
    for case in manifest.cases:
        if case.embedded is None:
            entry(case, out.parent, audio_root=root)  # every path is checked before any audio is extracted
    entries = [
        entry(c, out.parent, _extract(c, audio_dir) if c.embedded else None, root) for c in manifest.cases
    ]
    write_atomic(out, dump(entries, f"Converted by speechlab manifest convert from {args.source}"))
    spans = sum(c.offset_s is not None for c in manifest.cases)
    embedded = sum(c.embedded is not None for c in manifest.cases)
    print(
        f"speechlab: wrote {len(entries)} cases ({spans} spans, {embedded} extracted to "
        f"{shown(audio_dir)}) to {shown(out)}"
    )
    _tell_root(out, entries, root)
    return 0


def cmd_manifest_build(args: argparse.Namespace) -> int:
    """Write a manifest from a folder of audio and transcripts; one that exists (and no
    ``--force``) is brought up to date with the files instead, keeping what was added by hand."""
    from .io.formats.writer import dump, entry, folder_cases

    root = _audio_root(args)
    folder = Path(args.folder).resolve()
    out = (Path(args.out) if args.out else folder / "manifest.yaml").resolve()
    update = out.exists() and not args.force
    existing = _written_entries(out) if update else []
    covered = frozenset((out.parent / str(e.get("audio"))).resolve() for e in existing)
    cases, missing = folder_cases(folder, args.skip_missing, root, covered)
    entries = [entry(c, out.parent, audio_root=root) for c in cases]
    if update:
        return _update_manifest(out, existing, entries, missing)
    write_atomic(out, dump(entries, f"Built by speechlab manifest build from {folder.name}"))
    audio_s = sum(c.duration_s for c in cases)
    print(f"speechlab: wrote {len(cases)} cases ({audio_s:.1f} s of audio) to {shown(out)}")
    _tell_root(out, entries, root)
    _tell_skipped(missing)
    return 0


def _tell_skipped(skipped: list[Path]) -> None:
    if skipped:
        names = ", ".join(shown(p) for p in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        print(f"speechlab: skipped {len(skipped)} audio file(s) without a transcript: {names}")


def _written_entries(path: Path) -> list[dict[str, Any]]:
    """The case entries of a YAML manifest, to bring up to date."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpeechlabError(f"{path}: cannot read it to update it ({exc}); --force replaces it") from None
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
        raise SpeechlabError(f"{path}: not a YAML manifest with a cases list; --force replaces it")
    return cases


def _update_manifest(
    out: Path, existing: list[dict[str, Any]], fresh: list[dict[str, Any]], skipped: list[Path]
) -> int:
    from .io.formats.writer import dump, refreshed

    entries, changes = refreshed(existing, fresh, out.parent)
    if not changes:
        print(f"speechlab: {shown(out)} is up to date ({len(entries)} cases)")
    else:
        first = next(iter(out.read_text(encoding="utf-8").splitlines()), "")
        header = first.lstrip("# ") if first.startswith("#") else "Updated by speechlab manifest build"
        write_atomic(out, dump(entries, header))
        print(f"speechlab: updated {shown(out)} ({len(changes)} change(s), {len(entries)} cases):")
        print("\n".join(f"  {line}" for line in changes))
    _tell_skipped(skipped)
    return 0


def cmd_manifest_check(args: argparse.Namespace) -> int:
    """Decode every case and print the suspicious ones: exit 1 if any, 0 if none."""
    from .io.manifest import load_manifest
    from .io.manifest_check import check_cases

    spec, root = args.manifest, _audio_root(args)
    if spec is None:
        configured = read_file_settings(Path("pyproject.toml"))
        spec = configured.get("manifest")
        if spec is None:
            raise SpeechlabError("manifest check: name a manifest, or set [tool.speechlab] manifest")
        if root is None and configured.get("audio_root"):
            root = Path(configured["audio_root"]).resolve()
    manifest = load_manifest(spec, root)
    findings = check_cases(manifest.cases, samples=True)
    for finding in findings:
        print(finding.message)
    cases = f"{len(manifest.cases)} cases"
    if not findings:
        print(f"speechlab: {cases}, nothing suspicious")
        return 0
    suspects = len({f.case_id for f in findings})
    print(f"speechlab: {suspects} suspicious case(s) in {cases}")
    return 1


def _audio_root_option(command: Any) -> None:
    command.add_argument(
        "--audio-root",
        default=None,
        metavar="DIR",
        help="audio may lie anywhere inside DIR (default: only inside OUT's folder); "
        "the manifest then runs with --speech-audio-root=DIR",
    )


def _manifest_parsers(sub: Any) -> None:
    manifest = sub.add_parser(
        "manifest", help="write a YAML manifest from another format or a folder, or check one"
    )
    tools = manifest.add_subparsers(dest="manifest_command", required=True)
    convert = tools.add_parser(
        "convert", help="our YAML from a NeMo, Kaldi, Hugging Face or lhotse manifest (see docs/formats.md)"
    )
    convert.add_argument("source", help="manifest path or spec, e.g. kaldi:data/test or hf:DIR?split=test")
    convert.add_argument("out", help="YAML file to write; its folder must hold all the audio")
    convert.add_argument(
        "--audio-dir",
        default="audio",
        help="where audio embedded in a dataset is written, beside OUT (audio)",
    )
    convert.add_argument("--force", action="store_true", help="replace OUT if it exists")
    _audio_root_option(convert)
    convert.set_defaults(func=cmd_manifest_convert)
    build = tools.add_parser(
        "build", help="a manifest from audio files with x.txt or x.lab transcripts beside them"
    )
    build.add_argument("folder")
    build.add_argument("-o", "--out", default=None, help="YAML file to write (default FOLDER/manifest.yaml)")
    build.add_argument(
        "--skip-missing", action="store_true", help="leave out audio files without a transcript"
    )
    build.add_argument(
        "--force",
        action="store_true",
        help="write OUT afresh (without it, an existing OUT is updated: texts and new files from the "
        "folder, every field added by hand kept)",
    )
    _audio_root_option(build)
    build.set_defaults(func=cmd_manifest_build)
    check = tools.add_parser(
        "check", help="suspicious cases: too short for their words, silent, clipped, odd rates, duplicates"
    )
    check.add_argument(
        "manifest", nargs="?", default=None, help="path or spec (default: [tool.speechlab] manifest)"
    )
    check.add_argument(
        "--audio-root",
        default=None,
        metavar="DIR",
        help="audio may lie anywhere inside DIR (as --speech-audio-root)",
    )
    check.set_defaults(func=cmd_manifest_check)


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
    restore = sub.add_parser(
        "restore",
        help="bring a deprecated model back to its status before deprecation (through the gate)",
        usage="%(prog)s NAME --reason TEXT [--to experimental] [-- PYTEST_ARGS]",
    )
    restore.add_argument("name")
    restore.add_argument("--to", choices=("experimental",), help="experimental instead, without the gate")
    restore.add_argument("--reason", required=True)
    restore.set_defaults(func=cmd_restore)
    reg = sub.add_parser(
        "register", help="add a model (a --speech-model name) to the registry, as experimental"
    )
    reg.add_argument("name")
    reg.add_argument("--source", default=None, help="default: the engine's default source")
    reg.add_argument("--reason", required=True)
    reg.set_defaults(func=cmd_register)
    touched = sub.add_parser("touched", help="models a change since BASE can affect (comma separated)")
    touched.add_argument("--base", required=True, help="git ref, e.g. origin/main")
    touched.add_argument("--baselines", default="baselines")
    touched.set_defaults(func=cmd_touched)
    compare = sub.add_parser("compare", help="two --speech-results files side by side")
    compare.add_argument("a", help="results JSON (the reference)")
    compare.add_argument("b", help="results JSON (the candidate)")
    compare.add_argument("--markdown", action="store_true", help="Markdown tables, for a pull request")
    compare.set_defaults(func=cmd_compare)
    init = sub.add_parser("init", help="start a project: [tool.speechlab], a manifest, a test file")
    init.add_argument("folder", nargs="?", default=".", help="the project's folder (default: here)")
    init.add_argument("--audio", default=None, metavar="DIR", help="build the manifest from this folder")
    init.add_argument("--suites", default="asr", help="comma separated: asr, tts, robustness, speed")
    init.add_argument("--force", action="store_true", help="replace files that exist")
    init.add_argument(
        "--skip-missing", action="store_true", help="with --audio: leave out audio files without a transcript"
    )
    init.add_argument(
        "--models",
        default="faster_whisper",
        metavar="NAMES",
        help="comma separated: the models a bare pytest gates ([tool.speechlab] models; default "
        "faster_whisper)",
    )
    init.set_defaults(func=cmd_init)
    report = sub.add_parser("report", help="render the HTML report from a --speech-results file")
    report.add_argument("results", help="results JSON written by --speech-results")
    report.add_argument("out", help="HTML file to write")
    report.set_defaults(func=cmd_report)
    _manifest_parsers(sub)
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
