"""MKL's reproducible mode, which training on the CPU needs to give the same bits at any
thread count.

MKL, torch's BLAS on x86, picks a matrix product's kernel and how it splits the work by
the thread count, so some shapes (1,024 rows into 21 outputs, say) sum in another order
at another ``torch.set_num_threads``. Its strict Conditional Numerical Reproducibility
mode (``MKL_CBWR=AUTO,STRICT``) gives the same bits at any thread count, at no cost we
could measure, except for small products (``ops.reproducible.linear`` takes those). MKL
reads the variable once, at its first call; ``import lexforge`` sets it unless the
environment already does, which is in time unless a matrix product ran before. ``check()``
warns when training starts on the CPU and the mode is not on.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from pathlib import Path

# mkl_cbwr_get's options and flags (mkl_service.h)
_ALL = -1  # MKL_CBWR_ALL (~0): the branch and the modes
_STRICT = 0x10000  # MKL_CBWR_STRICT

VALUE = "AUTO,STRICT"
USER_VALUE = os.environ.get("MKL_CBWR")  # as the environment had it before lexforge
os.environ.setdefault("MKL_CBWR", VALUE)


def strict() -> bool | None:
    """Whether torch's MKL is in its strict reproducible mode; None when torch's CPU BLAS
    is not MKL, or its MKL cannot be asked (the symbol is internal to torch's build)."""
    get = _getter()
    return None if get is None else bool(get(_ALL) & _STRICT)


@functools.cache
def _getter() -> Callable[[int], int] | None:
    import ctypes  # (here: about 1.5 ms of import lexforge's time)

    import torch

    if not torch.backends.mkl.is_available():  # type: ignore[no-untyped-call]
        return None
    folder = Path(torch.__file__).parent / "lib"
    for name in ("libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll"):
        try:
            get = ctypes.CDLL(str(folder / name)).mkl_serv_cbwr_get
        except (OSError, AttributeError):
            continue
        get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
        return get
    return None


def check() -> None:
    """Warns, once, when MKL is not in its strict mode and the environment did not choose
    another before ``import lexforge``."""
    if USER_VALUE is not None and "STRICT" not in USER_VALUE.upper():
        return  # the user chose a mode: theirs to keep
    if strict() is False:
        _warn_once()


@functools.cache
def _warn_once() -> None:
    warnings.warn(
        "MKL's reproducible mode is off (a matrix product ran before `import lexforge`), so "
        "this CPU run gives other bits at another torch thread count; import lexforge "
        f"before running torch, or set MKL_CBWR={VALUE} in the environment",
        stacklevel=3,
    )
