"""Tiny sampler settings for the fast tests: two short chains run one after the other,
enough to exercise every code path (they do not converge, and tests say so)."""

TINY = {"sampler": {"tune": 40, "draws": 40, "chains": 2, "cores": 1, "progressbar": False},
        "history_months": 24}
TINY_PIPELINE = {"sampler": {"tune": 150, "draws": 40, "chains": 2, "cores": 1, "progressbar": False},
                 "training_months": 12, "simulations": 400}
