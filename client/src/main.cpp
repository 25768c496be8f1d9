// trumanctl: the command-line client of trumand. Flags are parsed with CLI11; every verb is a
// function in commands.cpp; this file only wires them and turns failures into exit codes.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "truman/client/api_client.hpp"
#include "truman/client/attach.hpp"
#include "truman/client/commands.hpp"
#include "truman/client/format.hpp"
#include "truman/client/network_commands.hpp"
#include "truman/client/port_commands.hpp"

using namespace truman::client;

namespace {

constexpr const char* kFooter = R"(Exit codes:
  run, wait   the container's own exit code (128+N when killed by signal N)
  0           success
  125         usage error: bad flag or argument, nothing was sent to trumand
  126         trumand answered with an error (its message is printed)
  127         trumand could not be reached (not running, wrong --socket, no permission)

The socket is --socket, else $TRUMAN_SOCKET, else /run/truman.sock.)";

void add_create_flags(CLI::App* cmd, CreateOptions& o) {
    cmd->add_option("--name", o.name, "container name");
    cmd->add_option("--hostname", o.hostname, "host name inside the container");
    cmd->add_option("-e,--env", o.env, "set KEY=value (KEY alone copies it from this environment)")
        ->allow_extra_args(false);
    cmd->add_option("-w,--workdir", o.workdir, "working directory inside the container");
    cmd->add_option("-u,--user", o.user, "uid[:gid] to run as");
    cmd->add_option("-m,--memory", o.memory, "memory limit: bytes or 512k, 128m, 1g");
    cmd->add_option("--pids-limit", o.pids_limit, "maximum number of processes (-1: unlimited)");
    cmd->add_option("--cpus", o.cpus, "CPUs the container may use, e.g. 0.5 or 2");
    cmd->add_option("--cpu-quota", o.cpu_quota, "CFS quota in microseconds per 100 ms period");
    cmd->add_flag("--read-only", o.read_only, "mount the root filesystem read-only");
    cmd->add_option("--cap-add", o.cap_add, "add a capability (NET_ADMIN, ALL...)")
        ->allow_extra_args(false);
    cmd->add_option("--cap-drop", o.cap_drop, "drop a capability (CHOWN, ALL...)")
        ->allow_extra_args(false);
    cmd->add_option("--network", o.network,
                    "a network's name (trumanctl network create), or host, none, loopback, veth");
    cmd->add_option("--ip", o.ip,
                    "the container's address: on a named network 10.89.0.9, with veth a CIDR");
    cmd->add_option("--ip6", o.ip6, "its IPv6 address on a named dual stack network, e.g. fd00::9");
    cmd->add_option("--gateway", o.gateway, "default route with --network veth");
    cmd->add_option("--security-opt", o.security_opts,
                    "seccomp=unconfined|default|learn|PROFILE.json, no-new-privileges")
        ->allow_extra_args(false);
    cmd->add_option("-p,--publish", o.publish,
                    "publish a port: [HOSTIP:]HOSTPORT:PORT[/udp], ranges 8000-8001:80-81")
        ->allow_extra_args(false);
    cmd->add_option("--rootfs", o.rootfs, "run from this root directory instead of an IMAGE");
    cmd->add_flag("-i,--interactive", o.interactive, "keep stdin open (run: and attach to it)");
    cmd->add_flag("-t,--tty", o.tty, "a terminal (with -i: ours, in raw mode, its size following)");
    cmd->add_option("--network-alias", o.network_aliases, "another name on --network NAME")
        ->allow_extra_args(false);
    cmd->add_option("--dns", o.dns, "a nameserver for /etc/resolv.conf (default: the host's)")
        ->allow_extra_args(false);
    cmd->add_option("--add-host", o.add_hosts, "NAME:IP, a line of /etc/hosts")
        ->allow_extra_args(false);
    // IMAGE CMD...: everything from the first positional on is the container's, flags included
    // (`run busybox sh -c 'exit 7'`).
    cmd->prefix_command();
}

