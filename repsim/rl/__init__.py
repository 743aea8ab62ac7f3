"""Meta-reinforcement learning (PAPER.md "Meta-RL"): environments registered with gymnasium.

Importing ``repsim.rl`` registers ``repsim/Navigation2D-v0``, ``repsim/HalfCheetahVel-v0`` and
``repsim/HalfCheetahDir-v0``. gymnasium and mujoco come with the optional extra ``repsim-maml[rl]``;
without them the import fails with one message that names the extra.
"""

from __future__ import annotations

try:
    import gymnasium  # noqa: F401
    import mujoco  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only where the extra is missing
    raise ImportError(
        f"repsim.rl needs gymnasium and mujoco ({exc.name} is not installed): "
        'install the RL extra with  pip install "repsim-maml[rl]"'
    ) from exc

from repsim.rl.envs import register_envs

register_envs()
