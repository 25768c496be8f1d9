# bash completion for trumanctl: verbs, their flags, container names/ids from `ps -a` and
# image names from `images`.
_trumanctl_containers() {
    local sock=()
    [[ -n $_trumanctl_socket ]] && sock=(--socket "$_trumanctl_socket")
    trumanctl "${sock[@]}" ps -a --json 2>/dev/null |
        grep -oE '"(name|id)": *"[^"]*"' | sed -E 's/.*"([^"]*)"$/\1/'
}

# Every tag of every image (the "tags" arrays of `images --json`), one a line, Docker Hub's
# official images also as users type them (docker.io/library/busybox:latest as busybox:latest).
_trumanctl_images() {
    local sock=()
    [[ -n $_trumanctl_socket ]] && sock=(--socket "$_trumanctl_socket")
    trumanctl "${sock[@]}" images --json 2>/dev/null | tr -d '\n' |
        grep -oE '"tags": *\[[^]]*\]' | grep -oE '"[^"]*"' | grep -v '^"tags"$' | tr -d '"' |
        sed -E 'p; s#^docker\.io/library/##' | sort -u
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

    local verbs="create run start wait rm kill stop ps inspect logs events info version exec
        attach denials seccomp-profile port network pull images rmi tag image login logout import
        save"
    local create_flags="--name --hostname -e --env -w --workdir -u --user -m --memory --pids-limit
        --cpus --cpu-quota --read-only --cap-add --cap-drop --network --ip --gateway --security-opt
        --rootfs --help"
    case $prev in
        --socket|--rootfs|-o|--output) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --network) COMPREPLY=($(compgen -W "none loopback veth" -- "$cur")); return ;;
        --security-opt) COMPREPLY=($(compgen -W "seccomp=unconfined seccomp=default no-new-privileges" -- "$cur")); return ;;
        -s|--signal) COMPREPLY=($(compgen -W "TERM KILL INT HUP QUIT USR1 USR2 STOP CONT" -- "$cur")); return ;;
        --name|--hostname|-e|--env|-w|--workdir|-u|--user|-m|--memory|--pids-limit|--cpus|--cpu-quota|--cap-add|--cap-drop|--ip|--gateway|-t|--time|--tail|--tag|--platform|--username|-p|--password) return ;;
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
        images) flags="-q --quiet --json" ;;
        rmi) flags="-f --force" ;;
        pull) flags="--platform" ;;
        login) flags="-u --username -p --password --password-stdin" ;;
        import) flags="-t --tag" ;;
        save) flags="-o --output" ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags --help" -- "$cur"))
        return
    fi
    case $verb in
        start|wait|rm|kill|stop|inspect|logs|exec)
            COMPREPLY=($(compgen -W "$(_trumanctl_containers)" -- "$cur")) ;;
        run|create|rmi|tag|save|pull) COMPREPLY=($(compgen -W "$(_trumanctl_images)" -- "$cur")) ;;
        import) COMPREPLY=($(compgen -f -- "$cur")) ;;
        image)
            # image inspect REF: the subverb first, then the images.
            if [[ ${COMP_WORDS[COMP_CWORD-1]} == image ]]; then
                COMPREPLY=($(compgen -W "inspect" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_trumanctl_images)" -- "$cur"))
            fi ;;
        network)
            if [[ ${COMP_WORDS[COMP_CWORD-1]} == network ]]; then
                COMPREPLY=($(compgen -W "create ls inspect rm connect disconnect" -- "$cur"))
            fi ;;
    esac
}
complete -F _trumanctl trumanctl
