"""Reading repsim's CSV files (``metrics.csv`` …) with errors that name the file.

pandas says "No columns to parse from file" for an empty CSV, without saying which; a run
killed before its first log line leaves such a file (issue 21).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["read_csv"]


def read_csv(path: str | Path, **kwargs: Any) -> Any:
    """``pandas.read_csv(path)``; an empty or unparsable file is a ValueError naming it."""
    import pandas as pd

    path = Path(path)
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{path} is empty (no header, no rows): the run that writes it stopped before its "
            "first record; resume or rerun that run, or delete the file"
        ) from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path} is not a readable CSV file ({' '.join(str(exc).split())})"
                         ) from None
