"""Hugging Face datasets saved locally: a ``save_to_disk`` folder, a ``.parquet`` file, or a
folder of parquet files named by split (``data/test-00000-of-00001.parquet``).

Spec: ``hf:PATH?split=test&audio=audio&text=sentence&id=id&speaker=speaker_id&language=locale``;
every option may be left out. ``split`` is needed only when there are several. Without
``audio`` the column of type ``Audio`` is taken; without the others the first present of
``TEXT``, ``IDS``, ``SPEAKERS`` and ``LANGUAGES`` below. The case id is the ``id`` column,
else the audio file's name without extension, else ``row_`` and the row number in the split.

``datasets`` (the ``hf`` extra) finds the split's files and the columns' types; the rows are
read with pyarrow, without decoding audio. An audio value that holds its bytes (as
``save_to_disk`` and the Hub's parquet files store it) stays where it is: the case names the
arrow or parquet file and its ``Embedded`` column and row, and ``embedded_bytes`` reads just
that row when the case is measured (arrow files are memory-mapped; a parquet file is read one
row group at a time). An audio value with only a path is that file (relative to the dataset),
which must lie inside the folder holding the dataset (or the audio root).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.case import Case, Embedded
from ...errors import SpeechlabError
from ..manifest import Manifest, Reach, read_header, within
from .common import Headers, build_case, unique

if TYPE_CHECKING:
    import pyarrow as pa

TEXT = ("text", "sentence", "transcription", "transcript", "normalized_text")
IDS = ("id", "utterance_id")
SPEAKERS = ("speaker_id", "speaker", "client_id")
LANGUAGES = ("language", "locale", "lang")
MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise SpeechlabError(
            "hf: reading Hugging Face datasets needs the datasets package: pip install 'pytest-speechlab[hf]'"
        ) from None
    return datasets


def _split(where: str, splits: list[str], wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in splits:
            raise SpeechlabError(
                f"{where}: Hugging Face dataset has no split {wanted!r} (has {', '.join(splits)})"
            )
        return wanted
    if len(splits) != 1:
        raise SpeechlabError(
            f"{where}: Hugging Face dataset has splits {', '.join(sorted(splits))}; choose with ?split=NAME"
        )
    return splits[0]


def _files(path: Path, options: dict[str, str]) -> tuple[list[Path], Any]:
    """The table files of the chosen split, in row order, and the split's features."""
    datasets = _datasets()
    import pyarrow.parquet as pq

    if path.is_file():
        return [path], datasets.Features.from_arrow_schema(pq.read_schema(path))
    if any((path / name).is_file() for name in MARKERS):
        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError, KeyError) as exc:
            raise SpeechlabError(f"{path}: not a Hugging Face dataset folder ({exc})") from None
        if isinstance(loaded, datasets.DatasetDict):
            loaded = loaded[_split(str(path), list(loaded), options.get("split"))]
        return [Path(f["filename"]) for f in loaded.cache_files], loaded.features
    from datasets.data_files import DataFilesDict, get_data_patterns

    found = DataFilesDict.from_patterns(get_data_patterns(str(path)), base_path=str(path))
    files = [Path(f) for f in found[_split(str(path), list(found), options.get("split"))]]
    if not files or any(f.suffix != ".parquet" for f in files):
        raise SpeechlabError(f"{path}: Hugging Face dataset folder without parquet files for the split")
    return files, datasets.Features.from_arrow_schema(pq.read_schema(files[0]))


def _column(
    where: str, features: Any, options: dict[str, str], key: str, names: tuple[str, ...]
) -> str | None:
    if key in options:
        if options[key] not in features:
            raise SpeechlabError(
                f"{where}: Hugging Face dataset has no {key} column {options[key]!r} ({', '.join(features)})"
            )
        return options[key]
    return next((n for n in names if n in features), None)


def _batches(path: Path, columns: list[str]) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.suffix == ".parquet":
        yield from pq.ParquetFile(path).iter_batches(batch_size=64, columns=columns)
        return
    with pa.memory_map(str(path)) as source:
        for batch in pa.ipc.open_stream(source):
            yield batch.select(columns)


