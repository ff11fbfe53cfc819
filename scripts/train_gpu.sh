#!/usr/bin/env bash
# Everything this project wants from one GPU lease, in one call (docs/gpu_session.md):
#   1. the training-throughput benchmark of `default` at 128 -> 256, batch 32 (issue 3)
#   2. stage 1: the encoder and copy ranking, soft placement (configs/default-gpu-encoder.toml)
#   3. stage 2: the decoder with the ranked choice and a PatchGAN (configs/default-gpu-decoder.toml)
#   4. `transposer eval` of stage 2 and of the shipped model on the validation split, same machine
#   5. the runs' resume states and logs packed into $OUT (at most 8 files of 16 MiB come back)
# Needs .device/ from `python scripts/pack_for_gpu.py` (carry it). Stage lengths in minutes:
#   ENC_MIN=3 DEC_MIN=2 bash scripts/gpu_session.sh
# SMOKE=1 DEVICE=cpu runs every stage for a few steps on a CPU (tests/test_gpu_session.py).
# Every stage runs even when an earlier one failed (what did work still comes back); the exit
# status is the number of failed stages.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/gpu-out}"
ENC_MIN="${ENC_MIN:-3}"
DEC_MIN="${DEC_MIN:-2}"
DEVICE="${DEVICE:-cuda}"
PACK="${PACK:-.device}"            # what scripts/pack_for_gpu.py wrote
RUNS="${RUNS:-runs}"               # where the two runs are written (replaced)
mkdir -p "$OUT" "$RUNS"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export TRANSPOSER_VGG_WEIGHTS="$PACK/vgg.pth"
PY="${PYTHON:-python3}"
if [ "${SMOKE:-0}" = 1 ]; then   # plumbing check: tiny sizes, a few steps, three eval images
    BENCH=(--size 32 --batch-size 2 --steps 2 --warmup 1 --loader-batches 1 --num-workers 0 --threads 2)
    TRAIN=(--batch-size 2 --max-steps 2 --threads 2)
    EVAL=(--limit 3)
else
    BENCH=(--size 128 --batch-size 32 --steps 30 --warmup 5 --loader-batches 20 --num-workers 12)
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

if [ ! -f "$PACK/vgg.pth" ] || [ ! -d "$PACK/train" ] || [ ! -d "$PACK/val" ]; then
    echo "error: $PACK is missing or incomplete: run python scripts/pack_for_gpu.py here and carry .device" >&2
    exit 1
fi

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} >"$LOG" 2>&1

stage bench "$PY" benchmarks/bench_train.py --config default --device "$DEVICE" --random-vgg "${BENCH[@]}" \
    --out "$OUT/bench_train.json"

rm -rf "$RUNS/gpu-encoder" "$RUNS/gpu-decoder"
stage encoder "$PY" -m transposer train --config default-gpu-encoder --data "$PACK/train" \
    --out "$RUNS/gpu-encoder" --device "$DEVICE" --time-budget "$ENC_MIN" "${TRAIN[@]}"
if [ -f "$RUNS/gpu-encoder/snapshot.safetensors" ]; then
    # Stage 2 starts from whatever stage 1 wrote, wherever RUNS is.
    sed "s|^init = .*|init = \"$RUNS/gpu-encoder/snapshot.safetensors\"|" configs/default-gpu-decoder.toml \
        >"$RUNS/default-gpu-decoder.toml"
    stage decoder "$PY" -m transposer train --config "$RUNS/default-gpu-decoder.toml" --data "$PACK/train" \
        --out "$RUNS/gpu-decoder" --device "$DEVICE" --time-budget "$DEC_MIN" "${TRAIN[@]}"
fi

for name in gpu-decoder gpu-encoder; do
    if [ -f "$RUNS/$name/snapshot.safetensors" ]; then
        stage "eval $name" "$PY" -m transposer eval --model "$RUNS/$name/snapshot.safetensors" \
            --data "$PACK/val" --size 256 --device "$DEVICE" --json "$OUT/eval-$name.json" --overwrite "${EVAL[@]}"
    fi
done
stage "eval shipped" "$PY" -m transposer eval --model transposer/runtime/models/default.safetensors \
    --data "$PACK/val" --size 256 --device "$DEVICE" --json "$OUT/eval-shipped.json" --overwrite "${EVAL[@]}"

# At most 8 files of at most 16 MiB come back: the small results in one tar, each run's folder in
# another, cut into 15 MiB pieces (stage 2's state holds the discriminator and its Adam moments,
# ~42 MB). Join here with: cat gpu-decoder.tar.* | tar -x -C runs
tar -C "$OUT" -cf "$OUT/results.tar" $(cd "$OUT" && ls bench_train.json eval-*.json 2>/dev/null)
rm -f "$OUT"/bench_train.json "$OUT"/eval-*.json
for name in gpu-encoder gpu-decoder; do
    [ -d "$RUNS/$name" ] && tar -C "$RUNS" -c --exclude "$name/tensorboard" "$name" \
        | split -b 15M -d - "$OUT/$name.tar."
done
ls -l "$OUT" | tee -a "$LOG"
echo "failed stages: $failed" | tee -a "$LOG"
exit $failed
