#!/bin/bash
# One call on a GPU machine (benchmarks/encoder/RESULTS.md, all-data sweep): install soundfile from carried wheels, decode the opus packs once, run the
# all-data sweep (10 trainings at once on the GPU), then tar the encoders and logs into $OUT.
cd "$(dirname "$0")/../.." || exit 1
[ -n "$SKIP_PIP" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi -L; nproc; python3 --version
t0=$(date +%s)
python3 -m benchmarks.encoder.pack --decode ${SRC:-.gpack} --out /tmp/pack 2>&1 | tee $OUT/decode.log || exit 1
echo "decode $(( $(date +%s) - t0 )) s"
RUNS=${RUNS:-all-ft,all-ft-s1,all-ft-s2,all-ft-eq,all-ft-k2,all-ft-k2s1,all-ft-b256,all-ft-mid,all-sc,all-sc-w}
timeout -k 5 ${SWEEP_S:-480} python3 -m benchmarks.encoder.recipe_sweep --pack /tmp/pack --out /tmp/sw \
  --device ${DEVICE:-cuda} --minutes ${MINUTES:-5.0} --logs /tmp/logs --only $RUNS $EXTRA > $OUT/sweep.log 2>&1
echo "sweep rc $? at $(( $(date +%s) - t0 )) s"
pkill -f recipe_sweep; sleep 2
ls -la /tmp/sw
# encoders three to a tar file (each under the 16 MiB a returned file may hold)
cd /tmp/sw && ls *.pt | xargs -n 3 | nl -w1 | while read -r k files; do tar cf "$OUT/m$k.tar" $files; done
cd /tmp/logs && tar czf $OUT/logs.tgz *.log
ls -la $OUT; echo "total $(( $(date +%s) - t0 )) s"
