"""PyTensor's BLAS, set before PyTensor is first imported.

PyTensor compiles each PyMC model to C and links the matrix products to a BLAS library. Its
own detection looks where conda puts one; with pip-installed NumPy on Debian it finds none,
warns "PyTensor could not link to a BLAS installation" and falls back to NumPy's C API,
which makes every gradient of the forecasting models slower. When the system has OpenBLAS
(Debian's ``libopenblas-dev``, installed by ``make``) and the user has not chosen a BLAS,
:func:`link_openblas` points PyTensor at it through ``PYTENSOR_FLAGS``.

Call it before ``import pymc`` / ``import pytensor``; once PyTensor is imported it reads its
flags no more, and the call changes nothing.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path


def linkable_openblas() -> Path | None:
    """The ``libopenblas.so`` the linker finds for ``-lopenblas`` (the development symlink
    ``libopenblas-dev`` installs; the runtime's ``libopenblas.so.0`` alone cannot be linked)."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for folder in (f"/usr/lib/{multiarch}", f"/lib/{multiarch}", "/usr/lib64", "/usr/lib", "/usr/local/lib"):
        candidate = Path(folder) / "libopenblas.so"
        if candidate.exists():
            return candidate
    return None


def link_openblas() -> bool:
    """Add ``blas__ldflags=-lopenblas`` to ``PYTENSOR_FLAGS`` when OpenBLAS can be linked,
    no BLAS flag is set yet and PyTensor is not imported. True when the flag is in effect."""
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",") if f]
    if any(f.strip().startswith("blas__ldflags") for f in flags):
        return any(f.strip() == "blas__ldflags=-lopenblas" for f in flags)
    if "pytensor" in sys.modules or linkable_openblas() is None:
        return False
    os.environ["PYTENSOR_FLAGS"] = ",".join([*flags, "blas__ldflags=-lopenblas"])
    return True


def keep_compiled_code_in(folder: str | os.PathLike[str]) -> bool:
    """Set ``base_compiledir=folder`` in ``PYTENSOR_FLAGS`` unless a compile folder is set (or
    PyTensor is imported). PyTensor keeps its C modules *and* its numba cache (nutpie's models)
    under ``base_compiledir``; ``compiledir`` alone leaves the numba cache in ``~/.pytensor``.
    True when ``folder`` is now PyTensor's base compile folder."""
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",") if f]
    if any(f.strip().split("=")[0] in ("base_compiledir", "compiledir") for f in flags):
        return any(f.strip() == f"base_compiledir={folder}" for f in flags)
    if "pytensor" in sys.modules:
        return False
    os.environ["PYTENSOR_FLAGS"] = ",".join([*flags, f"base_compiledir={folder}"])
    return True
