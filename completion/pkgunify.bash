# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion for pkgunify(8).
# Keep in sync with the CLI: tests/packaging/check-completion compares these
# lists with `pkgunify --help` and `pkgunify COMMAND --help`.

_pkgunify_commands="scan pkg list inspect verify sync dpkg-release unify-files wait split release status store guest agent"
_pkgunify_store_commands="stats fsck gc unprotect"
_pkgunify_guest_commands="add remove list"

# Options per command ("store stats" and friends as "store-stats", "guest add"
# as "guest-add").
_pkgunify_options()
{
    local common="-h --help --json"
    case $1 in
        scan) echo "$common --store --policy --db -n --dry-run -j --jobs --create --min-size --ignore-mtime --trusted-roots --link --all --guests-dir" ;;
        pkg) echo "$common --store --policy --db -n --dry-run -j --jobs --create --min-size --ignore-mtime --trusted-roots --link --root" ;;
        list) echo "$common --policy --db --root" ;;
        inspect) echo "$common --policy" ;;
        verify) echo "$common --store --policy --db" ;;
        sync) echo "$common --policy --root --hook --log --host --db --state-dir" ;;
        dpkg-release) echo "$common --policy --root --hook --log --host --args-from-stdin --view-fd --cwd" ;;
        unify-files) echo "$common --policy --root --hook --log --host --check" ;;
        wait) echo "-h --help --root --timeout" ;;
        split) echo "$common -n --dry-run" ;;
        release) echo "$common -n --dry-run --root --packages --stdin --view-fd" ;;
        status) echo "$common --store --policy --files --all --guests-dir" ;;
        store) echo "-h --help" ;;
        store-stats) echo "$common --store --policy --memory" ;;
        store-fsck) echo "$common --store --policy --repair -j --jobs" ;;
        store-gc) echo "$common --store --policy -n --dry-run" ;;
        store-unprotect) echo "$common --store --policy -n --dry-run" ;;
        guest) echo "-h --help" ;;
        guest-add) echo "$common --policy --guests-dir" ;;
        guest-remove) echo "$common --guests-dir" ;;
        guest-list) echo "$common --policy --guests-dir" ;;
        agent) echo "-h --help --runtime-dir --guests-dir --policy --state-dir -j --jobs --request-timeout" ;;
        '') echo "-h --help --version" ;;
    esac
}

_pkgunify()
{
    local cur prev words cword
    _init_completion || return

    # The command (and store's subcommand) on the line so far.
    local cmd="" i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -*) ;;
            *)
                if [[ -z $cmd ]]; then
                    [[ " $_pkgunify_commands " == *" ${words[i]} "* ]] && cmd=${words[i]}
                elif [[ $cmd == store && " $_pkgunify_store_commands " == *" ${words[i]} "* ]]; then
                    cmd=store-${words[i]}
                elif [[ $cmd == guest && " $_pkgunify_guest_commands " == *" ${words[i]} "* ]]; then
                    cmd=guest-${words[i]}
                fi
                ;;
        esac
    done

    case $prev in
        --store | --state-dir | --guests-dir)
            _filedir -d
            return
            ;;
        --policy)
            _filedir '@(yaml|yml)'
            return
            ;;
        --log)
            _filedir
            return
            ;;
        --root)
            _filedir -d
            return
            ;;
        --db)
            COMPREPLY=($(compgen -W "auto rpm dpkg none" -- "$cur"))
            return
            ;;
        --create)
            COMPREPLY=($(compgen -W "copy adopt" -- "$cur"))
            return
            ;;
        --link)
            COMPREPLY=($(compgen -W "auto iunlink immutable reflink hardlink" -- "$cur"))
            return
            ;;
        -j | --jobs | --min-size)
            return
            ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_pkgunify_options "$cmd")" -- "$cur"))
        return
    fi
    case $cmd in
        '')
            COMPREPLY=($(compgen -W "$_pkgunify_commands" -- "$cur"))
            ;;
        store)
            COMPREPLY=($(compgen -W "$_pkgunify_store_commands" -- "$cur"))
            ;;
        guest)
            COMPREPLY=($(compgen -W "$_pkgunify_guest_commands" -- "$cur"))
            ;;
        guest-add | guest-remove)
            # NAME, then (add) ROOT; guest names are the registry's files.
            local dir=${PKGUNIFY_GUESTS_DIR:-/etc/pkgunify/guests.d} names
            names=$(cd "$dir" 2>/dev/null && for f in *.yaml; do [[ -e $f ]] && echo "${f%.yaml}"; done)
            if [[ $cmd == guest-remove ]]; then
                COMPREPLY=($(compgen -W "$names" -- "$cur"))
            elif [[ ${words[cword - 1]} != add ]]; then
                _filedir -d
            fi
            ;;
        scan | verify | status)
            _filedir -d
            ;;
        inspect)
            _filedir '@(rpm|deb)'
            ;;
        split | release)
            _filedir
            ;;
    esac
} &&
    complete -F _pkgunify pkgunify

# ex: filetype=sh
