#!/bin/bash
# bench/mpi.sh - data-parallel training against threads on one machine
# (docs/distributed.md): for each configuration of the benchmark table
# (bench/run.sh's shapes) whose batch divides by 2, `recur train` as one
# process x 2 threads against `mpirun -np 2 recur-mpi train` x 1 thread,
# alternately (A B A B ..., RUNS pairs), the median chars/s of each and the
# share of the steps spent in the gradient's allreduce (RECUR_MPI_STATS).
# Prints a markdown table on stdout.
#
# Settings (environment): RUNS=3  SECONDS_PER_RUN=3  CELLS="rnn lstm gru"
#   SHAPES="128,2,50,50 512,2,64,100 1024,1,128,100" (H,L,B,T)  BUILD=build
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SECS=${SECONDS_PER_RUN:-3}
CELLS=${CELLS:-"rnn lstm gru"}
SHAPES=${SHAPES:-"128,2,50,50 512,2,64,100 1024,1,128,100"}
BUILD=${BUILD:-build}
[ -x "$BUILD/recur-mpi" ] || { echo "no $BUILD/recur-mpi: install libopenmpi-dev and run cmake again" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
data=data/tinyshakespeare.txt

# chars/s of a run: every step's characters over the training loop's time (its log).
rate() { tail -n 1 "$1" | sed -E 's/.*"step":([0-9]+).*"elapsed_s":([0-9.]+).*/\1 \2/' |
    awk -v bt="$2" '{ printf "%.0f", $1 * bt / $2 }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "| model | 1 process x 2 threads, chars/s | 2 ranks x 1 thread, chars/s | ratio | allreduce share of a step | allreduce in the run, ms | allreduce alone, ms | gradient MB |"
echo "|---|---|---|---|---|---|---|---|"
for cell in $CELLS; do
    for shape in $SHAPES; do
        IFS=, read -r H L B T <<<"$shape"
        args=(train "$data" --cell "$cell" --hidden "$H" --layers "$L" --batch "$B" --seq "$T" --val-frac 0
              --eval-every 1000000 --sample-every 0 --quiet --out "$tmp/m.st")
        # Steps for about SECS seconds, from a short run.
        "$BUILD/recur" "${args[@]}" --threads 2 --steps 3 --log "$tmp/p.log"
        r=$(rate "$tmp/p.log" $((B * T)))
        steps=$(awk -v r="$r" -v s="$SECS" -v bt=$((B * T)) 'BEGIN { n = int(r * s / bt); print n < 5 ? 5 : n }')
        a="" b="" share="" ms="" alone=""
        for _ in $(seq 1 "$RUNS"); do
            "$BUILD/recur" "${args[@]}" --threads 2 --steps "$steps" --log "$tmp/a.log"
            a="$a $(rate "$tmp/a.log" $((B * T)))"
            RECUR_MPI_STATS=1 mpirun --allow-run-as-root --oversubscribe -np 2 "$BUILD/recur-mpi" "${args[@]}" \
                --threads 1 --steps "$steps" --log "$tmp/b.log" 2>"$tmp/stats"
            b="$b $(rate "$tmp/b.log" $((B * T)))"
            share="$share $(sed -nE 's/.*\(([0-9.]+)%\).*/\1/p' "$tmp/stats")"
            ms="$ms $(sed -nE 's/.*, ([0-9.]+) ms each.*/\1/p' "$tmp/stats")"
            alone="$alone $(sed -nE 's/.*takes ([0-9.]+) ms.*/\1/p' "$tmp/stats")"
        done
        ma=$(echo "$a" | median) mb=$(echo "$b" | median)
        mbytes=$("$BUILD/recur" info "$tmp/m.st" | awk '$1 == "parameters" { printf "%.2f", $2 * 4 / 1e6 }')
        printf "| %s H%s L%s B%s T%s | %s | %s | %.2fx | %s %% | %s | %s | %s |\n" "$cell" "$H" "$L" "$B" "$T" \
            "$ma" "$mb" "$(awk -v a="$ma" -v b="$mb" 'BEGIN { print b / a }')" "$(echo "$share" | median)" \
            "$(echo "$ms" | median)" "$(echo "$alone" | median)" "$mbytes"
    done
done
