#!/usr/bin/env bash
# The papers' claims, run with the papers' CNN on the shipped MNIST split (or the full MNIST
# with DATA=folder), 5 seeds each, cpu backend; then the tables (scripts/evidence_table.py).
#
#   scripts/evidence.sh [short|quick|full] [claim...]
#
# short: quick's claims at 400 asynchronous updates and 100 synchronous rounds (about 25
#   minutes on two shared cores).
# quick (the default): 1,000 asynchronous updates, 300 synchronous
#   rounds; CWMed only (weighted and not; with and without CTMA, under empire, sign flip and
#   ALIE); the ICML rules cwmed, CTMA(cwmed) and NNM(cwmed) under empire and sign flip; about
#   two hours on two shared cores, run as two processes (scripts/evidence.sh quick weighting
#   ctma optim speed and scripts/evidence.sh quick icml).
# full: 1,500 updates and 882 rounds (the authors' one epoch); CWMed and GM(RFA) in the weighting and CTMA claims; the ICML base rules (mean, cwmed, cwtm, gm(rfa)) alone, under CTMA, NNM and NNM+CTMA, under
#   label flip, sign flip, empire and ALIE, as the ICML paper, and momentum against mu2-SGD;
#   the ICML ones as resumable grids
#   (icml_grid below: about 400 runs of about 1.3 CPU-minutes each, so several sessions on two
#   cores; rerunning the same command skips the runs already in the CSVs).
# Claims: weighting ctma optim icml speed (the default), grid (840 runs: named only). Writes docs/evidence/<claim>.{txt,csv,svg}
# (the full ICML claims: icml-sync/; the robustness grid: grid-mnist/).
# Environment: SEEDS (5), BACKEND (cpu), DATA (a full MNIST folder), BIN (a built byzagg),
# ICML_ATTACKS (the synchronous claim's attacks instead of the setting's; not in full),
# CTMA_ATTACKS (the asynchronous CTMA claim's attacks, "empire:0.1 sign-flip alie"), OUT (the
# folder written, docs/evidence by default), JOBS (the full ICML grids' runs at a time, 2).
set -euo pipefail
cd "$(dirname "$0")/.."
SETTING=${1:-quick}
shift || true
case $SETTING in
  short) ASYNC=400; ASYNC_EVAL=50; SYNC=100; SYNC_EVAL=10 ;;
  quick) ASYNC=1000; ASYNC_EVAL=100; SYNC=300; SYNC_EVAL=30 ;;
  # full: the synchronous preset's own length (one epoch of 60,000 images at 4 x 17 per round:
  # 882 rounds); short and quick stop the synchronous runs earlier and say so in their names.
  full) ASYNC=1500; ASYNC_EVAL=150; SYNC=882; SYNC_EVAL=98 ;;
  *) echo "usage: $0 [short|quick|full] [weighting|ctma|optim|icml|speed|grid ...]" >&2; exit 2 ;;
esac
CLAIMS=${*:-weighting ctma optim icml speed}
SEEDS=${SEEDS:-5}
BACKEND=${BACKEND:-cpu}
out=${OUT:-docs/evidence}
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

# The GM(RFA) variants of the weighting and CTMA claims (full setting only).
gm_or_nothing() { # variant pairs, printed only in the full setting
  [ "$SETTING" = full ] && printf '%s\n' "$@"
  return 0
}

weighting() {
  for attack in label-flip sign-flip; do
    local extra=()
    mapfile -t extra < <(gm_or_nothing --compare "rule=gm(preset=rfa) weighting=counts label=w-gm" \
      --compare "rule=gm(preset=rfa) weighting=uniform label=gm")
    async weighting-$attack --attack $attack \
      --compare "rule=cwmed weighting=counts label=w-cwmed" \
      --compare "rule=cwmed weighting=uniform label=cwmed" "${extra[@]}"
  done
}

ctma() {
  local attacks=${CTMA_ATTACKS:-empire:0.1 sign-flip alie}
  for attack in $attacks; do
    local extra=()
    mapfile -t extra < <(gm_or_nothing --compare "rule=gm(preset=rfa) label=w-gm" \
      --compare "rule=ctma(gm(preset=rfa)) label=w-ctma(w-gm)")
    async ctma-${attack%%:*} --attack $attack \
      --compare "rule=cwmed label=w-cwmed" \
      --compare "rule=ctma(cwmed) label=w-ctma(w-cwmed)" "${extra[@]}"
  done
}

optim() {
  async optim --rule "ctma(cwmed)" --attack sign-flip \
    --compare "optimizer=mu2 label=mu2-SGD" \
    --compare "optimizer=momentum label=momentum" \
    --compare "optimizer=sgd label=SGD"
}

icml() {
  if [ "$SETTING" = full ]; then
    icml_grid
    return
  fi
  local attacks="empire:0.5 sign-flip"
  local variants=(--compare "rule=cwmed label=cwmed" --compare "rule=ctma(cwmed) label=ctma(cwmed)"
    --compare "rule=nnm(cwmed) label=nnm(cwmed)")
  for attack in ${ICML_ATTACKS:-$attacks}; do
    run icml-${attack%%:*} --preset icml-sync-mnist --iterations $SYNC --eval-every $SYNC_EVAL \
      --attack $attack "${variants[@]}"
  done
}

