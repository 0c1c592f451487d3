#!/bin/bash
# cli_mpi.sh - data-parallel training on Open MPI (docs/distributed.md):
# recur-mpi on N = 2 and 4 ranks follows the one-process run with the same
# batch (rnn and lstm with dropout, classify, tag, seq2seq), repeats its own
# bits, trains with --recompute within rounding of one process, resumes
# across a different N, stops on Ctrl-C with one state saved,
# and the bad cases end with one 'recur' line and a non-zero status, never
# a hang. Skipped (77) where recur-mpi or mpirun is missing.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mpi="$(dirname "$recur")/recur-mpi"
if [ ! -x "$mpi" ] || ! command -v mpirun >/dev/null; then
    echo "SKIP: no recur-mpi or no mpirun (install openmpi-bin and libopenmpi-dev, then cmake again)"
    exit 77
fi
# Root needs --allow-run-as-root; 4 ranks on 2 cores need --oversubscribe.
# Every run is bounded: a hang is a failure, not a stuck test.
# Under AddressSanitizer, Open MPI's own allocations (its plugins, freed or
# not at MPI_Finalize) are not recur's leaks: LeakSanitizer is off for the
# ranks; every other check stays on, and the one-process runs keep it.
mpi_asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpirun_() { ASAN_OPTIONS=$mpi_asan timeout 120 mpirun --allow-run-as-root --oversubscribe "$@"; }

# losses FILE: step train_loss val_loss (- when none) per JSON line.
losses() {
    sed -E 's/.*"step":([0-9]+).*"train_loss":([-0-9.e]+|null).*"val_loss":([-0-9.e]+|null).*/\1 \2 \3/' "$1"
}
# same_run WHAT A B: the logs have the same steps, and every loss agrees
# within 1e-5 relative (the largest difference is printed).
same_run() {
    local what=$1
    if ! paste -d' ' <(losses "$2") <(losses "$3") | awk -v what="$what" '
        { n++; if ($1 != $4) { print what ": step " $1 " against " $4; bad = 1; exit 1 }
          for (k = 2; k <= 3; k++) {
              a = $k; b = $(k + 3);
              if (a == "null" && b == "null") continue;
              if (a == "null" || b == "null") { print what ": step " $1 " has a loss on one side only"; exit 1 }
              d = a - b; if (d < 0) d = -d; r = d / (a < 0 ? -a : a);
              if (r > worst) worst = r;
          } }
        END { if (bad) exit 1;
              printf "%s: %d steps, largest relative difference %.3g\n", what, n, worst;
              if (n == 0 || worst > 1e-5) exit 1 }'; then
        bad "$what: the runs differ ($2, $3)"
        return 1
    fi
    [ "$(wc -l <"$2")" = "$(wc -l <"$3")" ] || { bad "$what: $2 and $3 have different lengths"; return 1; }
    ok
}

head -c 60000 "$src/data/tinyshakespeare.txt" >"$tmp/t.txt"

# ---- the language model: N = 2 and 4 against one process, 200 steps
for cell in rnn lstm; do
    F=(train "$tmp/t.txt" --cell "$cell" --hidden 24 --layers 2 --dropout 0.25 --batch 8 --seq 12
       --steps 200 --eval-every 50 --val-frac 0.1 --threads 1 --quiet)
    expect 0 "$cell: one process" -- "$recur" "${F[@]}" --out "$tmp/$cell.1.st" --log "$tmp/$cell.1.log"
    for n in 2 4; do
        expect 0 "$cell: $n ranks" -- mpirun_ -np $n "$mpi" "${F[@]}" --out "$tmp/$cell.$n.st" --log "$tmp/$cell.$n.log"
        same_run "$cell, $n ranks against one process" "$tmp/$cell.1.log" "$tmp/$cell.$n.log"
    done
done
# Input, output and variational dropout: each rank keeps its rows of the
# masks one process draws.
V=(train "$tmp/t.txt" --cell lstm --hidden 24 --layers 2 --embed 8 --dropout 0.2 --dropout-in 0.1
   --dropout-out 0.3 --variational --batch 8 --seq 12 --steps 100 --eval-every 50 --val-frac 0.1 --threads 1 --quiet)
