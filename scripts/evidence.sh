#!/usr/bin/env bash
# The papers' claims, run with the papers' CNN on the shipped MNIST split (or the full MNIST
# with DATA=folder), 5 seeds each, cpu backend; then the tables (scripts/evidence_table.py).
#
#   scripts/evidence.sh [quick|full] [claim...]
#
# quick (the default, what docs/evidence/ holds): 600 asynchronous updates, 150 synchronous
#   rounds, the CTMA claims under the empire attack only, the ICML rules cwmed, gm and nnm with
#   and without CTMA; about an hour on two busy cores.
# full: the papers' length on the shipped split (1,500 updates, 400 rounds), CTMA under sign
#   flip, ALIE and empire, all five ICML base rules with and without CTMA, under empire and ALIE.
# Claims: weighting ctma optim icml speed (default: all). Writes docs/evidence/<claim>.{txt,csv,svg}.
# Environment: SEEDS (5), BACKEND (cpu), DATA (a full MNIST folder), BIN (a built byzagg).
set -euo pipefail
cd "$(dirname "$0")/.."
SETTING=${1:-quick}
shift || true
case $SETTING in
  quick) ASYNC=600; ASYNC_EVAL=60; SYNC=150; SYNC_EVAL=15 ;;
  full) ASYNC=1500; ASYNC_EVAL=150; SYNC=400; SYNC_EVAL=40 ;;
  *) echo "usage: $0 [quick|full] [weighting|ctma|optim|icml|speed ...]" >&2; exit 2 ;;
esac
CLAIMS=${*:-weighting ctma optim icml speed}
SEEDS=${SEEDS:-5}
BACKEND=${BACKEND:-cpu}
out=docs/evidence
mkdir -p "$out"
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin byzagg
  # A private copy, so rebuilding while the runs go on does not swap the binary under them.
  BIN=$(mktemp -d)/byzagg
  cp target/release/byzagg "$BIN"
fi
DATA_FLAG=()
[ -n "${DATA:-}" ] && DATA_FLAG=(--data "$DATA")

run() { # name, then arguments
  local name=$1; shift
  echo "== $name ($SETTING)" >&2
  { echo "setting: $SETTING, seeds $SEEDS, backend $BACKEND"; echo "command: byzagg train $*"; } > "$out/$name.txt"
  "$BIN" train "$@" "${DATA_FLAG[@]}" --backend "$BACKEND" --seeds "$SEEDS" --quiet \
    --out "$out/$name.csv" --plot "$out/$name.svg" | tee -a "$out/$name.txt"
}

async() { # name, then arguments: the NeurIPS preset at this setting's length
  local name=$1; shift
  run "$name" --preset neurips-async-mnist --iterations $ASYNC --eval-every $ASYNC_EVAL "$@"
}

weighting() {
  for attack in label-flip sign-flip; do
    async weighting-$attack --attack $attack \
      --compare "rule=cwmed weighting=counts label=w-cwmed" \
      --compare "rule=cwmed weighting=uniform label=cwmed" \
      --compare "rule=gm(preset=rfa) weighting=counts label=w-gm" \
      --compare "rule=gm(preset=rfa) weighting=uniform label=gm"
  done
}

ctma() {
  local attacks="empire:0.1"
  [ "$SETTING" = full ] && attacks="empire:0.1 sign-flip alie"
  for attack in $attacks; do
    async ctma-${attack%%:*} --attack $attack \
      --compare "rule=cwmed label=w-cwmed" \
      --compare "rule=ctma(cwmed) label=w-ctma(w-cwmed)" \
      --compare "rule=gm(preset=rfa) label=w-gm" \
      --compare "rule=ctma(gm(preset=rfa)) label=w-ctma(w-gm)"
  done
}

optim() {
  async optim --rule "ctma(cwmed)" --attack sign-flip \
    --compare "optimizer=mu2 label=mu2-SGD" \
    --compare "optimizer=momentum label=momentum" \
    --compare "optimizer=sgd label=SGD"
}

icml() {
  local bases="cwmed gm(preset=rfa) nnm(cwmed)" attacks="empire:0.5"
  if [ "$SETTING" = full ]; then
    bases="cwmed cwtm gm(preset=rfa) nnm(cwmed) bucketing(cwmed)"
    attacks="empire:0.5 alie-sync"
  fi
  for attack in $attacks; do
    local variants=()
    for b in $bases; do
      variants+=(--compare "rule=$b label=$b" --compare "rule=ctma($b) label=ctma($b)")
    done
    run icml-${attack%%:*} --preset icml-sync-mnist --iterations $SYNC --eval-every $SYNC_EVAL \
      --attack $attack "${variants[@]}"
  done
}

speed() {
  # The CNN's training speed on one core: plain minibatch gradients (SGD, no attack, mean),
  # 2 evaluations of the held-out images; the table script subtracts nothing and says so.
  local name=speed
  echo "== $name" >&2
  {
    echo "CNN training speed, one rayon thread, batch 16, plain SGD, no Byzantine worker"
    for iters in 50 300; do
      start=$(date +%s.%N)
      RAYON_NUM_THREADS=1 "$BIN" train --preset neurips-async-mnist "${DATA_FLAG[@]}" --backend "$BACKEND" \
        --byzantine 0 --rule mean --optimizer sgd --iterations $iters --eval-every $iters --quiet >/dev/null
      end=$(date +%s.%N)
      python3 -c "print(f\"updates $iters: {$end - $start:.2f} s\")"
    done
  } | tee "$out/$name.txt"
}

for claim in $CLAIMS; do
  case $claim in
    weighting|ctma|optim|icml|speed) $claim ;;
    *) echo "unknown claim $claim" >&2; exit 2 ;;
  esac
done
python3 scripts/evidence_table.py > "$out/tables.md"
