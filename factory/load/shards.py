"""Which loader file holds which spec's DAG.

Airflow gives each DAG file one process and one clock (`dagbag_import_timeout`, 30 s,
and `dag_file_processor_timeout`, 50 s, by default). One file holding every DAG was
killed at 10,000 specs with none of them left and no error recorded (docs/benchmarks.md
says where its time went). So the DAGs are spread over a fixed set of loader files,
`factory_dags_<i>_of_<n>.py`, each holding the specs whose DAG id hashes to it.

- The set is fixed, in the file names: a spec's file never changes when other specs are
  added or removed, so a DAG never moves between files (Airflow would mark it stale
  for as long as the old file is parsed before the new one).
- The hash is CRC-32 of the DAG id, the same in every process and Python version
  (`hash()` is salted per process).
- A file's name says how many files there are, so the reporter can tell when one of
  them is missing and say which specs have no DAG because of it.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

# Sized by the DAG processor at 20,000 specs (docs/benchmarks.md, "Why thirty-two").
# - A file's process holds all its DAGs and their serialisation at once, and the manager
#   holds a file's whole result while it writes it, so the peak memory grows with the
#   DAGs per file: 16 files (1,250 DAGs each) took 1.48x the memory of hand-written
#   files of 250 DAGs; 32 keep a file at 625.
# - The manager writes one file's DAGs at a time (about 24 ms a DAG on PostgreSQL),
#   while the other file processor, done parsing, waits to hand over its own, and the
#   processor timeout (50 s) counts that wait: 625 DAGs wait about 15 s.
# - Each file costs a process per parse cycle whatever the number of specs, about
#   0.35 s of CPU once it holds a DAG (factory/compile/assets.py says why not more).
SHARDS = 32
_NAME = re.compile(r"^factory_dags_([0-9]+)_of_([0-9]+)\.py$")


@dataclass(frozen=True)
class Shard:
    """One loader file: the `index`-th (from 1) of `count`."""

    index: int
    count: int

    @classmethod
    def of_file(cls, path: str | Path) -> Shard | None:
        """The shard a loader file is, from its name; None for any other name."""
        found = _NAME.match(Path(path).name)
        if found is None:
            return None
        index, count = int(found.group(1)), int(found.group(2))
        return cls(index, count) if 1 <= index <= count else None

    @classmethod
    def for_dag(cls, dag_id: str, count: int = SHARDS) -> Shard:
        return cls(zlib.crc32(dag_id.encode()) % count + 1, count)

    @property
    def file_name(self) -> str:
        return f"factory_dags_{self.index}_of_{self.count}.py"

    @property
    def tag(self) -> str:
        """Names this shard's own files in the cache folder."""
        return f"{self.index}of{self.count}"

    def holds(self, dag_id: str) -> bool:
        return zlib.crc32(dag_id.encode()) % self.count == self.index - 1


LOADER_FILES = tuple(Shard(i, SHARDS).file_name for i in range(1, SHARDS + 1))


def loader_file(dag_id: str) -> str:
    """The loader file that holds this DAG id's DAG."""
    return Shard.for_dag(dag_id).file_name


def shard_problems(dags_dir: Path) -> list[tuple[str, str]]:
    """(file, why) for each loader file that should be in `dags_dir` and is not, or that is
    there and should not be: what the reporter tells, since their specs have no DAG."""
    names = sorted(p.name for p in dags_dir.glob("factory_dags*.py"))
    shards = [s for s in map(Shard.of_file, names) if s is not None]
    counts = {s.count for s in shards}
    problems: list[tuple[str, str]] = []
    if len(counts) > 1 or (counts and counts != {SHARDS}):
        wrong = sorted(s.file_name for s in shards if s.count != SHARDS)
        problems += [(name, f"one of a set of {Shard.of_file(name).count} loader files, and this factory "  # type: ignore[union-attr]
                      f"uses {SHARDS}: its DAGs are also in another file; remove it") for name in wrong]  # fmt: skip
    present = {s.file_name for s in shards}
    problems += [
        (name, "missing, so the specs it holds have no DAG: copy it back from the factory's dags/")
        for name in LOADER_FILES
        if name not in present
    ]
    problems += [
        (name, "the loader file of an older factory: it loads nothing beside these; remove it")
        for name in names
        if name == "factory_dags.py" and present
    ]
    return problems