expect 0 "dropout variants: one process" -- "$recur" "${V[@]}" --out "$tmp/v.1.st" --log "$tmp/v.1.log"
expect 0 "dropout variants: 4 ranks" -- mpirun_ -np 4 "$mpi" "${V[@]}" --out "$tmp/v.4.st" --log "$tmp/v.4.log"
same_run "dropout variants, 4 ranks against one process" "$tmp/v.1.log" "$tmp/v.4.log"
# --recompute: each rank chunks its own rows (a window of 4 x 600 is three
# chunks in one process, two on each of 2 ranks: rec_chunk_steps), so the runs
# agree within rounding, as the keeping runs do, in the losses and in every
# step's gradient norm (the backward's own number, which a wrong chunk boundary
# would move); and the ranks did recompute: their weights are not keeping's bits.
P=(train "$tmp/t.txt" --cell lstm --hidden 24 --layers 2 --embed 8 --dropout 0.25 --dropout-in 0.1 --batch 4
   --seq 600 --steps 20 --eval-every 10 --val-frac 0.1 --threads 1 --quiet)
expect 0 "recompute: one process" -- "$recur" "${P[@]}" --recompute --out "$tmp/p.1.st" --log "$tmp/p.1.log"
expect 0 "recompute: 2 ranks" -- mpirun_ -np 2 "$mpi" "${P[@]}" --recompute --out "$tmp/p.2.st" --log "$tmp/p.2.log"
same_run "--recompute, 2 ranks against one process" "$tmp/p.1.log" "$tmp/p.2.log"
expect 0 "keeping: 2 ranks" -- mpirun_ -np 2 "$mpi" "${P[@]}" --out "$tmp/q.2.st" --log "$tmp/q.2.log"
same_run "--recompute against keeping, on 2 ranks" "$tmp/q.2.log" "$tmp/p.2.log"
norms() { grep -o '"grad_norm":[-0-9.e]*' "$1" | cut -d: -f2; }
for pair in "p.1 p.2" "q.2 p.2"; do
    read -r a b <<<"$pair"
    if paste -d' ' <(norms "$tmp/$a.log") <(norms "$tmp/$b.log") | awk '
        { n++; d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5 * $1) exit 1 } END { exit n == 20 ? 0 : 1 }'; then ok; else
        bad "--recompute: the gradient norms of $a and $b differ by more than 1e-5 (or not 20 steps)"
    fi
done
# (the weights: what follows each file's header; its first 8 bytes give the header's length)
weights() { tail -c +$(($(od -An -tu8 -N8 "$1" | tr -d ' ') + 9)) "$1"; }
if cmp -s <(weights "$tmp/p.2.st") <(weights "$tmp/q.2.st"); then
    bad "--recompute on 2 ranks trained keeping's very bits: the ranks did not recompute"
else ok; fi
# The same N again: the same bits (model and state).
expect 0 "lstm: 2 ranks again" -- mpirun_ -np 2 "$mpi" "${F[@]}" --out "$tmp/again.st"
cmp -s "$tmp/lstm.2.st" "$tmp/again.st" && cmp -s "$tmp/lstm.2.st.last" "$tmp/again.st.last" && ok ||
    bad "two runs on 2 ranks wrote different files"

# ---- resume: a state written by 2 ranks continues on 4 (and on 1) as the
# uninterrupted run; the same N resumes bit for bit
R=(train "$tmp/t.txt" --cell lstm --hidden 24 --layers 2 --dropout 0.25 --batch 8 --seq 12
   --eval-every 50 --val-frac 0.1 --threads 1 --quiet)
expect 0 "2 ranks, 100 steps" -- mpirun_ -np 2 "$mpi" "${R[@]}" --steps 100 --out "$tmp/h.st" --log "$tmp/h.log"
cp "$tmp/h.st.last" "$tmp/h100.last"
expect 0 "resumed on 4 ranks" -- mpirun_ -np 4 "$mpi" "${R[@]}" --steps 200 --resume "$tmp/h.st.last" --out "$tmp/h.st" --log "$tmp/h.log"
same_run "2 ranks, then resumed on 4, against one process" "$tmp/lstm.1.log" "$tmp/h.log"
cp "$tmp/h.log" "$tmp/h1.log" && head -n 100 "$tmp/h.log" >"$tmp/h1.log"
expect 0 "resumed in one process" -- "$recur" "${R[@]}" --steps 200 --resume "$tmp/h100.last" --out "$tmp/h1.st" --log "$tmp/h1.log"
same_run "2 ranks, then resumed in one process" "$tmp/lstm.1.log" "$tmp/h1.log"
expect 0 "resumed on 2 ranks" -- mpirun_ -np 2 "$mpi" "${R[@]}" --steps 200 --resume "$tmp/h100.last" --out "$tmp/h2.st"
cmp -s "$tmp/h2.st.last" "$tmp/lstm.2.st.last" && ok || bad "2 ranks resumed on 2 ranks: not the bits of the uninterrupted run"

