#!/bin/sh
# The GPU check on an offline GPU host (docs/gpu.md): .gpu-carry/run.sh, written by
# scripts/prepare_gpu_carry.py, runs this from the carried tree. Installs the carried wheels
# into a temporary site folder (no network: --no-index), points imageio-ffmpeg at the carried
# ffmpeg, and runs `python -m benchmarks.gpu_check` on the carried data. The JSON and the log
# go to $OUT (the folder to bring back), else build/. Extra arguments go to gpu_check
# (e.g. --only SLUG --profile quick).
set -eu
carry="${GPU_CARRY:-.gpu-carry}"
site="${GPU_SITE:-/tmp/gpu-site}"
out="${OUT:-build}"
mkdir -p "$out"
say() { echo "gpu_check_device: $*" >&2; }

[ -d "$carry/wheels" ] || { say "no $carry/wheels: run scripts/prepare_gpu_carry.py here first"; exit 2; }
carry="$(cd "$carry" && pwd)"
python3 -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$site" "$carry"/wheels/*.whl
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
# --target puts the packages' data files (nbconvert's templates, the kernel spec) here:
export JUPYTER_PATH="$site/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"

if [ -f "$carry/ffmpeg/ffmpeg" ]; then
  chmod 755 "$carry/ffmpeg/ffmpeg"
  export IMAGEIO_FFMPEG_EXE="$carry/ffmpeg/ffmpeg"
  say "ffmpeg: the carried minimal build, $IMAGEIO_FFMPEG_EXE"
elif [ -n "${IMAGEIO_FFMPEG_EXE:-}" ]; then
  say "ffmpeg: IMAGEIO_FFMPEG_EXE=$IMAGEIO_FFMPEG_EXE (none carried)"
elif command -v ffmpeg >/dev/null 2>&1; then
  say "ffmpeg: none carried, falling back to the machine's $(command -v ffmpeg)"
else
  say "ffmpeg: none carried and none on PATH: every recipe that writes an MP4 will fail"
fi
exe="$(python3 -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" || exe=""
if [ -n "$exe" ] && ! "$exe" -hide_banner -encoders 2>/dev/null | grep -q libx264; then
  say "ffmpeg: $exe has no libx264 encoder: the MP4 writers will fail"
fi

export KERAS_BACKEND="${KERAS_BACKEND:-jax}" NNX_DATA_DIR="$carry/data/datasets"
python3 -m pipeline doctor --data-dir "$NNX_DATA_DIR" || true
rc_file="$(mktemp)"
# The exit status survives the pipe into tee (POSIX sh has no pipefail; set -e stops at no `if`).
{ if python3 -m benchmarks.gpu_check --data-dir "$NNX_DATA_DIR" --out "$out/gpu_check.json" \
    --budget-s "${GPU_CHECK_BUDGET_S:-420}" "$@"; then echo 0 >"$rc_file"; else echo $? >"$rc_file"; fi; } 2>&1 \
  | tee "$out/gpu_check.log"
rc="$(cat "$rc_file")"; rm -f "$rc_file"
say "wrote $out/gpu_check.json (exit status $rc)"
exit "$rc"
