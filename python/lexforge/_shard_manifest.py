"""A shard folder's ``manifest.json``: its format and version, reading it back with every
field checked (a damaged one is a :class:`~lexforge.errors.ShardError` saying what is
wrong), writing it atomically (as every file of the folder is written, through
:func:`_write_atomic`), and the records of the corpus files that tell a resumed build
whether the corpus changed since.

What the shards hold and how they are built is :mod:`lexforge._shard_build`'s; reading
the shard files is :class:`lexforge.shards.ShardSet`'s.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from lexforge._json import loads_json
from lexforge.errors import ShardError
from lexforge.formats import atomic_write_with, sha256_file

FORMAT = "lexforge-shards"
VERSION = 1
_PARTS = ("tokens", "sentences", "documents")


# every shard file and the manifest: a temporary file in the same folder, synced, renamed
_write_atomic = atomic_write_with


def _source(f: Path) -> dict[str, Any]:
    stat = f.stat()
    return {"path": str(f.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _same_sources(before: Any, now: list[dict[str, Any]]) -> bool:
    """Whether the corpus files are the ones the shards were built from: the same sizes,
    and the same contents where a file was modified since or is elsewhere now (an edit
    that keeps the size is caught by its sha256; a file only touched, or moved or copied
    with its folder, as a run folder renamed, is still the same)."""
    if not isinstance(before, list) or len(before) != len(now):
        return False
    for old, new in zip(before, now, strict=True):
        if not isinstance(old, dict) or old.get("size") != new["size"]:
            return False
        moved = old.get("path") != new["path"]
        if moved or ("mtime_ns" in old and old["mtime_ns"] != new["mtime_ns"]):
            if sha256_file(Path(new["path"])) != old.get("sha256"):
                return False
            # the same text: recorded where and as it is now, saved with the manifest
            old.update(path=new["path"], mtime_ns=new["mtime_ns"])
    return True


def _no_text_yet(manifest_path: Path, *, missing: bool = False) -> bool:
    """Whether ``manifest_path`` is one of our manifests, of a build that stopped before
    any shard with text was finished (``missing``: what a manifest never written says)."""
    try:
        manifest = loads_json(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return missing
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return False
    shards = manifest.get("shards")
    return (
        not manifest.get("complete")
        and isinstance(shards, dict)
        and not any(isinstance(r, dict) and r.get("documents") for r in shards.values())
    )


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = loads_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ShardError(f"{path} is not a readable shard manifest ({e}); rebuild them") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ShardError(f"{path} is not a lexforge shard manifest")
    if manifest.get("version") != VERSION:
        raise ShardError(
            f"{path} has shard format version {manifest.get('version')}, this lexforge reads "
            f"version {VERSION}; rebuild the shards"
        )
    problem = _manifest_problem(manifest)
    if problem:
        raise ShardError(f"{path} is damaged: {problem}; delete the folder and rebuild the shards")
    return manifest


def _whole(value: Any, most: int = 2**63) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


def _planned(entry: Any, sources: int) -> bool:
    """Whether a plan entry is a shard's ``[source, start, end]`` byte ranges (one range
    alone in manifests from before shards were grouped), each of a listed source."""
    ranges = [entry] if isinstance(entry, list) and entry and _whole(entry[0]) else entry
    return isinstance(ranges, list) and bool(ranges) and all(_range(r, sources) for r in ranges)


def _range(found: Any, sources: int) -> bool:
    if not (isinstance(found, list) and len(found) == 3 and all(_whole(x) for x in found)):
        return False
    source, start, end = found
    return bool(source < sources and start <= end)


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with the fields of a manifest of this format, or None."""
    if not _whole(manifest.get("vocab_size"), 2**32 - 1) or not manifest["vocab_size"]:
        return f"vocab_size is {manifest.get('vocab_size')!r}, not a count in [1, 2**32)"
    if manifest.get("dtype") not in ("uint16", "uint32"):
        return f"dtype is {manifest.get('dtype')!r}, not 'uint16' or 'uint32'"
    sources, shards = manifest.get("sources"), manifest.get("shards")
    if not isinstance(sources, list) or not all(
        isinstance(x, dict) and isinstance(x.get("path"), str) for x in sources
    ):
        return "sources is not a list of {path: ...} records"
    plan = manifest.get("plan")
    if not isinstance(plan, list) or not all(_planned(entry, len(sources)) for entry in plan):
        return "plan is not a list of shards' [source, start, end] byte ranges"
    if not isinstance(shards, dict):
        return "shards is not an object"
    for name, record in shards.items():
        counts = ("source", "start", "end", *_PARTS)
        if not isinstance(record, dict) or not all(_whole(record.get(k)) for k in counts):
            return f"shard {name!r} lacks whole-number {', '.join(counts)}"
        if record["source"] >= len(sources):
            return f"shard {name!r} names source {record['source']} of {len(sources)}"
        sizes = record.get("bytes")
        if not isinstance(sizes, dict) or not all(_whole(sizes.get(k)) for k in _PARTS):
            return f"shard {name!r} lacks the byte sizes of its {', '.join(_PARTS)} files"
        sums = record.get("sha256", {})  # (manifests from before: none recorded)
        if not isinstance(sums, dict) or not all(
            isinstance(v, str) and len(v) == 64 for v in sums.values()
        ):
            return f"shard {name!r} has sha256 {str(sums)[:60]!r}, not hex digests of its files"
        if not record["documents"] and record["tokens"]:
            return f"shard {name!r} records {record['tokens']} tokens in no document"
    return None


def _save_progress(path: Path, manifest: dict[str, Any]) -> None:
    if not manifest["complete"]:
        with contextlib.suppress(OSError):  # (a full disk: the shards are rebuilt next time)
            _write_manifest(path, manifest)


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, separators=(",", ":")).encode("utf-8")  # json's C encoder
    _write_atomic(path, lambda f: f.write(data))
