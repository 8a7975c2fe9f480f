#!/bin/sh
R='mean,mix,cwmed,cwtm,krum,ctma(cwmed),gm,nnm(cwmed),pairwise_dist'
for i in 1 2; do
  /tmp/byzagg-base bench --rule "$R" --n 16,32,64 --d 1e7 --runs 3 --json fbase-$i.json > /dev/null 2>&1
  /tmp/byzagg-final bench --rule "$R" --n 16,32,64 --d 1e7 --runs 3 --json fnew-$i.json > /dev/null 2>&1
done
/tmp/byzagg-base bench --weighted --rule 'cwmed,cwtm,ctma(cwmed)' --n 16,32,64 --d 1e7 --runs 3 --json fwbase-1.json >/dev/null 2>&1
/tmp/byzagg-final bench --weighted --rule 'cwmed,cwtm,ctma(cwmed)' --n 16,32,64 --d 1e7 --runs 3 --json fwnew-1.json >/dev/null 2>&1
BYZAGG_SIMD=avx2 /tmp/byzagg-final bench --rule "$R" --n 16,32,64 --d 1e7 --runs 3 --json favx2-1.json > /dev/null 2>&1
BYZAGG_SIMD=avx2 /tmp/byzagg-final bench --weighted --rule 'cwmed,cwtm' --n 16,32,64 --d 1e7 --runs 3 --json fwavx2-1.json > /dev/null 2>&1
uptime > final-uptime.txt
