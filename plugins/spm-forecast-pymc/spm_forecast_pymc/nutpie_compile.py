"""Compile a PyMC model for nutpie with lean C entry points (a shorter compile, same draws).

``nutpie.compile_pymc_model(model, backend="numba")`` wraps PyTensor's compiled logp-and-gradient
in a numba ``cfunc`` that nutpie's Rust sampler calls. That wrapper cannot be cached (it closes
over pointers), so numba compiles it on every fit, and its body is expensive to compile:
``out[...] = grad`` brings numba's broadcast checks with their formatted shape errors (string
formatting is slow to compile in numba) and ``np.all(np.isfinite(out))`` a reduction. On Model A
with the renewal book (184 payees x 36 months, PyTensor's cache warm) the whole compile took
38-43 s; with the wrappers below, which copy and check element by element, 28-31 s. The draws are
the same: the wrappers compute the same values and return the same status codes (0 ok, 1 an
exception, 3 a non-finite gradient, 4 a non-finite logp; -1 a dimension mismatch).

The wrappers replace two private functions of ``nutpie.compile_pymc`` for the duration of one
call, under a lock. If a nutpie release renames them, :func:`compile_for_nutpie` falls back to
nutpie's own compile (slower, equally correct); a test fails then, so the speed loss is noticed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pymc as pm

_PATCH_LOCK = threading.Lock()
_NUTPIE_INTERNALS = ("_make_c_logp_func", "_make_c_expand_func", "make_extraction_fn")


def compile_for_nutpie(model: pm.Model) -> Any:
    """``nutpie.compile_pymc_model(model, backend="numba")`` with the lean wrappers."""
    import nutpie

    with _lean_wrappers():
        return nutpie.compile_pymc_model(model, backend="numba")


def lean_wrappers_available() -> bool:
    """Whether this nutpie has the internals the lean wrappers replace."""
    import nutpie.compile_pymc as ncp

    return all(callable(getattr(ncp, name, None)) for name in _NUTPIE_INTERNALS)


@contextmanager
def _lean_wrappers() -> Iterator[None]:
    import nutpie.compile_pymc as ncp

    if not lean_wrappers_available():
        yield
        return
    with _PATCH_LOCK:
        saved = (ncp._make_c_logp_func, ncp._make_c_expand_func)
        ncp._make_c_logp_func, ncp._make_c_expand_func = _make_c_logp_func, _make_c_expand_func
        try:
            yield
        finally:
            ncp._make_c_logp_func, ncp._make_c_expand_func = saved


def _make_c_logp_func(n_dim: int, logp_fn: Callable[..., Any], user_data: np.ndarray,
                      shared_logp: list[str], shared_data: dict[str, np.ndarray]
                      ) -> tuple[Callable[..., int], Any]:
    """nutpie's ``_make_c_logp_func`` (same signature and status codes), copying by element."""
    import numba
    import nutpie.compile_pymc as ncp

    extract = ncp.make_extraction_fn(logp_fn, shared_data, shared_logp, user_data.dtype)
    double_p = numba.types.CPointer(numba.types.double)
    c_sig = numba.types.int64(numba.types.uint64, double_p, double_p, double_p,
                              numba.types.voidptr)

    def logp_numba(dim, x_, out_, logp_, user_data_):  # type: ignore[no-untyped-def]
        if dim != n_dim:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            logp_val, grad = extract(x, user_data_)
            logp_[0] = logp_val
            finite = True
            for i in range(n_dim):
                out_[i] = grad[i]
                finite = finite and np.isfinite(grad[i])
            if not finite:
                return 3
            if not np.isfinite(logp_val):
                return 4
        except Exception:  # noqa: BLE001 - nutpie reads status 1 as an error in the logp
            return 1
        return 0

    return logp_numba, c_sig


def _make_c_expand_func(n_dim: int, n_expanded: int, expand_fn: Callable[..., Any],
                        user_data: np.ndarray, shared_vars: list[str],
                        shared_data: dict[str, np.ndarray]) -> tuple[Callable[..., int], Any]:
    """nutpie's ``_make_c_expand_func`` (same signature and status codes), copying by element."""
    import numba
    import nutpie.compile_pymc as ncp

    extract = ncp.make_extraction_fn(expand_fn, shared_data, shared_vars, user_data.dtype)
    double_p = numba.types.CPointer(numba.types.double)
    c_sig = numba.types.int64(numba.types.uint64, numba.types.uint64, double_p, double_p,
                              numba.types.voidptr)

    def expand_numba(dim, expanded, x_, out_, user_data_):  # type: ignore[no-untyped-def]
        if dim != n_dim or expanded != n_expanded:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            (values,) = extract(x, user_data_)
            for i in range(n_expanded):
                out_[i] = values[i]
        except Exception:  # noqa: BLE001 - nutpie reads a negative status as an error
            return -2
        return 0

    return expand_numba, c_sig
