"""Stage durations from the canonical stage history (whichever source filled it)."""

from __future__ import annotations

import pandas as pd

from spm_kernel.workspace import Workspace


def stage_durations(ws: Workspace) -> pd.DataFrame:
    """One row per stage a deal entered: ``entered_date``, ``left_date`` (when it entered its
    next stage; null while it is still there) and ``days`` between them. Entries on the same
    day are ordered by their source id (Salesforce ids increase with creation)."""
    return ws.con.execute(
        """
        SELECT opportunity_id, stage, entered_date,
               lead(entered_date) OVER w AS left_date,
               date_diff('day', entered_date, lead(entered_date) OVER w) AS days
        FROM opportunity_stage_history
        WINDOW w AS (PARTITION BY opportunity_id ORDER BY entered_date, source_id)
        ORDER BY opportunity_id, entered_date, source_id
        """).df()
