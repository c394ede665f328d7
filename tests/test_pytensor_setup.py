"""PyTensor links OpenBLAS when the system has it (spm_kernel.pytensor_setup)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from spm_kernel import pytensor_setup

HAS_OPENBLAS = pytensor_setup.linkable_openblas() is not None


def test_a_blas_the_user_chose_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTENSOR_FLAGS", "compiledir=/tmp/x,blas__ldflags=-lmkl_rt")
    assert pytensor_setup.link_openblas() is False
    assert os.environ["PYTENSOR_FLAGS"] == "compiledir=/tmp/x,blas__ldflags=-lmkl_rt"


def test_nothing_changes_once_pytensor_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTENSOR_FLAGS", "compiledir=/tmp/x")
    monkeypatch.setitem(sys.modules, "pytensor", sys)  # stands for an imported PyTensor
    assert pytensor_setup.link_openblas() is False
    assert os.environ["PYTENSOR_FLAGS"] == "compiledir=/tmp/x"


@pytest.mark.skipif(not HAS_OPENBLAS, reason="needs Debian's libopenblas-dev (make installs it as root)")
def test_the_forecast_plugin_makes_pytensor_link_openblas(tmp_path) -> None:
    """A fresh interpreter with only a compile dir set: importing the plugin, then PyTensor,
    gives PyTensor the OpenBLAS flag, and it compiles without the "could not link" warning."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"compiledir={tmp_path}"}
    code = ("import warnings; warnings.simplefilter('error', UserWarning)\n"
            "import spm_forecast_pymc, pytensor\n"
            "print(pytensor.config.blas__ldflags)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "-lopenblas"


def test_compiled_code_and_the_numba_cache_stay_in_the_folder(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``base_compiledir`` holds PyTensor's C modules and its numba cache (nutpie's models);
    with ``compiledir`` alone the numba cache went to ~/.pytensor."""
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    code = ("import sys; from spm_kernel.pytensor_setup import keep_compiled_code_in\n"
            "assert keep_compiled_code_in(sys.argv[1])\n"
            "import pytensor; from pytensor.link.numba import cache\n"
            "print(pytensor.config.compiledir); print(cache.NUMBA_CACHE_PATH)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    compiledir, numba_cache = out.stdout.split()
    assert compiledir.startswith(str(tmp_path)) and numba_cache == str(tmp_path / "numba")
    # a folder the user chose is kept; nothing changes once PyTensor is imported
    monkeypatch.setenv("PYTENSOR_FLAGS", "compiledir=/tmp/x")
    assert pytensor_setup.keep_compiled_code_in(tmp_path) is False
    assert os.environ["PYTENSOR_FLAGS"] == "compiledir=/tmp/x"
    monkeypatch.setenv("PYTENSOR_FLAGS", "blas__ldflags=-lopenblas")
    monkeypatch.setitem(sys.modules, "pytensor", sys)
    assert pytensor_setup.keep_compiled_code_in(tmp_path) is False
    assert os.environ["PYTENSOR_FLAGS"] == "blas__ldflags=-lopenblas"
