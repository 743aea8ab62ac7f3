"""Load the real peer libraries for the side-by-side benchmarks (never imported by repsim).

learn2learn 0.2.0's top-level ``__init__`` imports gym, torchvision and its data sets; the
benchmarks need only ``learn2learn.algorithms.maml`` (MAML, clone/adapt) and
``learn2learn.vision.models.cnn4`` (OmniglotCNN), so those modules are loaded from the
installed package without running the package ``__init__`` files. See benchmarks/README.md
for how each peer is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path


def learn2learn_modules() -> tuple[types.ModuleType, types.ModuleType]:
    """(learn2learn.algorithms.maml, learn2learn.vision.models.cnn4) from the installed 0.2.0."""
    if "learn2learn.algorithms.maml" in sys.modules:  # loaded already
        return (sys.modules["learn2learn.algorithms.maml"],
                sys.modules["learn2learn.vision.models.cnn4"])
    spec = importlib.util.find_spec("learn2learn")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "learn2learn is not installed; see benchmarks/README.md "
            "(bash benchmarks/setup_peers.sh)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    version = (root / "_version.py").read_text()
    if "0.2.0" not in version:
        raise SystemExit(f"benchmarks compare against learn2learn 0.2.0; found {version.strip()}")
    for name in ("learn2learn", "learn2learn.algorithms", "learn2learn.vision",
                 "learn2learn.vision.models", "learn2learn.nn"):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
            sys.modules[name] = package
    l2l = sys.modules["learn2learn"]
    l2l.__version__ = "0.2.0"
    l2l.nn = importlib.import_module("learn2learn.nn.misc")  # cnn4 uses l2l.nn.Lambda/Flatten
    maml = importlib.import_module("learn2learn.algorithms.maml")
    cnn4 = importlib.import_module("learn2learn.vision.models.cnn4")
    return maml, cnn4


def repsim_to_l2l_state(state: dict) -> dict:
    """repsim Conv4 parameter names -> learn2learn OmniglotCNN names (base.i / classifier)."""
    out = {}
    for key, value in state.items():
        layer, rest = key.split(".", 1)
        if layer == "head":
            out[f"classifier.{rest}"] = value
        else:
            sub, tensor = rest.split(".")
            block = int(layer[len("conv"):]) - 1
            out[f"base.{block}.{'conv' if sub == 'conv' else 'normalize'}.{tensor}"] = value
    return out


def _load_without_package_init(root: Path, package: str, module: str) -> types.ModuleType:
    """Import ``package.module`` from ``root`` without running ``package/__init__.py``."""
    full = f"{package}.{module}"
    if full in sys.modules:
        return sys.modules[full]
    if package not in sys.modules:
        stub = types.ModuleType(package)
        stub.__path__ = [str(root / package)]
        sys.modules[package] = stub
    return importlib.import_module(full)


def ckatorch_core() -> types.ModuleType:
    """ckatorch.core (pip install --no-deps ckatorch): its __init__ pulls safetensors/seaborn."""
    spec = importlib.util.find_spec("ckatorch")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("ckatorch is not installed; see benchmarks/README.md")
    root = Path(next(iter(spec.submodule_search_locations))).parent
    return _load_without_package_init(root, "ckatorch", "core")


def anatome_distance(checkout: Path) -> types.ModuleType:
    """anatome.distance from a checkout of moskomule/anatome (not on PyPI).

    Its module imports torchvision's feature extractor (for hooks the benchmark does not
    use); a stand-in module object satisfies that import so the functions load with torch
    alone.
    """
    if not (checkout / "anatome" / "distance.py").is_file():
        raise SystemExit(f"no anatome checkout at {checkout}; see benchmarks/README.md")
    if "torchvision" not in sys.modules:
        for name in ("torchvision", "torchvision.models", "torchvision.models.feature_extraction"):
            sys.modules[name] = types.ModuleType(name)
        fx = sys.modules["torchvision.models.feature_extraction"]
        fx.get_graph_node_names = fx.create_feature_extractor = None
    return _load_without_package_init(checkout, "anatome", "distance")


def netrep_metrics(checkout: Path) -> types.ModuleType:
    """netrep.metrics from a checkout of ahwillia/netrep (not on PyPI; needs numpy, scipy,
    scikit-learn and tqdm). ``LinearCKA().score`` is arccos of linear CKA, and
    ``LinearMetric(alpha=0).fit_score`` arccos of the mean canonical correlation."""
    if not (checkout / "netrep" / "metrics" / "cka.py").is_file():
        raise SystemExit(f"no netrep checkout at {checkout}; see benchmarks/README.md")
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    return importlib.import_module("netrep.metrics")
