"""The compensation engine: runs, the ledger, close and prior-period adjustments,
explanations, what-if comparisons and disputes.

The Workspace delegates to it::

    run = ws.calculate("2026-03")           # spm calc 2026-03
    print(run.explain("P0001"))
    ws.close_period("2026-03")              # spm close 2026-03
    cmp = ws.compare("ae-plan@1", "ae-plan@2", "FY2026")
    d = ws.disputes.raise_inquiry(line_id, "my Acme deal is missing", actor="P0001")
"""

from spm_kernel.engine.calculate import ENGINE_VERSION, calculate
from spm_kernel.engine.close import close_period
from spm_kernel.engine.ledger import EngineError
from spm_kernel.engine.runs import Explanation, Run

__all__ = ["ENGINE_VERSION", "EngineError", "Explanation", "Run", "calculate", "close_period"]
