"""Built-in plan types, each registered as a plugin through ``spm_register_plan_types``.

The contract every plan type implements (what it receives and what it returns) lives in
:mod:`spm_kernel.plantypes.contract` and is re-exported by :mod:`spm_kernel.extensions`.
This package imports nothing at import time so that the contract can be imported from
``spm_kernel.extensions`` without a cycle.
"""
