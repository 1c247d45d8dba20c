#!/usr/bin/env bash
# What a Colab reader gets, minus the GPU: run the lesson notebooks in a fresh venv that has only the wheel (and its
# dependencies from the registry), jupyter and the pinned torch: no nbdev, no editable install, no repository next to the
# notebooks, a fresh FASTAI_HOME, and the network cut while they run (`unshare -n`, loopback up for the kernel).
#   make wheel-notebooks                     # every numbered notebook
#   tools/wheel_notebooks.sh 00 08           # the notebooks whose names start with 00 … 08
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd); PY=${PYTHON:-python3}
FIRST=${1:-00}; LAST=${2:-99}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
"$ROOT/.venv/bin/python" -m pip wheel -q --no-deps -w "$W/dist" "$ROOT" || exit 1
$PY -m venv "$W/venv" && V=$W/venv/bin
$V/python -m pip install -q --upgrade pip
$V/python -m pip install -q torch==${TORCH_VER:-2.14.1} torchvision==${TV_VER:-0.29.1} || exit 1
$V/python -m pip install -q "$W"/dist/digitlab-*.whl jupyter nbclient ipykernel || exit 1
if $V/python -c "import nbdev" 2>/dev/null; then echo "nbdev is installed in the wheel's venv: not what a Colab reader has"; exit 1; fi
mkdir "$W/nbs"; cd "$W/nbs"; export FASTAI_HOME=$W/fastai_home
fails=0
for nb in "$ROOT"/nbs/[0-9]*.ipynb; do
  n=$(basename "$nb"); [[ "${n:0:2}" < "$FIRST" || "${n:0:2}" > "$LAST" ]] && continue
  cp "$nb" .; t0=$(date +%s)
  unshare -n sh -c "ip link set lo up && $V/jupyter execute --inplace $n > $n.log 2>&1"; rc=$?
  echo "$n: $([ $rc -eq 0 ] && echo ok || echo FAILED) ($(( $(date +%s)-t0 )) s)"
  if [ $rc -ne 0 ]; then fails=$((fails+1)); grep -av '^\[' "$n.log" | tail -20; fi
done
echo "$fails notebook(s) failed"; exit $((fails>0))
