#!/usr/bin/env bash
# The papers' comparisons on the shipped MNIST split, 3 seeds each (see the README's
# "Asynchronous training" section for the numbers). Usage:
#   scripts/evidence.sh [weighting|ctma|optim|all]     (BACKEND=reference|cpu|auto, default auto)
# Writes docs/evidence/<name>.{txt,csv,svg}.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-"cargo run --release --quiet --example train --"}
BACKEND=${BACKEND:-auto}
ITER=${ITER:-1500}
COMMON="--backend $BACKEND --seeds 3 --iterations $ITER --eval-every 150 --quiet"
out=docs/evidence
mkdir -p $out

run() { # name, then arguments
  local name=$1; shift
  $BIN "$@" $COMMON --out $out/$name.csv --plot $out/$name.svg | tee $out/$name.txt
}

weighting() {
  for attack in label-flip sign-flip; do
    run weighting-$attack --preset mnist-async --attack $attack \
      --compare "rule=cwmed weighting=counts label=w-cwmed" \
      --compare "rule=cwmed weighting=uniform label=cwmed" \
      --compare "rule=gm(preset=rfa) weighting=counts label=w-gm" \
      --compare "rule=gm(preset=rfa) weighting=uniform label=gm"
  done
}

ctma() {
  for attack in sign-flip alie empire:0.1; do
    run ctma-${attack%%:*} --preset mnist-async --attack $attack \
      --compare "rule=cwmed label=w-cwmed" \
      --compare "rule=ctma(cwmed) label=w-ctma(w-cwmed)" \
      --compare "rule=gm(preset=rfa) label=w-gm" \
      --compare "rule=ctma(gm(preset=rfa)) label=w-ctma(w-gm)"
  done
}

optim() {
  run optim --preset mnist-optim \
    --compare "optimizer=mu2 label=mu2-SGD" \
    --compare "optimizer=momentum label=momentum" \
    --compare "optimizer=sgd label=SGD"
}

case ${1:-all} in
  weighting) weighting ;;
  ctma) ctma ;;
  optim) optim ;;
  all) weighting; ctma; optim ;;
  *) echo "usage: $0 [weighting|ctma|optim|all]" >&2; exit 2 ;;
esac
