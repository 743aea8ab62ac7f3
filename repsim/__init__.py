"""repsim: rapid learning or feature reuse? Representational similarity for meta-learning.

The notebook API. Sub-packages, in data-flow order: ``data`` → ``models`` → ``meta`` →
``capture`` → ``similarity`` → ``analyses`` → ``plots`` → ``cli``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
