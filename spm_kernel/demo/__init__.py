"""The demo company, Northwind Analytics: a deterministic, realistic SPM dataset.

>>> from spm_kernel.demo import build_demo
>>> ws = build_demo("demo-workspace")                 # doctest: +SKIP  (scale 1, ~200 payees)
>>> ws = build_demo("bench-ws", scale=50, seed=7)     # doctest: +SKIP  (10,000 payees, 12M transactions)

See ``docs/demo.md`` for what it contains and :mod:`spm_kernel.demo.generator` for the model.
"""

from spm_kernel.demo.build import MAX_SCALE, build_demo
from spm_kernel.demo.company import AS_OF, COMPANY_NAME, FISCAL_YEARS, START, TRAINING_EFFECT
from spm_kernel.demo.generator import TABLE_ORDER, generate, generate_division, tables

__all__ = ["AS_OF", "COMPANY_NAME", "FISCAL_YEARS", "MAX_SCALE", "START", "TABLE_ORDER", "TRAINING_EFFECT",
           "build_demo", "generate", "generate_division", "tables"]
