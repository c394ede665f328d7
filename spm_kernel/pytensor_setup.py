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

import ctypes.util
import os
import sys


def link_openblas() -> bool:
    """Add ``blas__ldflags=-lopenblas`` to ``PYTENSOR_FLAGS`` when OpenBLAS is installed,
    no BLAS flag is set yet and PyTensor is not imported. True when the flag is in effect."""
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",") if f]
    if any(f.strip().startswith("blas__ldflags") for f in flags):
        return any(f.strip() == "blas__ldflags=-lopenblas" for f in flags)
    if "pytensor" in sys.modules or ctypes.util.find_library("openblas") is None:
        return False
    os.environ["PYTENSOR_FLAGS"] = ",".join([*flags, "blas__ldflags=-lopenblas"])
    return True
