"""Reading input files in batches and writing the scored rows, both streamed through pyarrow.

INPUT is one file or a directory of part files (Parquet, CSV or JSON Lines); batches are read
file by file, so each one knows the file it came from and its row range there, and no more than
a few batches are in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envrun.batch.frames import need_pyarrow
from envrun.errors import InputError

INPUT_FORMATS = ("parquet", "csv", "jsonl")
OUTPUT_FORMATS = ("parquet", "csv")
_SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclass(frozen=True)
class Chunk:
    """One batch of input rows and where it came from."""

    batch: Any  # pyarrow.RecordBatch
    file: Path
    first_row: int  # within its file, from 0
    offset: int  # within the whole input, from 0

    @property
    def rows(self) -> int:
        """How many rows this batch holds."""
        return int(self.batch.num_rows)

    def where(self) -> str:
        """Its row range, as a person would look it up ("rows 100-199 of part-1.parquet")."""
        span = max(self.rows, 1) - 1
        return (
            f"rows {self.first_row}-{self.first_row + span} of {self.file} "
            f"(rows {self.offset}-{self.offset + span} of the input)"
        )


def _format_of(path: Path) -> str | None:
    return _SUFFIXES.get(path.suffix.lower())


def input_files(source: Path, fmt: str | None) -> tuple[list[Path], str]:
    """The part files of INPUT in name order, and their format."""
    if not source.exists():
        raise InputError(
            "the batch input does not exist",
            value=str(source),
            fix="pass a file or a directory of part files",
        )
    if source.is_dir():
        files = sorted(
            p
            for p in source.iterdir()
            if p.is_file() and not p.name.startswith((".", "_")) and (fmt or _format_of(p))
        )
        if fmt is None:
            files = [p for p in files if _format_of(p) is not None]
    else:
        files = [source]
    formats = {fmt or _format_of(p) for p in files}
    if not files or None in formats or len(formats) != 1:
        raise InputError(
            "cannot tell the batch input's format"
            if files
            else "the batch input directory has no Parquet, CSV or JSON Lines files",
            value=f"{source} ({', '.join(sorted(str(f) for f in formats)) or 'no files'})",
            fix=f"name files .parquet, .csv or .jsonl, or pass --input-format ({', '.join(INPUT_FORMATS)})",
        )
    found = formats.pop()
    assert found is not None
    return files, found


def count_rows(files: list[Path], fmt: str) -> int | None:
    """The number of input rows when it is cheap to know (Parquet metadata); else None."""
    if fmt != "parquet":
        return None
    pq = _parquet()
    return sum(int(pq.ParquetFile(path).metadata.num_rows) for path in files)


def read_chunks(files: list[Path], fmt: str, batch_size: int) -> Iterator[Chunk]:
    """The input, batch by batch, file after file; no batch is larger than batch_size."""
    offset = 0
    for path in files:
        first = 0
        try:
            for batch in _batches(path, fmt, batch_size):
                if batch.num_rows == 0:
                    continue
                yield Chunk(batch, path, first, offset)
                first += batch.num_rows
                offset += batch.num_rows
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise InputError(
                f"cannot read the batch input ({fmt})",
                value=f"{path}, after row {first}: {exc}",
                fix="check the file, or name its format with --input-format",
            ) from None


def _parquet() -> Any:
    need_pyarrow()
    import pyarrow.parquet as pq

    return pq


def _batches(path: Path, fmt: str, batch_size: int) -> Iterator[Any]:
    if fmt == "parquet":
        handle = _parquet().ParquetFile(path)
        yield from handle.iter_batches(batch_size=batch_size)
        return
    if fmt == "csv":
        import pyarrow.csv as pcsv

        # The block size bounds memory; batches are re-cut to batch_size below.
        reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 22))
        for batch in reader:
            yield from _recut(batch, batch_size)
        return
    import pyarrow.json as pjson

    # pyarrow reads JSON Lines whole; a directory of part files keeps each one small.
    table = pjson.read_json(path)
    for batch in table.to_batches(max_chunksize=batch_size):
        yield batch


def _recut(batch: Any, size: int) -> Iterator[Any]:
    for start in range(0, batch.num_rows, size):
        yield batch.slice(start, size)


class OutputWriter:
    """Writes scored batches to one Parquet or CSV file; the first batch fixes the schema."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self.rows = 0
        self._writer: Any = None
        self._schema: Any = None
        self._partial = path.with_name(f".{path.name}.partial")

    def write(self, table: Any) -> None:
        """Append one batch (a pyarrow Table)."""
        pa = need_pyarrow()
        if self._writer is None:
            self._schema = table.schema
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.fmt == "parquet":
                self._writer = _parquet().ParquetWriter(self._partial, self._schema)
            else:
                import pyarrow.csv as pcsv

                self._writer = pcsv.CSVWriter(self._partial, self._schema)
        elif table.schema != self._schema:
            try:
                table = table.select(self._schema.names).cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError) as exc:
                raise InputError(
                    "a batch's predictions do not fit the columns of the first batch",
                    value=f"{table.schema} vs {self._schema}: {exc}",
                    fix="the model should return the same columns and types for every batch",
                ) from None
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self, *, keep: bool, empty: Any = None) -> None:
        """Finish the file (moved into place only when `keep`), or remove what was written;
        with no batch written, `empty` (a pyarrow Table) is written instead."""
        if keep and self._writer is None and empty is not None:
            self.write(empty)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if keep and self._partial.exists():
            self._partial.replace(self.path)
        elif not keep:
            self._partial.unlink(missing_ok=True)


def output_format(path: Path, fmt: str | None) -> str:
    """The output format: named, else from the suffix (.parquet, .pq, .csv)."""
    found = fmt or _format_of(path)
    if found not in OUTPUT_FORMATS:
        raise InputError(
            "cannot tell the output format",
            value=str(path),
            fix="name the output .parquet or .csv, or pass --output-format",
        )
    assert found is not None
    return found
