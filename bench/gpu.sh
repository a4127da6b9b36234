#!/usr/bin/env bash
# Every GPU figure of BENCHMARKS.md in one run, in under 8 minutes on one H100 or H200:
#   1. the engine against the XTREME-style loop (fp32, pad 128, batch 32) at XLM-R-large shape, bf16, with MFU;
#   2. retrieval embeddings (layer 14 of 24, mean pooling) at XLM-R-large shape, bf16, against the
#      pad-128 and pad-512 loops, with MFU;
#   3. BUCC mining at 400k sentences a side, dim 1024, exact FAISS search (on the GPU when the installed
#      faiss has GPU support; a CPU-only wheel gets 50k a side instead, said in the output);
#   4. the harness ceiling: bench_pipeline.py with the tiny model (1 layer, 32 wide, the real XLM-R tokenizer)
#      on the GPU, where the model is nearly free and the harness around it is what is measured.
# Results go to $OUT (default runs/gpu): one JSON and one log per step, and summary.txt.
#
#   bash bench/gpu.sh            # on the GPU machine
#   bash bench/gpu.sh --smoke    # the same steps, reduced, on the CPU: checks that the script runs
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0
if [ "${1:-}" = "--smoke" ]; then SMOKE=1; fi
PY=${PYTHON:-python}
if [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ]; then PY=.venv/bin/python; fi
OUT=${OUT:-runs/gpu$([ $SMOKE = 1 ] && echo -smoke)}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=true
start=$(date +%s)
say() { echo "[gpu.sh $(( $(date +%s) - start ))s] $*" | tee -a "$OUT/summary.txt" >&2; }

if [ $SMOKE = 1 ]; then
  DEV=cpu; DTYPE=float32; SHAPE=small; PAIRS=200; SENTS=200; SUB512=32; MINE_N=2000; MINE_DIM=64
  PIPE_ARGS=(--tasks xnli,panx --languages de --limit 200 --device cpu)
else
  DEV=cuda; DTYPE=bfloat16; SHAPE=large; PAIRS=20000; SENTS=20000; SUB512=4000; MINE_N=400000; MINE_DIM=1024
  PIPE_ARGS=(--tasks xnli,panx,xquad,tatoeba --languages de,es --device cuda)
  $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: use --smoke on a CPU')"
fi
say "machine: $($PY -c "import torch, platform; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or platform.machine())"); torch $($PY -c 'import torch; print(torch.__version__)'); load $(cut -d' ' -f1 /proc/loadavg)"

say "1/4 engine vs XTREME-style loop, shape $SHAPE, $DTYPE, $PAIRS pairs"
$PY bench/bench_engine.py --device $DEV --dtype $DTYPE --shape $SHAPE --pairs $PAIRS --json "$OUT/engine.json" \
  2>&1 | tee "$OUT/engine.log" | tail -6

say "2/4 retrieval embeddings, shape $SHAPE, $DTYPE, $SENTS sentences (pad-512 loop on $SUB512)"
$PY bench/bench_embed.py --device $DEV --dtype $DTYPE --shape $SHAPE --sentences $SENTS --subset-512 $SUB512 \
  --json "$OUT/embed.json" 2>&1 | tee "$OUT/embed.log" | tail -8

GPUS=$($PY -c "import faiss; print(faiss.get_num_gpus() if hasattr(faiss, 'get_num_gpus') else 0)" 2>/dev/null || echo 0)
if [ $SMOKE = 0 ] && [ "$GPUS" = "0" ]; then
  MINE_N=50000
  say "the installed faiss has no GPU support: BUCC mining at $MINE_N a side on the CPU instead of 400000"
fi
say "3/4 BUCC mining, $MINE_N a side, dim $MINE_DIM, faiss GPUs: $GPUS"
$PY bench/bench_mining.py --sizes $MINE_N --dim $MINE_DIM --budget 240 2>&1 | tee "$OUT/mining.log" | tail -6

say "4/4 harness ceiling: tiny model, ${PIPE_ARGS[*]}"
$PY bench/bench_pipeline.py --model tiny "${PIPE_ARGS[@]}" --tools none --threads 1 --json "$OUT/pipeline.json" \
  2>&1 | tee "$OUT/pipeline.log" | grep -A8 "examples/s over the eval call" | head -12

say "done; logs and JSON in $OUT"
