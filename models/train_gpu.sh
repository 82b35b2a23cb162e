#!/usr/bin/env bash
# One training run on a GPU machine (issue 13, item 2): render 16 000 frames, fine-tune the shipped model with real
# photographs as hard negatives, export the ONNX and the checkpoint into $OUT. About 7 minutes on one H200.
# The same training on CPU is `python -m models.train` with the same arguments less --device/--workers.
#   OUT=/tmp/run bash models/train_gpu.sh [extra models.train arguments]
set -euo pipefail
OUT=${OUT:-.cache/vision/gpu}
PY=${PY:-python3}
mkdir -p "$OUT"
nvidia-smi -L || true
$PY -c "import torch, cv2, onnx, onnxscript, tqdm; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
nproc
start=$(date +%s)
PYTHONUNBUFFERED=1 $PY -m models.train --count "${COUNT:-16000}" --render-workers "$(nproc)" \
    --from models/compound_det.onnx --hard-negatives --device "${DEVICE:-cuda}" --workers "${WORKERS:-14}" \
    --batch 64 --epochs "${EPOCHS:-40}" --lr "${LR:-1e-3}" --minutes "${MINUTES:-5.5}" --threads 4 \
    --checkpoint "$OUT/run.pt" --out "$OUT/compound_det.onnx" "$@" 2>&1 | tr '\r' '\n' | awk '!/it\/s|batch\/s|frame\/s/ || NR % 400 == 0'
ls -la "$OUT"
echo "seconds: $(( $(date +%s) - start ))"
