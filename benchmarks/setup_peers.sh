#!/usr/bin/env bash
# Install the real peer libraries the benchmarks compare against (benchmarks only: repsim never
# imports them). Run from the repository root with the project's venv active, or set PYTHON.
#   bash benchmarks/setup_peers.sh
# Needs PyPI for learn2learn/cython/ckatorch, and a copy of three GitHub repositories
# (google/svcca, moskomule/anatome, ahwillia/netrep; none is on PyPI): cloned here when git can
# reach GitHub, else point SVCCA_SRC / ANATOME_SRC / NETREP_SRC at existing checkouts.
set -euo pipefail
PYTHON=${PYTHON:-python}
PEERS=benchmarks/.peers            # git-ignored
mkdir -p "$PEERS"
work=$(mktemp -d)

# learn2learn 0.2.0: its sdist ships C files from an old Cython that fail on Python >= 3.11.
# Regenerate them with Cython < 3 and build a wheel (PAPER.md). --no-deps: the benchmarks
# import learn2learn.algorithms.maml and learn2learn.vision.models.cnn4 only (benchmarks/_peers.py),
# so neither gym nor torchvision is needed and the installed torch is left alone.
if ! "$PYTHON" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('learn2learn') is None)"; then
  "$PYTHON" -m pip install "cython<3"
  "$PYTHON" -m pip download learn2learn==0.2.0 --no-deps --no-binary learn2learn --no-build-isolation -d "$work"
  tar xzf "$work"/learn2learn-0.2.0.tar.gz -C "$work"
  ( cd "$work"/learn2learn-0.2.0
    find . -name '*.pyx' | while read -r f; do rm -f "${f%.pyx}.c"; done  # force regeneration
    "$PYTHON" setup.py build_ext --inplace >/dev/null
    "$PYTHON" -m pip wheel --no-build-isolation --no-deps . -w "$work" >/dev/null )
  "$PYTHON" -m pip install --no-deps "$work"/learn2learn-0.2.0-*.whl
fi

# ckatorch 1.0.3 (PyPI). --no-deps: the benchmark loads ckatorch.core, which needs torch only.
"$PYTHON" -m pip install --no-deps "ckatorch==1.0.3"

# google/svcca (cca_core.py, pwcca.py run as they are) and moskomule/anatome (anatome/distance.py).
clone() {  # name url src-override
  local dest="$PEERS/$1"
  [ -d "$dest" ] && return
  if [ -n "${3:-}" ]; then cp -r "$3" "$dest"; else git clone --depth 1 "$2" "$dest"; fi
}
clone svcca https://github.com/google/svcca "${SVCCA_SRC:-}"
clone anatome https://github.com/moskomule/anatome "${ANATOME_SRC:-}"
# ahwillia/netrep: not on PyPI (pip finds no distribution named netrep); CKA and CCA peers.
clone netrep https://github.com/ahwillia/netrep "${NETREP_SRC:-}"
"$PYTHON" -m pip install scikit-learn tqdm  # netrep's imports (numpy, scipy are repsim's own)
"$PYTHON" -m pip install threadpoolctl  # thread limits for numpy's BLAS in the benchmarks
rm -rf "$work"
echo "peers ready: learn2learn 0.2.0, ckatorch, $PEERS/svcca, $PEERS/anatome"