# The ICML claims in the full setting, as benchmark grids (src/train/grid.rs): one row per
# (rule, attack, seed) in docs/evidence/icml-sync/{claims,momentum}.csv, appended as each run
# ends, so an interrupted run resumes where it stopped (rows already there are skipped). The
# stages go from the claims' core (CWMed with and without CTMA or NNM, under sign flip and
# empire) to the whole grid, so a partial CSV holds complete 5-seed cells of the core first.
# Bucketing is not run: at 17 workers of which 8 Byzantine its bucket size floor(m / 2f) is 1
# (the base rule itself), and the authors' code refuses f > m/4 (docs/evidence/README.md).
# Each run is the preset's full 882 rounds; it evaluates once at the end (evaluation moves
# nothing, so the final accuracy is the preset's).
icml_grid() {
  local dir="$out/icml-sync" rules=() b
  mkdir -p "$dir"
  for b in mean cwmed cwtm "gm(preset=rfa)"; do
    rules+=("$b" "ctma($b)" "nnm($b)" "ctma(nnm($b))")
  done
  local all_rules all_attacks="label-flip,sign-flip,empire:0.5,alie-sync"
  all_rules=$(IFS=,; echo "${rules[*]}")
  local core="cwmed,ctma(cwmed),nnm(cwmed),ctma(nnm(cwmed))"
  local stages=(
    "claims|rules=cwmed,ctma(cwmed) attacks=sign-flip,empire:0.5"
    "momentum|rules=ctma(cwmed) attacks=sign-flip,empire:0.5"
    "claims|rules=nnm(cwmed),ctma(nnm(cwmed)) attacks=sign-flip,empire:0.5"
    "claims|rules=$core attacks=$all_attacks"
    "momentum|rules=$core attacks=$all_attacks"
    "claims|rules=$all_rules attacks=$all_attacks"
  )
  local stage file spec optimizer
  for stage in "${stages[@]}"; do
    file=${stage%%|*}
    spec="${stage#*|} seeds=$SEEDS"
    optimizer=mu2
    [ "$file" = momentum ] && optimizer=momentum
    echo "== icml-sync/$file: $spec ($optimizer)" >&2
    {
      echo "setting: $SETTING, backend $BACKEND, optimizer $optimizer"
      echo "command: byzagg train --preset icml-sync-mnist --optimizer $optimizer --iterations $SYNC --eval-every $SYNC --grid \"$spec\" --out $dir/$file.csv"
    } >> "$dir/$file.txt"
    "$BIN" train --preset icml-sync-mnist "${DATA_FLAG[@]}" --backend "$BACKEND" --optimizer $optimizer \
      --iterations $SYNC --eval-every $SYNC --jobs "${JOBS:-2}" --quiet \
      --grid "$spec" --out "$dir/$file.csv" --plot "$dir/$file.svg" | tee -a "$dir/$file.txt"
  done
}

# The robustness grid on MNIST (docs/ATTACKS.md, "The grid"): the ICML setup with per-worker
# shards (dealt rounds would ignore them), every attack at its defaults, iid and Dirichlet(0.5)
# shards, the setting's synchronous length; resumable like the ICML grids. Krum is not in it:
# it needs n >= 2f + 3, and the setup has 8 Byzantine workers of 17. Nor is CWTM: trimming 8
# of 17 per side leaves the median, so its cells would repeat CWMed's bit for bit (as in the
# ICML grids); the plain mean takes its place, the baseline the robust rules are measured from.
grid() {
  local dir="$out/grid-mnist"
  local spec="rules=mean,cwmed,gm,ctma(cwmed),nnm(cwmed),ctma(nnm(cwmed)) attacks=all seeds=$SEEDS hetero=iid,dirichlet(0.5)"
  mkdir -p "$dir"
  echo "== grid-mnist: $spec" >&2
  {
    echo "setting: $SETTING, backend $BACKEND"
    echo "command: byzagg train --preset icml-sync-mnist --sampling shards --iterations $SYNC --eval-every $SYNC --grid \"$spec\" --out $dir/grid.csv --plot $dir/grid.svg"
  } >> "$dir/grid.txt"
  "$BIN" train --preset icml-sync-mnist --sampling shards "${DATA_FLAG[@]}" --backend "$BACKEND" \
    --iterations $SYNC --eval-every $SYNC --jobs "${JOBS:-2}" --quiet \
    --grid "$spec" --out "$dir/grid.csv" --plot "$dir/grid.svg" | tee -a "$dir/grid.txt"
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
    weighting|ctma|optim|icml|speed|grid) $claim ;;
    *) echo "unknown claim $claim" >&2; exit 2 ;;
  esac
done
OUT="$out" python3 scripts/evidence_table.py > "$out/tables.md"
# The verdicts and the ICML heat map in README.md and docs/evidence/README.md.
[ "$out" = docs/evidence ] && python3 scripts/evidence_table.py --readme
exit 0
