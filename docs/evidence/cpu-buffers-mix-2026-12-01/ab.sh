#!/bin/sh
# alternately base and new, twice; uniform then weighted; then avx2
R='mean,mix,cwmed,cwtm,krum,ctma(cwmed),gm,cge,clip(mean,tau=1)'
for i in 1 2; do
  /tmp/byzagg-base bench --rule "$R" --n 16,32,64 --d 1e7 --runs 3 --json base-$i.json > base-$i.txt 2>&1
  /tmp/byzagg-mix2 bench --rule "$R" --n 16,32,64 --d 1e7 --runs 3 --json new-$i.json > new-$i.txt 2>&1
done
for i in 1 2; do
  BYZAGG_SIMD=avx2 /tmp/byzagg-base bench --rule 'mean,mix,cwmed,cwtm' --n 16,32,64 --d 1e7 --runs 3 --json base-avx2-$i.json > base-avx2-$i.txt 2>&1
  BYZAGG_SIMD=avx2 /tmp/byzagg-mix2 bench --rule 'mean,mix,cwmed,cwtm' --n 16,32,64 --d 1e7 --runs 3 --json new-avx2-$i.json > new-avx2-$i.txt 2>&1
done
uptime > ab-uptime.txt
