"""What eval / compare / ablate share before their library call: options and loading.

``--preset`` rebuilds the network of a bare (learn2learn) state_dict; ``--download`` fetches
the checkpoint's dataset (Omniglot) when it is missing. A checkpoint is loaded once here and
handed to the library as a :class:`~repsim.meta.checkpoint.TrainedModel`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from repsim.cli._common import option

__all__ = ["Download", "Preset", "load_sources"]

Preset = option(
    Optional[str],  # noqa: UP045 (typer needs Optional on 3.10)
    "For a bare (learn2learn) state_dict: how it was trained, e.g. omniglot-5w1s "
    "(names: repsim.PRESETS). A repsim checkpoint carries its own config.",
)
Download = option(bool, "Fetch Omniglot (official, md5-checked) if missing.", "--download")


def load_sources(
    sources: list[Path],
    *,
    preset: str | None,
    device: str,
    download: bool,
    data_dir: Path | None,
) -> list[Any]:
    """Checkpoint files → TrainedModel (run directories stay paths); fetch data if asked."""
    from repsim.meta.checkpoint import checkpoint_paths, load_trained, resolve_config

    config = resolve_config(preset)  # an unknown preset fails before anything loads
    loaded: list[Any] = []
    datasets: set[str] = set()
    for source in sources:
        if source.is_dir():
            loaded.append(source)
            found = checkpoint_paths(source)
            if download and found:
                datasets.add(load_trained(found[0][1], config=config).config.dataset)
            continue
        trained = load_trained(source, device=device, config=config)
        datasets.add(trained.config.dataset)
        loaded.append(trained)
    if download and "omniglot" in datasets:
        from repsim.data import download_omniglot

        download_omniglot(data_dir)
    # MiniImageNet cannot be downloaded (licence): its missing-data error says where it goes.
    return loaded
