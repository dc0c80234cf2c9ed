#!/bin/sh
# run.sh — runs the fuzz targets side by side for a bounded time, each on
# its corpus, and says how each went; exits non-zero when any found a crash,
# a leak or a hang (its input is kept as DIR/<target>-crash-..., -leak-...,
# -timeout-...).
#
#   spec/fuzz/run.sh DIR SECONDS TARGET... [-- LIBFUZZER_FLAG...]
#
# DIR holds the targets (DIR/fuzz_<target>), the corpus (DIR/corpus/<target>,
# DIR/corpus/node.dict) and each run's log (DIR/<target>.log).
set -u
dir=$1 seconds=$2
shift 2
targets=
while [ $# -gt 0 ] && [ "$1" != -- ]; do targets="$targets $1"; shift; done
[ $# -gt 0 ] && shift # the rest are libFuzzer's flags

for t in $targets; do
  UBSAN_OPTIONS=print_stacktrace=1 "$dir/fuzz_$t" "$@" \
    -max_total_time="$seconds" -dict="$dir/corpus/node.dict" \
    -artifact_prefix="$dir/$t-" "$dir/corpus/$t" >"$dir/$t.log" 2>&1 &
  eval "pid_$t=$!"
done
echo "fuzzing$targets for $seconds s each, side by side; logs in $dir/<target>.log"

status=0
for t in $targets; do
  eval "pid=\$pid_$t"
  if wait "$pid"; then
    line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/$t.log" | tail -n 1)
    echo "fuzz_$t: ok: $line"
  else
    status=1
    echo "fuzz_$t: FAILED; the end of $dir/$t.log:"
    tail -n 60 "$dir/$t.log"
  fi
done
exit $status
