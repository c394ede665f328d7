"""The built-in metrics. Each module is a plugin (listed in
``spm_kernel.plugins.DEFAULT_PLUGINS``) whose ``spm_register_metrics`` hook is ``trylast``, so
a plugin registering the same metric name replaces the built-in."""

MODULES: tuple[str, ...] = (
    "spm_kernel.metrics.builtin.attainment",
    "spm_kernel.metrics.builtin.closing_time",
    "spm_kernel.metrics.builtin.win_rate",
    "spm_kernel.metrics.builtin.deal_size",
    "spm_kernel.metrics.builtin.pipeline",
    "spm_kernel.metrics.builtin.acquisition_cost",
    "spm_kernel.metrics.builtin.retention",
    "spm_kernel.metrics.builtin.compensation_cost",
    "spm_kernel.metrics.builtin.pay_for_performance",
    "spm_kernel.metrics.builtin.ramp",
)
