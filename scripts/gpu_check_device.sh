#!/bin/sh
# Run on the lent GPU machine after the parts of .gpu-carry/ were staged into .gpu-stage/
# (see .gpu-carry/CALLS.txt, made by scripts/prepare_gpu_carry.py). Installs the carried wheels
# into .gpu-site/ (once; no network: --no-index) and runs the GPU check; the JSON goes to $OUT
# (the device tool brings that folder back) or build/.
set -eu
if [ ! -f .gpu-site/.installed ]; then
  python3 -m pip install --quiet --no-index --no-deps --target .gpu-site .gpu-stage/wheels/*.whl
  touch .gpu-site/.installed
fi
export PYTHONPATH="$PWD/.gpu-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
# --target puts the packages' data files (nbconvert's templates, the kernel spec) here:
export JUPYTER_PATH="$PWD/.gpu-site/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export KERAS_BACKEND="${KERAS_BACKEND:-jax}" NNX_DATA_DIR="$PWD/.gpu-stage/data/datasets"
out="${OUT:-build}"
python3 -m pipeline doctor --data-dir "$NNX_DATA_DIR" || true
python3 -m benchmarks.gpu_check --data-dir "$NNX_DATA_DIR" --out "$out/gpu_check.json" --budget-s "${GPU_CHECK_BUDGET_S:-420}" "$@"
