#include "truman/api/mapping.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <limits>

#include "truman/capabilities.hpp"
#include "truman/daemon/container_name.hpp"
#include "truman/devices.hpp"
#include "truman/error.hpp"
#include "truman/json_reader.hpp"
#include "truman/process.hpp"
#include "truman/signal_names.hpp"
#include "truman/spec.hpp"

namespace truman::api {

using nlohmann::json;

namespace {

// "uid" or "uid:gid": the API's own spelling of process.user.
uint32_t parse_id(const std::string& text, const std::string& field) {
    if (text.empty() || text.size() > 10 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        throw invalid_argument(field, "must be \"uid\" or \"uid:gid\" with numeric ids");
    unsigned long long v = std::stoull(text);
    if (v > std::numeric_limits<uint32_t>::max() - 1ULL)  // (uid_t)-1 means "unchanged"
        throw invalid_argument(field, "id out of range");
    return static_cast<uint32_t>(v);
}

// Numeric ids are the process's as they stand; a name ("app", "app:staff", "1000:staff") is
// the service's to resolve through the root's /etc/passwd and /etc/group, as are the
// primary and supplementary groups of a uid.
void apply_user(const std::string& text, User* user, std::string* named) {
    *named = text;
    if (!text.empty() && text.find_first_not_of("0123456789:") != std::string::npos) return;
    size_t colon = text.find(':');
    user->uid = parse_id(text.substr(0, colon), "user");
    user->gid = colon == std::string::npos ? 0 : parse_id(text.substr(colon + 1), "user");
}

// A given variable replaces the default one of the same name; the name is the process
// concern's to find (env_name refuses what is not KEY=value).
void apply_env(const json& j, std::vector<std::string>* env) {
    auto vars = json_strings(j, "env");
    for (size_t i = 0; i < vars.size(); ++i) {
        std::string prefix = env_name(vars[i], index_path("env", i)) + "=";
        auto same = [&](const std::string& existing) { return existing.rfind(prefix, 0) == 0; };
        auto it = std::find_if(env->begin(), env->end(), same);
        if (it == env->end()) {
            env->push_back(vars[i]);
        } else {
            *it = vars[i];
            env->erase(std::remove_if(std::next(it), env->end(), same), env->end());
        }
    }
}

// "host": the host's network namespace, as namespaces.network false says it.
bool is_host_network(const json& j) {
    return j.is_string() && j.get<std::string>() == "host";
}

void apply_network(const json& j, Network* network) {
    if (j.is_string()) {  // shorthand: "network": "none"
        return apply_network(json{{"mode", j}}, network);
    }
    JsonObjectReader f(j, "network");
    if (const json* v = f.get("mode"))
        network->mode = network_mode_from_string(json_string(*v, f.path("mode")), f.path("mode"));
    f.optional("address", network->address, json_string);
    f.optional("gateway", network->gateway, json_string);
    f.optional("host_interface", network->host_interface, json_string);
    f.finish();
    // Bridge ports are the daemon's to make, from "networks".
    if (network->mode == Network::Mode::bridge)
        throw invalid_argument("network.mode", "join a bridge through \"networks\"");
    // The API's own promise (openapi.yaml): a veth always comes with an address.
    if (network->mode == Network::Mode::veth && network->address.empty())
        throw invalid_argument("network.address", "required with \"mode\": \"veth\"");
}

// {"network": false, "user": true}: which namespaces the container gets. Default: all but user.
void apply_namespaces(const json& j, ContainerSpec* spec) {
    JsonObjectReader f(j, "namespaces");
    for (NamespaceType type :
         {NamespaceType::pid, NamespaceType::network, NamespaceType::mount, NamespaceType::ipc,
          NamespaceType::uts, NamespaceType::user, NamespaceType::cgroup}) {
        const json* v = f.get(to_string(type));
        if (!v) continue;
        bool want = json_bool(*v, f.path(to_string(type)));
        auto& list = spec->linux.namespaces;
        auto it = std::find_if(list.begin(), list.end(),
                               [&](const Namespace& ns) { return ns.type == type; });
        if (want && it == list.end()) list.push_back(Namespace{type, ""});
        if (!want && it != list.end()) list.erase(it);
    }
    f.finish();
}

IdMapping id_mapping(const json& j, const std::string& field) {
    JsonObjectReader f(j, field);
    IdMapping m;
    m.container_id = json_u32(f.required("container_id"), f.path("container_id"));
    m.host_id = json_u32(f.required("host_id"), f.path("host_id"));
    m.size = json_u32(f.required("size"), f.path("size"));
    f.finish();
    return m;
}

std::string capability_name_of(const std::string& text) {
    std::string name;
    for (char c : text)
        name.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    if (name.rfind("CAP_", 0) != 0) name = "CAP_" + name;
    return name;
}

// Docker's cap_add/cap_drop on top of the default set: drops first, then adds; "ALL" in
// either means every capability this kernel knows.
void apply_capabilities(const json* add, const json* drop, Process* process) {
    std::vector<std::string> set = default_capabilities();
    if (drop) {
        auto names = json_strings(*drop, "cap_drop");
        for (size_t i = 0; i < names.size(); ++i) {
            std::string name = capability_name_of(names[i]);
            if (name == "CAP_ALL") {
                set.clear();
                continue;
            }
            capability_from_name(name, index_path("cap_drop", i));
            std::erase(set, name);
        }
    }
    if (add) {
        auto names = json_strings(*add, "cap_add");
        for (size_t i = 0; i < names.size(); ++i) {
            std::string name = capability_name_of(names[i]);
            std::vector<std::string> more;
            if (name == "CAP_ALL") {
                for (int cap = 0; cap <= last_capability(); ++cap)
                    more.push_back(capability_name(cap));
            } else {
                capability_from_name(name, index_path("cap_add", i));
                more = {name};
            }
            for (auto& m : more)
                if (std::find(set.begin(), set.end(), m) == set.end()) set.push_back(m);
        }
    }
    Capabilities caps;
    caps.bounding = caps.effective = caps.permitted = set;
    process->capabilities = caps;
}

void apply_seccomp(const json& j, ContainerSpec* spec) {
    const char* expected = "must be \"default\", \"unconfined\" or an OCI seccomp object";
    if (j.is_string()) {
        std::string s = j.get<std::string>();
        if (s == "default") {
            spec->linux.seccomp.reset();
            spec->linux.seccomp_disabled = false;
        } else if (s == "unconfined") {
            spec->linux.seccomp_disabled = true;
        } else {
            throw invalid_argument("seccomp", expected);
        }
        return;
    }
    if (!j.is_object()) throw invalid_argument("seccomp", expected);
    spec->linux.seccomp_disabled = false;
    // truman's learning mode: "learn" alone (the default profile) or next to a profile's fields.
    json profile = j;
    if (auto learn = profile.find("learn"); learn != profile.end()) {
        if (!learn->is_boolean()) throw invalid_argument("seccomp.learn", "must be a boolean");
        spec->linux.seccomp_learn = learn->get<bool>();
        profile.erase(learn);
        if (profile.empty()) {
            spec->linux.seccomp.reset();
            return;
        }
    }
    // The object is OCI's linux.seccomp, read by the one OCI reader.
    spec->linux.seccomp = seccomp_from_json(profile, "seccomp");
}

void apply_resources(const json& j, Resources* r) {
    JsonObjectReader f(j, "resources");
    if (const json* v = f.get("memory")) r->memory.limit = json_i64(*v, f.path("memory"));
    if (const json* v = f.get("memory_swap")) r->memory.swap = json_i64(*v, f.path("memory_swap"));
    if (const json* v = f.get("cpu_shares")) r->cpu.shares = json_u64(*v, f.path("cpu_shares"));
    if (const json* v = f.get("cpu_quota")) r->cpu.quota = json_i64(*v, f.path("cpu_quota"));
    if (const json* v = f.get("cpu_period")) r->cpu.period = json_u64(*v, f.path("cpu_period"));
    f.optional("cpuset_cpus", r->cpu.cpus, json_string);
    f.optional("cpuset_mems", r->cpu.mems, json_string);
    if (const json* v = f.get("pids_limit")) r->pids.limit = json_i64(*v, f.path("pids_limit"));
    f.finish();
}

// {"type": "nofile", "soft": 1024}: either limit stands for both when the other is left out.
Rlimit rlimit(const json& j, const std::string& field) {
    JsonObjectReader f(j, field);
    Rlimit r;
    for (char c : json_string(f.required("type"), f.path("type")))
        r.type.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    if (r.type.rfind("RLIMIT_", 0) != 0) r.type = "RLIMIT_" + r.type;
    const json* soft = f.get("soft");
    const json* hard = f.get("hard");
    if (!soft && !hard) throw invalid_argument(f.path("soft"), "soft or hard required");
    if (soft) r.soft = json_u64(*soft, f.path("soft"));
    if (hard) r.hard = json_u64(*hard, f.path("hard"));
    if (!soft) r.soft = r.hard;
    if (!hard) r.hard = r.soft;
    f.finish();
    return r;
}

// The body's mount is OCI's mount, read by the one OCI reader.
Mount mount(const json& j, const std::string& field) {
    Mount m = mount_from_json(j, field);
    // A bind mount is what a user with a source and no type means; OCI spells it
    // type "bind" plus a "bind"/"rbind" option.
    if (m.type.empty() || m.type == "bind") {
        m.type = "bind";
        if (std::find(m.options.begin(), m.options.end(), "bind") == m.options.end() &&
            std::find(m.options.begin(), m.options.end(), "rbind") == m.options.end())
            m.options.push_back("rbind");
    }
    return m;
}

Device device(const json& j, const std::string& field) {
    JsonObjectReader f(j, field);
    Device d;
    d.path = json_string(f.required("path"), f.path("path"));
    f.optional("type", d.type, json_char);
    if (device_has_numbers(d.type)) {
        d.major = json_i64(f.required("major"), f.path("major"));
        d.minor = json_i64(f.required("minor"), f.path("minor"));
    }
    if (const json* v = f.get("file_mode")) d.file_mode = json_u32(*v, f.path("file_mode"));
    if (const json* v = f.get("uid")) d.uid = json_u32(*v, f.path("uid"));
    if (const json* v = f.get("gid")) d.gid = json_u32(*v, f.path("gid"));
    f.finish();
    return d;
}

void apply_devices(const json& j, Linux* linux) {
    linux->devices = json_array<Device>(j, "devices", device);
    // A device node is useless if the devices cgroup denies it: allow exactly this one.
    for (const Device& d : linux->devices)
        if (device_has_numbers(d.type))
            linux->resources.devices.push_back(
                DeviceRule{true, d.type == 'b' ? 'b' : 'c', d.major, d.minor, "rwm"});
}

}  // namespace

daemon::CreateRequest create_request_from_json(const json& body) {
    JsonObjectReader f(body, "", "body");
    daemon::CreateRequest request;

    if (const json* v = f.get("name")) {
        request.name = json_string(*v, "name");
        daemon::validate_name(*request.name);
    }
    const json* image = f.get("image");
    const json* rootfs = f.get("rootfs");
    if (image && rootfs) throw invalid_argument("image", "give either image or rootfs, not both");
    if (!image && !rootfs) throw invalid_argument("image", "image or rootfs is required");
    std::string root;
    if (image) {
        request.image = json_string(*image, "image");
        if (request.image.empty()) throw invalid_argument("image", "must not be empty");
    } else {
        root = json_string(*rootfs, "rootfs");
    }

    std::vector<std::string> cmd{"/bin/sh"};
    f.optional("cmd", cmd, json_strings);
    ContainerSpec spec = default_spec(root, cmd);
    // Like docker: without a hostname the service names the container's UTS after its short id.
    spec.hostname.clear();
    // What the body leaves out, an image's config fills in (the service applies it).
    request.chosen.args = f.get("cmd") != nullptr;
    request.chosen.cwd = f.get("cwd") != nullptr;
    request.chosen.user = f.get("user") != nullptr;
    if (const json* v = f.get("entrypoint")) request.entrypoint = json_strings(*v, "entrypoint");
    if (const json* labels = f.get("labels")) {
        if (!labels->is_object()) throw invalid_argument("labels", "must be an object");
        for (const auto& [key, value] : labels->items())
            request.labels[key] = json_string(value, "labels." + key);
    }
    // An image brings its own PATH; the body's variables go over the image's Env.
    if (image) spec.process.env.clear();

    if (const json* v = f.get("env")) apply_env(*v, &spec.process.env);
    f.optional("cwd", spec.process.cwd, json_string);
    if (const json* v = f.get("user"))
        apply_user(json_string(*v, "user"), &spec.process.user, &request.user);
    f.optional("hostname", spec.hostname, json_string);
    f.optional("read_only", spec.root.readonly, json_bool);
    if (const json* v = f.get("namespaces")) apply_namespaces(*v, &spec);
    bool network_given = false;
    if (const json* v = f.get("network")) {
        if (is_host_network(*v)) {
            std::erase_if(spec.linux.namespaces,
                          [](const Namespace& ns) { return ns.type == NamespaceType::network; });
        } else {
            apply_network(*v, &spec.network);
            network_given = true;
        }
        request.networks.emplace();  // a mode asked for: no default network
    }
    if (const json* v = f.get("networks")) {
        if (request.networks)
            throw invalid_argument("networks", "give network or networks, not both");
        request.networks = attach_requests_from_json(*v);
    }
    if (const json* v = f.get("ports")) request.ports = port_mappings_from_json(*v);
    apply_name_options(f, &request.names);
    if (!spec.has_namespace(NamespaceType::network)) {
        // Sharing the host's network: there is nothing of our own to wire.
        if (network_given && spec.network.mode != Network::Mode::none)
            throw invalid_argument("network", "needs the network namespace (namespaces.network)");
        spec.network.mode = Network::Mode::none;
        if (!request.networks) request.networks.emplace();
    }
    if (const json* v = f.get("uid_mappings"))
        spec.linux.uid_mappings = json_array<IdMapping>(*v, "uid_mappings", id_mapping);
    if (const json* v = f.get("gid_mappings"))
        spec.linux.gid_mappings = json_array<IdMapping>(*v, "gid_mappings", id_mapping);
    const json* cap_add = f.get("cap_add");
    const json* cap_drop = f.get("cap_drop");
    if (cap_add || cap_drop) apply_capabilities(cap_add, cap_drop, &spec.process);
    f.optional("no_new_privileges", spec.process.no_new_privileges, json_bool);
    if (const json* v = f.get("resources")) apply_resources(*v, &spec.linux.resources);
    if (const json* v = f.get("rlimits"))
        spec.process.rlimits = json_array<Rlimit>(*v, "rlimits", rlimit);
    if (const json* v = f.get("mounts")) spec.mounts = json_array<Mount>(*v, "mounts", mount);
    if (const json* v = f.get("devices")) apply_devices(*v, &spec.linux);
    if (const json* v = f.get("seccomp")) apply_seccomp(*v, &spec);
    f.optional("open_stdin", request.open_stdin, json_bool);
    f.optional("stdin_once", request.stdin_once, json_bool);
    f.optional("tty", request.tty, json_bool);
    f.finish();
    // The values are the service's to judge: it validates the spec once, when it is complete
    // (with the image's root in place), and the create handler names its errors in our terms.
    request.spec = std::move(spec);
    return request;
}

json to_json(const daemon::ContainerState& s) {
    json j{{"status", daemon::to_string(s.status)},
           {"pid", s.pid},
           {"exit_code", nullptr},
           {"signal", s.signal},
           {"oom_killed", s.oom_killed},
           {"started_at", s.started_at},
           {"finished_at", s.finished_at}};
    if (s.exit_code) j["exit_code"] = *s.exit_code;
    return j;
}

json to_json(const daemon::ContainerInfo& info) {
    return json{{"id", info.id},
                {"name", info.name},
                {"image", info.image},
                {"rootfs", info.rootfs},
                {"cmd", info.cmd},
                {"created_at", info.created_at},
                {"state", to_json(info.state)},
                {"networks", to_json(info.networks)},
                {"ports", to_json(info.ports)},
                {"seccomp_denied", info.seccomp_denied},
                {"seccomp_denials", info.seccomp_denials},
                {"labels", info.labels},
                {"exposed_ports", info.exposed_ports},
                {"stop_signal", info.stop_signal}};
}

json to_json(const daemon::Event& e) {
    json j{{"time", e.time}, {"type", e.type}, {"id", e.id}, {"name", e.name}};
    if (e.exit_code) j["exit_code"] = *e.exit_code;
    if (e.type == "seccomp") {
        j["syscall"] = e.syscall;
        j["pid"] = e.pid;
        j["errno"] = e.error.empty() ? json(nullptr) : json(e.error);
        j["suppressed"] = e.suppressed;
    }
    return j;
}

json to_json(const daemon::DaemonInfo& info) {
    return json{{"kernel", info.kernel},
                {"cgroup_mode", info.cgroup_mode},
                {"containers",
                 {{"created", info.created}, {"running", info.running}, {"exited", info.exited}}},
                {"pending_cleanup", info.pending_cleanup}};
}

json to_json(const daemon::LogLine& line) {
    return json{{"stream", line.stream}, {"time", line.time}, {"log", line.text}};
}

json to_json(const daemon::SeccompRecord& r) {
    if (r.dropped > 0)
        return json{
            {"time", r.time}, {"dropped", r.dropped}, {"dropped_by_syscall", r.dropped_by_syscall}};
    json j{{"time", r.time},       {"pid", r.pid},  {"host_pid", r.host_pid}, {"comm", r.comm},
           {"syscall", r.syscall}, {"nr", r.nr},    {"arch", r.arch},         {"action", r.action},
           {"errno", nullptr},     {"args", r.args}};
    if (!r.error.empty()) j["errno"] = r.error;
    return j;
}

int parse_signal(const std::string& text) {
    if (auto number = parse_signal_name(text)) return *number;
    throw invalid_argument("signal", unknown_signal_reason(text));
}

bool parse_bool_param(const std::string& name, const std::string& value) {
    if (value == "1" || value == "true" || value == "yes" || value.empty()) return true;
    if (value == "0" || value == "false" || value == "no") return false;
    throw invalid_argument(name, "must be true or false, not \"" + value + "\"");
}

long long parse_int_param(const std::string& name, const std::string& value, long long min,
                          long long max) {
    bool negative = !value.empty() && value[0] == '-';
    std::string digits = negative ? value.substr(1) : value;
    if (digits.empty() || digits.size() > 18 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
        throw invalid_argument(name, "must be an integer, not \"" + value + "\"");
    long long v = std::stoll(digits) * (negative ? -1 : 1);
    if (v < min || v > max)
        throw invalid_argument(
            name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return v;
}

daemon::ExecRequest exec_request_from_json(const json& body) {
    JsonObjectReader f(body, "", "body");
    daemon::ExecRequest request;
    request.cmd = json_strings(f.required("cmd"), "cmd");
    f.optional("env", request.env, json_strings);
    if (const json* v = f.get("cwd")) request.cwd = json_string(*v, "cwd");
    if (const json* v = f.get("user")) {
        // An exec's user is numeric for now: names resolve through the image's /etc/passwd,
        // which the service does only for a create.
        User user;
        std::string named;
        apply_user(json_string(*v, "user"), &user, &named);
        if (!named.empty() && named.find_first_not_of("0123456789:") != std::string::npos)
            throw invalid_argument("user", "must be \"uid\" or \"uid:gid\" for an exec");
        request.user = user;
    }
    f.optional("tty", request.tty, json_bool);
    f.optional("stdin", request.attach_stdin, json_bool);
    f.finish();
    return request;
}

bool exec_detach_from_json(const json& body) {
    if (body.is_null()) return false;
    JsonObjectReader f(body, "", "body");
    bool detach = false;
    f.optional("detach", detach, json_bool);
    f.finish();
    return detach;
}

json to_json(const daemon::ExecInfo& info) {
    json j{{"id", info.id},        {"container_id", info.container_id},
           {"cmd", info.cmd},      {"running", info.running},
           {"pid", info.pid},      {"exit_code", nullptr},
           {"signal", info.signal}};
    if (info.exit_code) j["exit_code"] = *info.exit_code;
    return j;
}

json to_json(const daemon::ImageInfo& image) {
    return json{{"id", image.id},
                {"manifest_digest", image.manifest_digest},
                {"tags", image.tags},
                {"repo_digests", image.repo_digests},
                {"created", image.created},
                {"size", image.size},
                {"layers", image.layers},
                {"diff_ids", image.diff_ids},
                {"os", image.os},
                {"architecture", image.architecture},
                {"variant", image.variant},
                {"entrypoint", image.entrypoint},
                {"cmd", image.cmd},
                {"env", image.env},
                {"working_dir", image.working_dir},
                {"user", image.user},
                {"stop_signal", image.stop_signal},
                {"exposed_ports", image.exposed_ports},
                {"labels", image.labels}};
}

daemon::LoginRequest login_request_from_json(const json& body) {
    JsonObjectReader f(body, "", "body");
    daemon::LoginRequest r;
    r.registry = json_string(f.required("registry"), "registry");
    r.username = json_string(f.required("username"), "username");
    r.password = json_string(f.required("password"), "password");
    f.finish();
    return r;
}

json to_json(const daemon::PullProgressEvent& event) {
    return json{{"layer", event.layer},
                {"status", event.status},
                {"done", event.done},
                {"total", event.total}};
}

}  // namespace truman::api