def load(path: Path, options: dict[str, str], limit: Reach) -> Manifest:
    datasets = _datasets()
    import pyarrow as pa

    files, features = _files(path, options)
    where = str(path)
    audio_names = (*(n for n, f in features.items() if isinstance(f, datasets.Audio)), "audio")
    audio_col = _column(where, features, options, "audio", audio_names)
    text_col = _column(where, features, options, "text", TEXT)
    if audio_col is None or text_col is None:
        missing = "audio" if audio_col is None else "text"
        raise SpeechlabError(
            f"{where}: Hugging Face dataset: no {missing} column found among {', '.join(features)}; "
            f"name it with ?{missing}=COLUMN"
        )
    id_col = _column(where, features, options, "id", IDS)
    speaker_col = _column(where, features, options, "speaker", SPEAKERS)
    language_col = _column(where, features, options, "language", LANGUAGES)
    columns = [c for c in (audio_col, text_col, id_col, speaker_col, language_col) if c is not None]
    root = path if path.is_dir() else path.parent
    headers = Headers()
    cases: list[tuple[str, Case]] = []
    number = 0
    for file in files:
        local = 0
        for batch in _batches(file, columns):
            values = {c: batch.column(c) for c in columns}
            audio = values[audio_col]
            has_struct = hasattr(audio.type, "get_field_index") and audio.type.get_field_index("bytes") >= 0
            texts = values[text_col].to_pylist()
            others = {c: values[c].to_pylist() for c in (id_col, speaker_col, language_col) if c}
            for i in range(batch.num_rows):
                here = f"{file} row {local}"
                data = audio.field("bytes")[i].as_buffer() if has_struct else None
                name = audio.field("path")[i].as_py() if has_struct else audio[i].as_py()
                if data is None and not name:
                    raise SpeechlabError(f"{here}: Hugging Face dataset: no audio in column {audio_col!r}")
                if texts[i] is None:
                    raise SpeechlabError(f"{here}: Hugging Face dataset: no text in column {text_col!r}")
                raw_id = (
                    str(others[id_col][i]) if id_col else Path(name).stem if name else f"row_{number:06d}"
                )
                if data is not None:
                    header = read_header(
                        here, pa.BufferReader(data), name=f"audio in {audio_col!r}"
                    )  # reads the header alone
                    target, embedded = file, Embedded(audio_col, local)
                else:
                    target, embedded = within(here, "audio", str(name), root, limit), None
                    header = headers(here, target)
                case = build_case(
                    here,
                    raw_id,
                    target,
                    texts[i],
                    header,
                    speaker=others[speaker_col][i] if speaker_col else None,
                    language=others[language_col][i] if language_col else None,
                    embedded=embedded,
                    line=number + 1,
                )
                cases.append((here, case))
                local += 1
                number += 1
    return Manifest(path=path, cases=unique(where, cases))


@functools.lru_cache(maxsize=4)
def _arrow_table(path: str) -> pa.Table:
    import pyarrow as pa

    return pa.ipc.open_stream(pa.memory_map(path)).read_all()  # zero-copy: pages are read on use


@functools.lru_cache(maxsize=4)
def _parquet_groups(path: str) -> tuple[int, ...]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    return tuple(meta.row_group(g).num_rows for g in range(meta.num_row_groups))


@functools.lru_cache(maxsize=2)
def _parquet_group(path: str, group: int, column: str) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(group, columns=[column])


def embedded_bytes(path: Path, embedded: Embedded) -> bytes:
    """The encoded audio of one row of an arrow or parquet file."""
    row = embedded.row
    if path.suffix == ".parquet":
        group = 0
        for group, size in enumerate(_parquet_groups(str(path))):  # noqa: B007 - the group is used after
            if row < size:
                break
            row -= size
        table = _parquet_group(str(path), group, embedded.column)
    else:
        table = _arrow_table(str(path))
    value = table.column(embedded.column)[row]["bytes"].as_py()
    if value is None:
        raise SpeechlabError(f"{path} row {embedded.row}: no audio bytes in column {embedded.column!r}")
    return bytes(value)
