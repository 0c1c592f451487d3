# recur.bash - bash completion for the recur command.
#
# Installed as share/bash-completion/completions/recur; for a build tree,
# `source completions/recur.bash`. Nothing here lists recur's commands or
# options: they are read from the binary being completed (`recur --help`,
# `recur CMD [SUB] --help`), once per shell, so the completion cannot go
# stale. What it completes:
#   recur <TAB>                  the commands
#   recur seq2seq <TAB>          a command's subcommands (seq2seq, classify, tag)
#   recur train --<TAB>          the options of that (sub)command
#   recur train --cell <TAB>     an option's values when its help says "a, b or c"
#   recur train --out <TAB>      files, for options whose value is CKPT, FILE, OUT or DIR
#   recur sample <TAB>           files, for positional arguments (checkpoints, texts)
# shellcheck shell=bash

declare -gA _recur_help_cache

# _recur_help BIN WORDS...: the --help text of `BIN WORDS... --help`, cached.
_recur_help() {
    local bin=$1 key
    shift
    key="$bin|$*"
    if [[ -z ${_recur_help_cache[$key]+x} ]]; then
        _recur_help_cache[$key]=$("$bin" "$@" --help 2>/dev/null)
    fi
    printf '%s\n' "${_recur_help_cache[$key]}"
}

# _recur_commands BIN [CMD]: the commands (or CMD's subcommands). Top level:
# the lines under "commands:" of `recur --help`. A command with subcommands
# lists them the same way (seq2seq) or in its usage lines ("recur tag train ...").
_recur_commands() {
    local bin=$1
    shift
    _recur_help "$bin" "$@" | awk -v cmd="$*" '
        /^commands:/ { on = 1; next }
        on && /^  [a-z]/ { print $1; next }
        on { on = 0 }
        cmd != "" {
            for (i = 1; i < NF; i++)
                if ($i == "recur" && $(i + 1) == cmd && $(i + 2) ~ /^[a-z][a-z0-9-]*$/) print $(i + 2)
        }' | sort -u
}

# _recur_options BIN CMD...: one line per option, "NAME META HELP" (META "-"
# for a flag), from the options section of the help.
_recur_options() {
    _recur_help "$@" | sed -n 's/^  *--\([a-z0-9][a-z0-9-]*\)\( [A-Z][A-Z0-9._]*\)\{0,1\}  *\(.*\)$/\1|\2|\3/p' |
        while IFS='|' read -r name meta help; do
            printf '%s %s %s\n' "$name" "${meta:- -}" "$help"
        done
}

_recur() {
    local cur prev bin
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    bin=${COMP_WORDS[0]}
    # Expand a leading ~ so that `~/bin/recur` can be run.
    [[ $bin == "~/"* ]] && bin=$HOME/${bin#"~/"}
    if ! type -P "$bin" >/dev/null 2>&1 && [[ ! -x $bin ]]; then return 0; fi

    # The command path: the words naming commands, up to the first other word.
    local -a path=()
    local i w subs
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        [[ $w == -* ]] && break
        if ((${#path[@]} == 0)); then
            path=("$w")
        else
            subs=$(_recur_commands "$bin" "${path[@]}")
            if [[ ${#path[@]} -eq 1 && $'\n'$subs$'\n' == *$'\n'$w$'\n'* ]]; then
                path+=("$w")
            fi
            break
        fi
    done

    if ((COMP_CWORD == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "$(_recur_commands "$bin") --help --version" -- "$cur")
        return 0
    fi
    if ((${#path[@]} == 1 && COMP_CWORD == 2)) && [[ $cur != -* ]]; then
        subs=$(_recur_commands "$bin" "${path[0]}")
        if [[ -n $subs ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
            return 0
        fi
    fi

    local opts
    opts=$(_recur_options "$bin" "${path[@]}")
    # The value of an option: its choices, files, or nothing to suggest.
    if [[ $prev == --* ]]; then
        local line meta help choices
        line=$(awk -v n="${prev#--}" '$1 == n' <<<"$opts")
        if [[ -n $line ]]; then
            read -r _ meta help <<<"$line"
            if [[ $meta != - ]]; then
                case $meta in
                CKPT | FILE | OUT | DIR | PATH)
                    compopt -o filenames 2>/dev/null
                    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                    ;;
                *)
                    # "rnn, lstm or gru (default: rnn)" -> rnn lstm gru
                    choices=$(sed -e 's/ *([^)]*)//g' <<<"$help" |
                        sed -n 's/^\(\([a-z0-9-]*, \)*[a-z0-9-]* or [a-z0-9-]*\)$/\1/p' |
                        sed -e 's/,//g' -e 's/ or / /')
                    [[ -n $choices ]] && mapfile -t COMPREPLY < <(compgen -W "$choices" -- "$cur")
                    ;;
                esac
                return 0
            fi
        fi
    fi
    if [[ $cur == -* ]]; then
        local names
        names=$(awk '{print "--" $1}' <<<"$opts")
        mapfile -t COMPREPLY < <(compgen -W "$names --help" -- "$cur")
        return 0
    fi
    # A positional argument: a checkpoint, a text, a directory of texts.
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

complete -F _recur recur
