#!/usr/bin/env bash
# layers.sh - holds src/ to its layers (docs/design.md): a file in a folder
# may include headers of the folders listed for it and nothing else; the
# library never includes the CLI. Prints every violation and fails on any.
#   bash tests/layers.sh [SOURCE_DIR]
set -u
root=${1:-$(dirname "$0")/..}
cd "$root/src" || exit 1
declare -A may=(
    [base]="base"
    [kernels]="base kernels"
    [data]="base data"
    [nn]="base kernels data nn"
    [formats]="base data nn formats"
    [train]="base kernels data nn formats train"
    [tasks]="base kernels data nn formats train tasks"
)
bad=0 files=0
for dir in */; do
    dir=${dir%/}
    if [ -z "${may[$dir]+x}" ]; then
        echo "src/$dir: a folder with no layer (add it to tests/layers.sh and docs/design.md)"
        bad=$((bad + 1))
        continue
    fi
    while IFS= read -r f; do
        files=$((files + 1))
        while IFS= read -r inc; do
            top=${inc%%/*}
            [ "$top" = "$inc" ] && { # a bare name: only the public header or a sibling in nn/cells
                [ "$inc" = recur.h ] || [ -f "$(dirname "$f")/$inc" ] && continue
                echo "$f: includes \"$inc\" without its folder"; bad=$((bad + 1)); continue; }
            case " ${may[$dir]} " in
            *" $top "*) ;;
            *) echo "$f: includes \"$inc\" but $dir/ may use only: ${may[$dir]}"; bad=$((bad + 1)) ;;
            esac
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    done < <(find "$dir" -name '*.[ch]' | sort)
done
echo "layers: $files files checked, $bad violations"
[ "$bad" = 0 ]
