# bash completion for trumanctl: verbs, their flags, and container names/ids from `ps -a`.
_trumanctl_containers() {
    local sock=()
    [[ -n $_trumanctl_socket ]] && sock=(--socket "$_trumanctl_socket")
    trumanctl "${sock[@]}" ps -a --json 2>/dev/null |
        grep -oE '"(name|id)": *"[^"]*"' | sed -E 's/.*"([^"]*)"$/\1/'
}

_trumanctl() {
    local cur prev verb i
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    _trumanctl_socket=
    verb=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --socket) _trumanctl_socket=${COMP_WORDS[i+1]}; ((i++)) ;;
            -*) ;;
            *) verb=${COMP_WORDS[i]}; break ;;
        esac
    done

    local verbs="create run start wait rm kill stop ps inspect logs events info version exec"
    local create_flags="--name --hostname -e --env -w --workdir -u --user -m --memory --pids-limit
        --cpus --cpu-quota --read-only --cap-add --cap-drop --network --ip --gateway --security-opt
        --rootfs --help"
    case $prev in
        --socket|--rootfs) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --network) COMPREPLY=($(compgen -W "none loopback veth" -- "$cur")); return ;;
        --security-opt) COMPREPLY=($(compgen -W "seccomp=unconfined seccomp=default no-new-privileges" -- "$cur")); return ;;
        -s|--signal) COMPREPLY=($(compgen -W "TERM KILL INT HUP QUIT USR1 USR2 STOP CONT" -- "$cur")); return ;;
        --name|--hostname|-e|--env|-w|--workdir|-u|--user|-m|--memory|--pids-limit|--cpus|--cpu-quota|--cap-add|--cap-drop|--ip|--gateway|-t|--time|--tail) return ;;
    esac
    if [[ -z $verb ]]; then
        COMPREPLY=($(compgen -W "$verbs --socket --help --version" -- "$cur"))
        return
    fi
    local flags=
    case $verb in
        create) flags=$create_flags ;;
        run) flags="$create_flags -d --detach --rm" ;;
        rm) flags="-f --force" ;;
        kill) flags="-s --signal" ;;
        stop) flags="-t --time" ;;
        ps) flags="-a --all -q --quiet --json" ;;
        logs) flags="-f --follow --tail -t --timestamps" ;;
        exec) flags="-d --detach -e --env -w --workdir -u --user" ;;
        inspect|events|info|version) flags="--json" ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags --help" -- "$cur"))
        return
    fi
    case $verb in
        start|wait|rm|kill|stop|inspect|logs|exec)
            COMPREPLY=($(compgen -W "$(_trumanctl_containers)" -- "$cur")) ;;
        run|create) COMPREPLY=($(compgen -W "busybox" -- "$cur")) ;;
    esac
}
complete -F _trumanctl trumanctl
