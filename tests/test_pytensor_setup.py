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