# ---- the example tasks on 2 ranks
for i in $(seq 1 60); do
    printf 'Russian\t%sov\nPolish\t%sski\n' "$(printf 'B%xa' $((i * 7919 % 4093)))" "$(printf 'K%xe' $((i * 104729 % 4093)))"
done >"$tmp/names.tsv"
C=(classify train "$tmp/names.tsv" --hidden 16 --embed 8 --layers 2 --dropout 0.1 --dropout-out 0.2 --variational --epochs 3 --batch 8
   --lr 0.01 --threads 1 --quiet)
expect 0 "classify: one process" -- "$recur" "${C[@]}" --out "$tmp/c1.st" --log "$tmp/c1.log"
expect 0 "classify: 2 ranks" -- mpirun_ -np 2 "$mpi" "${C[@]}" --out "$tmp/c2.st" --log "$tmp/c2.log"
same_run "classify, 2 ranks" "$tmp/c1.log" "$tmp/c2.log"
grep -q "validation accuracy" "$tmp/out" && ok || bad "classify on 2 ranks prints no report"
for i in $(seq 1 40); do
    printf 'the\tWORD\n%d\tNUM\ncats\tWORD\n\nwe\tWORD\nsaw\tWORD\n%d\tNUM\n\n' $((i * 37)) $((i * 91))
done >"$tmp/tag.tsv"
G=(tag train "$tmp/tag.tsv" --dev "$tmp/tag.tsv" --hidden 16 --layers 1 --embed 8 --epochs 2 --batch 6
   --lr 0.01 --threads 1 --quiet)
expect 0 "tag: one process" -- "$recur" "${G[@]}" --out "$tmp/g1.st" --log "$tmp/g1.log"
expect 0 "tag: 2 ranks" -- mpirun_ -np 2 "$mpi" "${G[@]}" --out "$tmp/g2.st" --log "$tmp/g2.log"
same_run "tag, 2 ranks" "$tmp/g1.log" "$tmp/g2.log"
for i in $(seq 1 100); do
    w=$(printf 'x%xq%dz' $((i * 7919 % 4093)) $((i * 31 % 97)))
    printf '%s\t%s\n' "$w" "$(echo "$w" | rev)"
done >"$tmp/pairs.tsv"
S=(seq2seq train "$tmp/pairs.tsv" --hidden 16 --layers 2 --dropout 0.1 --dropout-out 0.1 --steps 40 --eval-every 20
   --batch 8 --threads 1 --quiet)
expect 0 "seq2seq: one process" -- "$recur" "${S[@]}" --out "$tmp/s1.st" --log "$tmp/s1.log"
expect 0 "seq2seq: 2 ranks" -- mpirun_ -np 2 "$mpi" "${S[@]}" --out "$tmp/s2.st" --log "$tmp/s2.log"
same_run "seq2seq, 2 ranks" "$tmp/s1.log" "$tmp/s2.log"

