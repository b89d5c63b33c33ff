"""``speechlab init``: the files a project needs to gate its own model on its own audio.

It writes the ``[tool.speechlab]`` block (into an existing ``pyproject.toml`` too), a manifest
(built from a folder of audio and transcripts, or a skeleton to fill in), a test file that brings
in the shipped suites with one import line each, and the ``.gitignore`` lines for the lock files.
It never overwrites a file without ``force`` and registers no model: that stays a deliberate
``speechlab register``.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SpeechlabError
from .store.atomic import write_atomic

SETTINGS = """
[tool.speechlab]
# Read by pytest-speechlab; every key has a command-line twin (docs/options.md).
manifest = "{manifest}"
baselines = "{baselines}"
registry = "{registry}"
{models}
"""

MANIFEST_SKELETON = """\
# One entry per audio file: id (unique), audio (relative to this file), text (what was said).
# Or build this file from a folder of audio files with .txt/.lab transcripts beside them:
#   speechlab manifest build path/to/audio -o {name}
cases: []
#  - id: hello_01
#    audio: audio/hello_01.wav
#    text: "Hello, world."
#    tags: [clean]          # optional; -m and --speech-tags select on them
"""

SUITES = {
    "asr": "test_asr",  # accuracy and latency against the baselines
    "tts": "test_tts",  # synthesis health and the judge's intelligibility round trip
    "robustness": "test_robustness",  # perturbed audio
    "speed": "test_speed",  # pytest-benchmark timings
}

TEST_FILE = '''"""The pytest-speechlab suites, on this project's manifest and baselines ([tool.speechlab]).

    pytest --speech-model=faster_whisper                      # compare with the baselines
    pytest --speech-model=faster_whisper --update-baselines   # record them (review the diff)
"""

{imports}
'''

GITIGNORE = [
    "# pytest-speechlab",
    "*.lock",
    ".benchmarks/",
    "speech-results.json",
    "speech-report.html",
    ".venv/",  # the docs install into one in the project
]


@dataclass
class Plan:
    """What ``init`` will write, and what it leaves as it is."""

    writes: dict[Path, str] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)


def plan(
    root: Path,
    suites: list[str],
    manifest: Path,
    manifest_text: str | None,
    force: bool,
    models: tuple[str, ...] = (),
) -> Plan:
    """The files of a new project in ``root`` (nothing is written yet); ``manifest`` is where the
    manifest goes (beside the audio: a manifest's audio may not leave its folder); ``models``
    are what a bare ``pytest`` gates."""
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise SpeechlabError(
            f"speechlab init: unknown suite(s) {', '.join(unknown)} (known: {', '.join(SUITES)})"
        )
    out = Plan()
    pyproject = root / "pyproject.toml"
    where = manifest.relative_to(root).as_posix() if manifest.is_relative_to(root) else str(manifest)
    gated = (
        f"models = {json.dumps(list(models))}  # what a bare pytest gates; --speech-model overrides"
        if models
        else '# models = ["faster_whisper"]  # what a bare pytest gates; --speech-model overrides'
    )
    settings = SETTINGS.format(
        manifest=where, baselines="speech/baselines", registry="speech/registry.yaml", models=gated
    )
    if pyproject.is_file():
        text = pyproject.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpeechlabError(f"{pyproject}: not valid TOML ({exc})") from None
        if "speechlab" in data.get("tool", {}):
            out.kept.append(f"{pyproject.name} (it has a [tool.speechlab] block already)")
        else:
            out.writes[pyproject] = text.rstrip("\n") + "\n" + settings
    else:
        out.writes[pyproject] = settings.lstrip("\n")
    _add(out, manifest, manifest_text or MANIFEST_SKELETON.format(name=where), force)
    imports = "\n".join(f"from pytest_speechlab.suites.{SUITES[s]} import *  # noqa: F403" for s in suites)
    _add(out, root / "tests" / "test_speech.py", TEST_FILE.format(imports=imports), force)
    gitignore = root / ".gitignore"
    present = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.is_file() else []
    missing = [line for line in GITIGNORE if line not in present]
    if missing:
        out.writes[gitignore] = "\n".join([*present, *missing]) + "\n"
    return out


def _add(out: Plan, path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        out.kept.append(f"{path.name} (exists; --force replaces it)")
    else:
        out.writes[path] = text


def write(target: Plan) -> None:
    for path, text in target.writes.items():
        write_atomic(path, text)
