#!/usr/bin/env bash
# Train the shipped model's architecture on a GPU machine and measure it (docs/gpu_training.md):
#   1. the training-throughput benchmark of `default` at 128 -> 256, batch 32 (BENCH=0 skips it)
#   2. stage 1: the encoder and copy ranking, soft placement (configs/default-gpu-encoder.toml)
#   3. stage 2: the decoder with the ranked choice and a PatchGAN (configs/default-gpu-decoder.toml)
#   4. `transposer eval` of both stages and of the shipped snapshot on the validation split
#
#   DATA=runs/pack bash scripts/train_gpu.sh              # the whole schedules
#   DATA=../shared/corpus ENC_MIN=30 DEC_MIN=20 bash scripts/train_gpu.sh   # time-boxed stages
#
# DATA holds train/ and val/ image folders (scripts/pack_data.py writes such a folder; the corpus
# itself has the same layout) and optionally vgg.pth, used unless TRANSPOSER_VGG_WEIGHTS is set
# (otherwise the usual VGG search, transposer/model/vgg.py). The runs go to RUNS/gpu-encoder and
# RUNS/gpu-decoder (replaced), the log and JSON results to OUT. ENC_MIN / DEC_MIN (minutes) stop
# a stage early, after saving; either continues later with `transposer train --out RUN --resume`.
# SMOKE=1 DEVICE=cpu runs every stage for a few steps on a CPU (tests/test_train_gpu.py).
# Every stage runs even when an earlier one failed (what did work is kept); the exit status is
# the number of failed stages.
set -u
cd "$(dirname "$0")/.."
DATA="${DATA:-runs/pack}"
RUNS="${RUNS:-runs}"
OUT="${OUT:-runs/gpu-results}"
ENC_MIN="${ENC_MIN:-}"
DEC_MIN="${DEC_MIN:-}"
DEVICE="${DEVICE:-cuda}"
SHIPPED="${SHIPPED:-checkpoints/default-cpu-finetune/snapshot.safetensors}"   # the shipped weights
PY="${PYTHON:-python3}"

if [ ! -d "$DATA/train" ] || [ ! -d "$DATA/val" ]; then
    echo "error: DATA=$DATA needs train/ and val/ image folders (python scripts/pack_data.py writes runs/pack)" >&2
    exit 1
fi
mkdir -p "$OUT" "$RUNS"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -z "${TRANSPOSER_VGG_WEIGHTS:-}" ] && [ -f "$DATA/vgg.pth" ]; then
    export TRANSPOSER_VGG_WEIGHTS="$DATA/vgg.pth"
fi
if [ "${SMOKE:-0}" = 1 ]; then   # plumbing check: tiny sizes, a few steps, three eval images
    BENCH_ARGS=(--size 32 --batch-size 2 --steps 2 --warmup 1 --loader-batches 1 --num-workers 0 --threads 2)
    TRAIN=(--batch-size 2 --max-steps 2 --threads 2)
    EVAL=(--limit 3)
else
    BENCH_ARGS=(--size 128 --batch-size 32 --steps 30 --warmup 5 --loader-batches 20 --num-workers 12)
    TRAIN=()
    EVAL=()
fi
LOG="$OUT/log.txt"
failed=0

stage() {  # stage NAME COMMAND...: run, log, count failures, never stop the script
    local name="$1"; shift
    echo "=== $name: $* ($(date -u +%H:%M:%S))" | tee -a "$LOG"
    local start=$SECONDS
    "$@" >>"$LOG" 2>&1
    local rc=$?
    echo "=== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$LOG"
    [ $rc -eq 0 ] || failed=$((failed + 1))
}

budget() {  # budget MINUTES: the --time-budget option, or nothing for the whole schedule
    [ -n "$1" ] && echo "--time-budget $1"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} >"$LOG" 2>&1

if [ "${BENCH:-1}" = 1 ]; then
    # Random VGG weights: the same cost as the real ones, and no weights file needed for timing.
    stage bench "$PY" benchmarks/bench_train.py --config default --device "$DEVICE" --random-vgg \
        "${BENCH_ARGS[@]}" --out "$OUT/bench_train.json"
fi

rm -rf "$RUNS/gpu-encoder" "$RUNS/gpu-decoder"
stage encoder "$PY" -m transposer train --config default-gpu-encoder --data "$DATA/train" \
    --out "$RUNS/gpu-encoder" --device "$DEVICE" $(budget "$ENC_MIN") "${TRAIN[@]}"
if [ -f "$RUNS/gpu-encoder/snapshot.safetensors" ]; then
    # Stage 2 starts from whatever stage 1 wrote, wherever RUNS is.
    sed "s|^init = .*|init = \"$RUNS/gpu-encoder/snapshot.safetensors\"|" configs/default-gpu-decoder.toml \
        >"$RUNS/default-gpu-decoder.toml"
    stage decoder "$PY" -m transposer train --config "$RUNS/default-gpu-decoder.toml" --data "$DATA/train" \
        --out "$RUNS/gpu-decoder" --device "$DEVICE" $(budget "$DEC_MIN") "${TRAIN[@]}"
fi

for name in gpu-decoder gpu-encoder; do
    if [ -f "$RUNS/$name/snapshot.safetensors" ]; then
        stage "eval $name" "$PY" -m transposer eval --model "$RUNS/$name/snapshot.safetensors" \
            --data "$DATA/val" --size 256 --device "$DEVICE" --json "$OUT/eval-$name.json" --overwrite "${EVAL[@]}"
    fi
done
stage "eval shipped" "$PY" -m transposer eval --model "$SHIPPED" \
    --data "$DATA/val" --size 256 --device "$DEVICE" --json "$OUT/eval-shipped.json" --overwrite "${EVAL[@]}"

ls -l "$OUT" | tee -a "$LOG"
echo "failed stages: $failed" | tee -a "$LOG"
exit $failed