std::string socket_path(const std::string& flag) {
    if (!flag.empty()) return flag;
    if (const char* env = std::getenv("TRUMAN_SOCKET"); env && *env) return env;
    return "/run/truman.sock";
}

}  // namespace

static int trumanctl_main(int argc, char** argv) {
    CLI::App app{"trumanctl: run and manage truman containers through trumand", "trumanctl"};
    app.footer(kFooter);
    app.require_subcommand(1);
    std::string socket_flag;
    app.add_option("--socket", socket_flag, "trumand's Unix socket");
    app.set_version_flag("--version", TRUMAN_VERSION);

    CreateOptions create_options;
    bool detach = false, remove = false, force = false, all = false, quiet = false, follow = false;
    bool timestamps = false, json = false;
    std::vector<std::string> refs;
    std::string ref, signal_name = "KILL", tail = "all";
    unsigned timeout = 10;

    auto* create = app.add_subcommand("create", "create a container (prints its id)");
    create->footer(
        "Arguments: IMAGE|--rootfs PATH [CMD...] (everything after IMAGE is the command, flags "
        "included)");
    add_create_flags(create, create_options);

    auto* run = app.add_subcommand(
        "run", "create and start a container, show its output, exit with its code");
    run->footer(
        "Arguments: IMAGE|--rootfs PATH [CMD...] (everything after IMAGE is the command, flags "
        "included)");
    add_create_flags(run, create_options);
    run->add_flag("-d,--detach", detach, "print the id and return instead of waiting");
    run->add_flag("--rm", remove, "remove the container once it has exited");

    auto* start = app.add_subcommand("start", "start created containers");
    start->add_option("CONTAINER", refs, "id, id prefix or name")->required();
    auto* wait = app.add_subcommand("wait", "wait until containers exit; print their exit codes");
    wait->add_option("CONTAINER", refs, "id, id prefix or name")->required();
    auto* rm = app.add_subcommand("rm", "remove containers");
    rm->add_flag("-f,--force", force, "kill a running container first");
    rm->add_option("CONTAINER", refs, "id, id prefix or name")->required();
    auto* kill = app.add_subcommand("kill", "send a signal to containers");
    kill->add_option("-s,--signal", signal_name, "signal name or number")->capture_default_str();
    kill->add_option("CONTAINER", refs, "id, id prefix or name")->required();
    auto* stop = app.add_subcommand("stop", "SIGTERM, then SIGKILL after a timeout");
    stop->add_option("-t,--time", timeout, "seconds to wait before SIGKILL")->capture_default_str();
    stop->add_option("CONTAINER", refs, "id, id prefix or name")->required();

    auto* ps = app.add_subcommand("ps", "list containers (running ones unless -a)");
    ps->add_flag("-a,--all", all, "include created and exited containers");
    ps->add_flag("-q,--quiet", quiet, "only ids");
    ps->add_flag("--json", json, "print the API's JSON");
    auto* inspect = app.add_subcommand("inspect", "a container's details as JSON");
    inspect->add_option("CONTAINER", refs, "id, id prefix or name")->required();
    inspect->add_flag("--json", json, "(the output is always the API's JSON)");
    auto* logs =
        app.add_subcommand("logs", "a container's output (stdout to stdout, stderr to stderr)");
    logs->add_flag("-f,--follow", follow, "keep following until the container exits");
    logs->add_option("--tail", tail, "only the last N lines")->capture_default_str();
    logs->add_flag("-t,--timestamps", timestamps, "prefix each line with its time");
    logs->add_option("CONTAINER", ref, "id, id prefix or name")->required();
    auto* denials = app.add_subcommand("denials", "the system calls seccomp denied a container");
    denials->add_flag("-f,--follow", follow, "keep following until the container exits");
    denials->add_option("CONTAINER", ref, "id, id prefix or name")->required();
    auto* seccomp_profile = app.add_subcommand(
        "seccomp-profile",
        "the seccomp profile learned from a container run with --security-opt seccomp=learn");
    seccomp_profile->add_option("CONTAINER", ref, "id, id prefix or name")->required();
    auto* events = app.add_subcommand("events", "follow container events");
    events->add_flag("--json", json, "print the API's JSON, one event per line");
    auto* info = app.add_subcommand("info", "daemon and host information");
    info->add_flag("--json", json, "print the API's JSON");
    auto* version = app.add_subcommand("version", "client and daemon versions");
    version->add_flag("--json", json, "print the API's JSON");

    auto* port = app.add_subcommand("port", "a container's published ports");
    port->add_option("CONTAINER", ref, "id, id prefix or name")->required();

    auto* network = app.add_subcommand("network", "manage networks");
    network->require_subcommand(1);
    NetworkCreateOptions network_options;
    auto* network_create = network->add_subcommand("create", "create a bridge network");
    network_create->add_option("NAME", network_options.name, "the network's name")->required();
    network_create->add_option("--subnet", network_options.subnet,
                               "IPv4 CIDR, e.g. 10.89.7.0/24 (default: from trumand's pool)");
    network_create->add_option("--gateway", network_options.gateway,
                               "the bridge's address (default: the subnet's first)");
    network_create->add_option("--bridge", network_options.bridge, "the host bridge's name");
    network_create->add_flag("--internal", network_options.internal, "no outbound traffic");
    network_create->add_flag("--ipv6", network_options.ipv6,
                             "dual stack: an IPv6 /64 from trumand's pool (fd00::/8) too");
    network_create->add_option("--subnet6", network_options.subnet6,
                               "dual stack with this IPv6 CIDR, e.g. fd00:89::/64");
    network_create->add_option("--gateway6", network_options.gateway6,
                               "the bridge's IPv6 address (default: the subnet6's first)");
    network_create->add_option("--label", network_options.labels, "KEY=VALUE")
        ->allow_extra_args(false);
    auto* network_ls = network->add_subcommand("ls", "list networks");
    network_ls->add_flag("-q,--quiet", quiet, "only names");
    network_ls->add_flag("--json", json, "print the API's JSON");
    auto* network_inspect = network->add_subcommand("inspect", "a network's details as JSON");
    network_inspect->add_option("NETWORK", refs, "name")->required();
    auto* network_rm = network->add_subcommand("rm", "remove networks nobody uses");
    network_rm->add_option("NETWORK", refs, "name")->required();
    NetworkConnectOptions connect_options;
    auto* network_connect = network->add_subcommand("connect", "connect a running container");
    auto* network_disconnect = network->add_subcommand("disconnect", "disconnect a container");
    for (auto* sub : {network_connect, network_disconnect}) {
        sub->add_option("NETWORK", connect_options.network, "name")->required();
        sub->add_option("CONTAINER", connect_options.container, "id or name")->required();
    }
    network_connect->add_option("--ip", connect_options.ip, "its address, e.g. 10.89.0.9");
    network_connect->add_option("--ip6", connect_options.ip6,
                                "its IPv6 address on a dual stack network, e.g. fd00::9");
    network_connect->add_option("--alias", connect_options.aliases, "another name there")
        ->allow_extra_args(false);
    std::string platform;
    auto* pull = app.add_subcommand("pull", "pull an image from a registry");
    pull->add_option("IMAGE", ref, "reference, e.g. alpine or 127.0.0.1:5000/app:1")->required();
    pull->add_option("--platform", platform, "os/arch[/variant] from a multi-platform image");
    auto* images = app.add_subcommand("images", "list the images in the store");
    images->add_flag("-q,--quiet", quiet, "only image ids");
    images->add_flag("--json", json, "print the API's JSON");
    auto* rmi = app.add_subcommand("rmi", "remove images (their unused layers go too)");
    rmi->add_flag("-f,--force", force, "untag even while containers use it");
    rmi->add_option("IMAGE", refs, "reference")->required();
    std::string tag_source, tag_target;
    auto* tag = app.add_subcommand("tag", "give an image another name");
    tag->add_option("SOURCE", tag_source, "the image")->required();
    tag->add_option("TARGET", tag_target, "its new reference")->required();
    auto* image = app.add_subcommand("image", "images: inspect");
    image->require_subcommand(1);
    auto* image_inspect = image->add_subcommand("inspect", "an image's details as JSON");
    image_inspect->add_option("IMAGE", refs, "reference")->required();
    LoginOptions login_options;
    auto* login = app.add_subcommand("login", "keep a registry's credentials in trumand");
    login->add_option("REGISTRY", login_options.registry, "host[:port]")->capture_default_str();
    login->add_option("-u,--username", login_options.username, "user name")->required();
    login->add_option("-p,--password", login_options.password, "password (visible to ps)");
    login->add_flag("--password-stdin", login_options.password_stdin, "read the password on stdin");
    std::string logout_registry = "docker.io";
    auto* logout = app.add_subcommand("logout", "forget a registry's credentials");
    logout->add_option("REGISTRY", logout_registry, "host[:port]")->capture_default_str();
    std::string import_file, import_tag, save_output;
    auto* import = app.add_subcommand("import", "load images from a docker save or OCI tar");
    import->add_option("FILE", import_file, "the tar (gzip/zstd too), - for stdin")->required();
    import->add_option("-t,--tag", import_tag, "a name for it (when the tar has none)");
    auto* save = app.add_subcommand("save", "write an image as an OCI layout tar");
    save->add_option("IMAGE", ref, "reference")->required();
    save->add_option("-o,--output", save_output, "the file (default: stdout)");
    ExecOptions exec_options;
    bool exec_tty = false, exec_interactive = false;
    auto* exec = app.add_subcommand("exec", "run a command in a running container");
    exec->footer("Arguments: CONTAINER CMD... (everything after CONTAINER is the command)");
    exec->add_flag("-d,--detach", exec_options.detach, "print the exec's id and return");
    exec->add_option("-e,--env", exec_options.env, "KEY=VALUE for the command (repeatable)")
        ->allow_extra_args(false);
    exec->add_option("-w,--workdir", exec_options.cwd, "the command's directory in the container");
    exec->add_option("-u,--user", exec_options.user, "uid or uid:gid");
    exec->add_flag("-t,--tty", exec_tty, "a terminal of its own");
    exec->add_flag("-i,--interactive", exec_interactive, "our stdin is the command's");
    exec->prefix_command();

    AttachOptions attach_options;
    auto* attach = app.add_subcommand("attach", "attach to a container's stdin, stdout, stderr");
    attach->add_option("CONTAINER", attach_options.container, "name or id")->required();
    attach->add_option("--detach-keys", attach_options.detach_keys,
                       "keys that detach, leaving it running (\"ctrl-p,ctrl-q\")");
    attach->add_flag("--no-stdin", attach_options.no_stdin, "do not attach stdin");
    attach->add_option("--sig-proxy", attach_options.sig_proxy,
                       "forward SIGINT, SIGTERM, SIGHUP to it (default true)");

    int signal_number = 0;
    try {
        app.parse(argc, argv);
        if (kill->parsed()) signal_number = parse_signal(signal_name);
        if (tail != "all" && tail.find_first_not_of("0123456789") != std::string::npos)
            throw std::invalid_argument("--tail must be a number or \"all\", not \"" + tail + "\"");
        if (network_create->parsed()) network_create_body(network_options);
        if (attach->parsed() && !attach_options.detach_keys.empty())
            detach_key_bytes(attach_options.detach_keys);
        if (exec->parsed()) {
            auto args = exec->remaining();
            if (args.size() < 2) throw std::invalid_argument("exec needs CONTAINER and CMD");
            exec_options.tty = exec_tty;
            exec_options.interactive = exec_interactive;
            exec_options.container = args[0];
            exec_options.cmd.assign(args.begin() + 1, args.end());
        }
        // -it makes our terminal the container's: without one there is nothing to put in
        // raw mode or to take the size of, and its end of input would end the attach (docker
        // refuses the same way).
        if ((exec->parsed() && exec_tty && exec_interactive) ||
            (run->parsed() && create_options.tty && create_options.interactive && !detach))
            if (!isatty(STDIN_FILENO)) throw std::invalid_argument("the input device is not a TTY");
        if (run->parsed() || create->parsed()) {
            create_options.args = (run->parsed() ? run : create)->remaining();
            create_body(create_options);  // flag errors before anything is sent
        }
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);  // prints help (rc 0) or the error and a hint
        return rc == 0 ? 0 : kExitUsage;
    } catch (const std::invalid_argument& e) {
        std::cerr << "trumanctl: " << e.what() << "\nRun with --help for more information."
                  << std::endl;
        return kExitUsage;
    }

    ApiClient api(socket_path(socket_flag));
    try {
        if (create->parsed()) return create_command(api, create_options);
        if (run->parsed()) return run_command(api, create_options, detach, remove);
        if (start->parsed()) return start_command(api, refs);
        if (wait->parsed()) return wait_command(api, refs);
        if (rm->parsed()) return rm_command(api, refs, force);
        if (kill->parsed()) return kill_command(api, refs, signal_number);
        if (stop->parsed()) return stop_command(api, refs, timeout);
        if (ps->parsed()) return ps_command(api, all, quiet, json);
        if (inspect->parsed()) return inspect_command(api, refs);
        if (logs->parsed()) return logs_command(api, ref, follow, tail, timestamps);
        if (events->parsed()) return events_command(api, json);
        if (denials->parsed()) return denials_command(api, ref, follow);
        if (seccomp_profile->parsed()) return seccomp_profile_command(api, ref);
        if (info->parsed()) return info_command(api, json);
        if (version->parsed()) return version_command(api, json, TRUMAN_VERSION);
        if (network_create->parsed()) return network_create_command(api, network_options);
        if (network_ls->parsed()) return network_ls_command(api, quiet, json);
        if (network_inspect->parsed()) return network_inspect_command(api, refs);
        if (network_rm->parsed()) return network_rm_command(api, refs);
        if (network_connect->parsed()) return network_connect_command(api, connect_options);
        if (network_disconnect->parsed()) return network_disconnect_command(api, connect_options);
        if (pull->parsed()) return pull_command(api, ref, platform);
        if (images->parsed()) return images_command(api, quiet, json);
        if (rmi->parsed()) return rmi_command(api, refs, force);
        if (tag->parsed()) return tag_command(api, tag_source, tag_target);
        if (login->parsed()) return login_command(api, login_options);
        if (logout->parsed()) return logout_command(api, logout_registry);
        if (image_inspect->parsed()) return image_inspect_command(api, refs);
        if (import->parsed()) return import_command(api, import_file, import_tag);
        if (save->parsed()) return save_command(api, ref, save_output);
        if (exec->parsed()) return exec_command(api, exec_options);
        if (attach->parsed()) return attach_command(api, attach_options);
        if (port->parsed()) return port_command(api, ref);
    } catch (const ApiError& e) {
        std::cerr << "trumanctl: " << e.what() << std::endl;
        return kExitApiError;
    } catch (const ConnectionError& e) {
        std::cerr << "trumanctl: " << e.what() << std::endl;
        return kExitConnection;
    } catch (const std::invalid_argument& e) {
        std::cerr << "trumanctl: " << e.what() << std::endl;
        return kExitUsage;
    }
    return kExitUsage;
}

int main(int argc, char** argv) {
    // Whatever escapes (std::bad_alloc while setting up the flags...) is still a message and
    // an exit code, never std::terminate.
    try {
        return trumanctl_main(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "trumanctl: " << e.what() << std::endl;
        return kExitUsage;
    }
}
