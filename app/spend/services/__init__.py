"""The spend map and its impact figures.

Buyers read and import their own organization's spend; coordinators and admins read every organization's and
import for any; suppliers see none. Imports are all or nothing and recorded with the file's SHA-256 per
organization, so the same file is never counted twice; an admin may roll an import back as a whole.

Every figure is computed from the `spend_cell` aggregates (one row per organization × year × CPV category ×
supplier, written at import time) read straight from the database cursor into pandas; only the drill-down to the
lines reads the lines themselves, kept columnar in `spend_block` (app/spend/blocks.py).

One module per part; each public name is re-exported here, so callers write
`from app.spend import services; services.import_spend(...)`:

- access: who reads which organization's spend;
- imports: checking and importing a file, the imports list, rolling an import back;
- jobs: large files imported in the background by the scheduler, and their progress;
- cube: the cells as a DataFrame, CPV labels, the organizations × prefix × year cube;
- maps: the category map and the drill-down to the lines;
- impact: local share, carbon estimate and its emission mapping, savings ranges of the overlaps.
"""

from app.spend.services.access import READER_ROLES, check_reader
from app.spend.services.cube import (
    CELL_PREFIX,
    LEVELS,
    CubeItem,
    cpv_labels,
    cube_items,
    cube_rows,
    organization_codes,
    spend_cube,
)
from app.spend.services.impact import (
    LocalShareReport,
    MappingRow,
    OverlapSavings,
    carbon_report,
    emission_factors,
    emission_mapping,
    local_share_report,
    metropole_area,
    overlap_savings,
    savings_assumptions,
    update_emission_mapping,
)
from app.spend.services.imports import (
    QuarantineEntry,
    SpendPreview,
    check_spend_import,
    import_notes,
    import_quarantine,
    import_spend,
    quarantine_entry,
    quarantine_query,
    quarantine_reason,
    rollback_import,
    supplier_key,
    visible_imports,
)
from app.spend.services.jobs import job_problems, job_progress, queue_spend_import, spend_import_job
from app.spend.services.maps import (
    CategoryRow,
    Pooling,
    SpendMap,
    child_level,
    level_of_prefix,
    pooling_items,
    pooling_query,
    spend_lines,
    spend_map,
)

__all__ = [
    "CELL_PREFIX",
    "LEVELS",
    "READER_ROLES",
    "CategoryRow",
    "CubeItem",
    "LocalShareReport",
    "MappingRow",
    "OverlapSavings",
    "QuarantineEntry",
    "SpendMap",
    "SpendPreview",
    "carbon_report",
    "cube_items",
    "cube_rows",
    "check_reader",
    "check_spend_import",
    "child_level",
    "cpv_labels",
    "emission_factors",
    "emission_mapping",
    "import_notes",
    "import_quarantine",
    "job_problems",
    "job_progress",
    "import_spend",
    "level_of_prefix",
    "local_share_report",
    "metropole_area",
    "organization_codes",
    "overlap_savings",
    "quarantine_entry",
    "quarantine_query",
    "quarantine_reason",
    "queue_spend_import",
    "rollback_import",
    "savings_assumptions",
    "spend_cube",
    "spend_import_job",
    "spend_lines",
    "spend_map",
    "Pooling",
    "pooling_items",
    "pooling_query",
    "supplier_key",
    "update_emission_mapping",
    "visible_imports",
]
