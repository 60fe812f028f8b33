"""Optional dependencies: checked before work starts, named with the extra that installs
them (the tokenizers need none; the models and loops need ``lexforge[train]``)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re

from .errors import MissingDependencyError

# the modules each extra of pyproject.toml brings, by the name Python imports them by
EXTRAS = {"torch": "train", "safetensors": "train", "pyarrow": "parquet"}
# the oldest versions that work, as pyproject.toml's floors say (torch 2.4 brought
# ``torch.library.custom_op``, which the attention op is registered with at import)
FLOORS = {"torch": (2, 4)}


def require(what: str, *modules: str) -> None:
    """``MissingDependencyError`` naming the modules of ``modules`` that are not installed,
    and the extra that installs them; ``what`` (e.g. "lexforge pretrain") needs them."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        extras = sorted({EXTRAS[m] for m in missing})
        install = " ".join(f"'lexforge[{e}]'" for e in extras)
        raise MissingDependencyError(
            f"{what} needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'}"
            f" not installed: pip install {install}"
        )
    for module in modules:
        _check_floor(what, module)


def _check_floor(what: str, module: str) -> None:
    """``MissingDependencyError`` when ``module`` is older than its floor (read from the
    installed package's metadata: nothing is imported)."""
    floor = FLOORS.get(module)
    if floor is None:
        return
    try:
        found = importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:  # (a source build without metadata)
        return
    numbers = re.match(r"(\d+)\.(\d+)", found)
    if numbers is None or tuple(int(x) for x in numbers.groups()) >= floor:
        return
    least = ".".join(map(str, floor))
    raise MissingDependencyError(
        f"{what} needs {module}>={least}, and this is {module} {found}: pip install -U "
        f"'{module}>={least}' (or 'lexforge[{EXTRAS[module]}]')"
    )


def missing_module(error: ImportError) -> MissingDependencyError | None:
    """The error to show for an optional dependency that is not installed (None for any
    other ImportError: a name an installed but older version lacks is not a missing
    package)."""
    if not isinstance(error, ModuleNotFoundError):
        return None
    name = (error.name or "").partition(".")[0]
    if name not in EXTRAS or importlib.util.find_spec(name) is not None:
        return None
    return MissingDependencyError(
        f"this needs {name}, which is not installed: pip install 'lexforge[{EXTRAS[name]}]'"
    )