# ---- bad cases: one 'recur' line among mpirun's own, non-zero, no hang
# one_line WHAT FRAGMENT: the last command failed (not a timeout) and its
# stderr has exactly one line from recur, holding FRAGMENT.
one_line() {
    local rc=$1 what=$2 frag=$3
    if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then bad "$what: exit $rc"; return 1; fi
    if [ "$(grep -c '^recur' "$tmp/err")" != 1 ] || ! grep '^recur' "$tmp/err" | grep -qF -- "$frag"; then
        bad "$what: expected one 'recur' line with '$frag', got: $(grep '^recur' "$tmp/err" | head -c 600)"
        return 1
    fi
    ok
}
B=(train "$tmp/t.txt" --hidden 16 --batch 6 --seq 8 --steps 20 --threads 1 --quiet --out "$tmp/x.st")
mpirun_ -np 4 "$mpi" "${B[@]}" >"$tmp/out" 2>"$tmp/err"
one_line $? "batch 6 on 4 ranks" "does not divide among 4 processes"
mpirun_ -np 1 "$mpi" "${B[@]}" --seed 1 : -np 1 "$mpi" "${B[@]}" --seed 2 >"$tmp/out" 2>"$tmp/err"
one_line $? "ranks with different seeds" "other data or options than rank 0"
head -c 50000 "$tmp/t.txt" >"$tmp/t2.txt"
B2=("${B[@]}")
B2[1]="$tmp/t2.txt"
mpirun_ -np 1 "$mpi" "${B[@]}" : -np 1 "$mpi" "${B2[@]}" >"$tmp/out" 2>"$tmp/err"
one_line $? "ranks with different files" "other data or options than rank 0"
mpirun_ -np 2 "$recur" "${B[@]}" >"$tmp/out" 2>"$tmp/err"
one_line $? "recur without MPI under mpirun" "built without MPI"
mpirun_ -np 2 "$mpi" "${B[@]}" --out "$tmp/nodir/x.st" >"$tmp/out" 2>"$tmp/err"
one_line $? "an output every rank refuses" "nodir"

# A rank that dies: the job ends, and the last periodic state is whole.
K=(train "$tmp/t.txt" --hidden 48 --batch 8 --seq 16 --save-every 20 --eval-every 100000 --threads 1 --quiet)
# steps_of FILE: the step a state file is at.
steps_of() { "$recur" info "$1" | awk '$1 == "steps" { print $2 }'; }
ASAN_OPTIONS=$mpi_asan mpirun --allow-run-as-root --oversubscribe -np 2 "$mpi" "${K[@]}" --steps 1000000 --out "$tmp/k.st" >"$tmp/out" 2>"$tmp/err" &
job=$!
for _ in $(seq 1 100); do [ -s "$tmp/k.st.last" ] && break; sleep 0.1; done
victim=$(pgrep -P "$job" -f recur-mpi | tail -n 1)
if [ -z "$victim" ]; then
    bad "rank that dies: no rank of mpirun $job found"
    kill "$job"
else
    kill -9 "$victim"
    for _ in $(seq 1 300); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$job" 2>/dev/null; then
        bad "rank that dies: the job still runs 30 s after rank $victim was killed"
        kill -9 "$job"
    fi
fi
wait "$job"
[ $? != 0 ] && ok || bad "rank that dies: mpirun exited 0"
s=$(steps_of "$tmp/k.st.last")
expect 0 "the last state after a rank died (step ${s:-?}) resumes" -- "$recur" "${K[@]}" --steps $((${s:-0} + 5)) --resume "$tmp/k.st.last" --out "$tmp/k2.st"

# Ctrl-C on mpirun: rank 0 saves one state, every rank leaves; it resumes on another N.
ASAN_OPTIONS=$mpi_asan mpirun --allow-run-as-root --oversubscribe -np 2 "$mpi" "${K[@]}" --steps 1000000 --out "$tmp/i.st" >"$tmp/out" 2>"$tmp/err" &
job=$!
for _ in $(seq 1 100); do [ -s "$tmp/i.st.last" ] && break; sleep 0.1; done
kill -INT "$job"
for _ in $(seq 1 300); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
kill -0 "$job" 2>/dev/null && { bad "Ctrl-C: mpirun still runs after 30 s"; kill -9 "$job"; }
wait "$job"
[ $? != 0 ] && ok || bad "Ctrl-C: mpirun exited 0"
[ "$(grep -c "^recur train: interrupted at step" "$tmp/err")" = 1 ] && ok || bad "Ctrl-C: expected one 'interrupted' line, got: $(cat "$tmp/err")"
grep -q "resume with: mpirun -np 2 recur-mpi" "$tmp/err" && ok || bad "Ctrl-C: no resume hint"
s=$(steps_of "$tmp/i.st.last")
expect 0 "Ctrl-C's state (step ${s:-?}) resumes on 4 ranks" -- mpirun_ -np 4 "$mpi" "${K[@]}" --steps $((${s:-0} + 5)) --resume "$tmp/i.st.last" --out "$tmp/i.st"
finish
