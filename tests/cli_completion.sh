#!/usr/bin/env bash
# cli_completion.sh - completions/recur.bash: sourcing it registers the
# completion (complete -p recur), and scripted completions (COMP_WORDS,
# COMP_CWORD, then the function it registered) give the commands, the
# subcommands, a command's options and an option's values as the binary's
# own --help lists them, and files for file arguments.
# usage: cli_completion.sh RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The completion runs "recur" from PATH, as a user types it.
mkdir -p "$tmp/bin" "$tmp/work"
ln -s "$(cd "$(dirname "$recur")" && pwd)/$(basename "$recur")" "$tmp/bin/recur"
PATH=$tmp/bin:$PATH
touch "$tmp/work/model.safetensors" "$tmp/work/mine.txt"
cd "$tmp/work"

set +u # bash-completion scripts are written for interactive shells
# shellcheck source=/dev/null
. "$src/completions/recur.bash"
reg=$(complete -p recur 2>&1) || true
if [[ $reg == "complete -F "*" recur" ]]; then ok; else bad "complete -p recur: '$reg'"; fi
func=$(awk '{print $3}' <<<"$reg")

# comp WORDS...: the sorted completions of the last word.
comp() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$func" recur "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
# want WORDS... = EXPECTED
want() {
    local -a words=()
    while [ "$1" != = ]; do words+=("$1"); shift; done
    shift
    local got
    got=$(comp "${words[@]}")
    if [ "$got" = "$*" ]; then ok; else bad "completing '${words[*]}': got '$got', expected '$*'"; fi
}

want recur "" = --help --version bench classify eval gradcheck hello info sample seq2seq tag train viz
want recur tr = train
want recur seq2seq "" = eval generate predict train
want recur tag "" = eval predict train
want recur train --hid = --hidden
want recur train --cell "" = gru lstm rnn
want recur train --optim "" = adagrad adam rmsprop sgd
want recur seq2seq train --att = --attention
want recur sample mod = model.safetensors
want recur train --out mi = mine.txt
want recur train --steps "" =
want recur viz model.safetensors mine.txt --color "" = always auto never
# Every option `recur sample --help` lists is offered, and nothing else.
opts=$("$recur" sample --help | sed -n 's/^  *\(--[a-z0-9-]*\).*/\1/p' | sort | tr '\n' ' ')
want recur sample model.safetensors -- = $(printf '%s\n' $opts --help | sort | tr '\n' ' ')
finish
