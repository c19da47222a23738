# bash completion for reportd(8): commands, each command's options, states
# for --state, and role ids from the roles_dir of the configuration in use
# (-c FILE on the line, else $REPORTD_CONFIG, else /etc/reportd/reportd.yaml).
# Self-contained: it needs nothing from the bash-completion package.
# tests/integration/test_docs.py holds the options to `reportd COMMAND --help`.

_reportd_commands="run check-config send-test enqueue status list show preview hold release
retry purge queue help"
_reportd_states="queued sending deferred held sent failed rejected"

# Options per command, as `reportd COMMAND --help` lists them.
_reportd_options() {
    case $1 in
    run) echo "--drain" ;;
    send-test) echo "--to --role --level" ;;
    enqueue) echo "--email --role --level --name --task --skill --years --file" ;;
    status) echo "--json --prometheus" ;;
    list) echo "--state --json" ;;
    show) echo "--json" ;;
    preview) echo "--email --text --html --eml" ;;
    retry) echo "--failed" ;;
    queue) echo "--to --password-file" ;;
    esac
    echo "--help"
}

# The role ids: the *.yaml files in the configuration's roles_dir.
_reportd_roles() {
    local config=$1 dir f
    [[ -r $config ]] || return
    dir=$(sed -n 's/^roles_dir:[[:space:]]*//p' "$config" | sed 's/[[:space:]]#.*//; s/[[:space:]]*$//')
    dir=${dir#[\"\']}
    dir=${dir%[\"\']}
    [[ -n $dir && -d $dir ]] || return
    for f in "$dir"/*.yaml; do
        [[ -f $f ]] || continue
        f=${f##*/}
        echo "${f%.yaml}"
    done
}

_reportd() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev= cmd= config=${REPORTD_CONFIG:-/etc/reportd/reportd.yaml}
    local i cmd_at=0
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()

    # The command is the first word that is not a global option or its value.
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -c | --config)
            ((i++))
            ((i < COMP_CWORD)) && config=${COMP_WORDS[i]}
            ;;
        --config=*) config=${COMP_WORDS[i]#--config=} ;;
        -*) ;;
        *)
            cmd=${COMP_WORDS[i]}
            cmd_at=$i
            break
            ;;
        esac
    done

    if [[ -z $cmd ]]; then
        case $prev in
        -c | --config)
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
        esac
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "-c --config -v --verbose -h --help -V --version" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$_reportd_commands" -- "$cur")
        fi
        return
    fi

    case $prev in
    --state)
        mapfile -t COMPREPLY < <(compgen -W "$_reportd_states" -- "$cur")
        return
        ;;
    --role)
        mapfile -t COMPREPLY < <(compgen -W "$(_reportd_roles "$config")" -- "$cur")
        return
        ;;
    --file)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return
        ;;
    --email | --name | --task | --skill | --years | --to | --level)
        return
        ;;
    esac

    if [[ $cmd == help && $cur != -* ]]; then
        ((COMP_CWORD == cmd_at + 1)) &&
            mapfile -t COMPREPLY < <(compgen -W "$_reportd_commands" -- "$cur")
        return
    fi
    if [[ $cur == -* || -z $cur ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_reportd_options "$cmd")" -- "$cur")
    fi
}

complete -F _reportd reportd
