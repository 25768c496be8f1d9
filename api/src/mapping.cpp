#include "truman/api/mapping.hpp"

#include <csignal>
#include <cstring>
#include <limits>
#include <set>

#include "truman/capabilities.hpp"
#include "truman/daemon/container_name.hpp"
#include "truman/error.hpp"
#include "truman/signal_names.hpp"
#include "truman/spec.hpp"

namespace truman::api {

using nlohmann::json;

namespace {

std::string join(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : prefix + "." + key;
}

std::string index(const std::string& field, size_t i) {
    return field + "[" + std::to_string(i) + "]";
}

// One JSON object of the request: hands out its members by name and, at the end, rejects any
// member nobody asked for, so a typo ("memroy") is an error instead of a silent default.
class Fields {
  public:
    Fields(const json& object, std::string prefix) : object_(object), prefix_(std::move(prefix)) {
        if (!object_.is_object())
            throw invalid_argument(prefix_.empty() ? "body" : prefix_, "must be a JSON object");
    }

    // nullptr when absent or null: null means "the default", as if the field were left out.
    const json* get(const std::string& key) {
        seen_.insert(key);
        auto it = object_.find(key);
        if (it == object_.end() || it->is_null()) return nullptr;
        return &*it;
    }
    std::string field(const std::string& key) const { return join(prefix_, key); }

    void reject_unknown() const {
        for (auto it = object_.begin(); it != object_.end(); ++it)
            if (!seen_.count(it.key())) throw invalid_argument(field(it.key()), "unknown field");
    }

  private:
    const json& object_;
    std::string prefix_;
    std::set<std::string> seen_;
};

std::string as_string(const json& j, const std::string& field) {
    if (!j.is_string()) throw invalid_argument(field, "must be a string");
    return j.get<std::string>();
}

bool as_bool(const json& j, const std::string& field) {
    if (!j.is_boolean()) throw invalid_argument(field, "must be a boolean");
    return j.get<bool>();
}

int64_t as_int(const json& j, const std::string& field, int64_t min,
               int64_t max = std::numeric_limits<int64_t>::max()) {
    int64_t v;
    if (j.is_number_unsigned()) {
        uint64_t u = j.get<uint64_t>();
        if (u > static_cast<uint64_t>(max))
            throw invalid_argument(field, "must be at most " + std::to_string(max));
        v = static_cast<int64_t>(u);
    } else if (j.is_number_integer()) {
        v = j.get<int64_t>();
    } else {
        throw invalid_argument(field, "must be an integer");
    }
    if (v < min) throw invalid_argument(field, "must be at least " + std::to_string(min));
    if (v > max) throw invalid_argument(field, "must be at most " + std::to_string(max));
    return v;
}

uint32_t as_u32(const json& j, const std::string& field) {
    return static_cast<uint32_t>(as_int(j, field, 0, std::numeric_limits<uint32_t>::max()));
}

const json& as_array(const json& j, const std::string& field) {
    if (!j.is_array()) throw invalid_argument(field, "must be an array");
    return j;
}

std::vector<std::string> as_strings(const json& j, const std::string& field) {
    std::vector<std::string> out;
    const json& a = as_array(j, field);
    for (size_t i = 0; i < a.size(); ++i) out.push_back(as_string(a[i], index(field, i)));
    return out;
}

std::string absolute_path(const json& j, const std::string& field) {
    std::string s = as_string(j, field);
    if (s.empty() || s[0] != '/') throw invalid_argument(field, "must be an absolute path");
    // "/tmp/../etc" is /etc: a path that climbs out of where it appears to point is a
    // traversal attempt or a mistake, and a clear error beats silently resolving it.
    if (("/" + s + "/").find("/../") != std::string::npos)
        throw invalid_argument(field, "must not contain \"..\" components");
    return s;
}

uint32_t parse_id(const std::string& text, const std::string& field) {
    if (text.empty() || text.size() > 10 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        throw invalid_argument(field, "must be \"uid\" or \"uid:gid\" with numeric ids");
    unsigned long long v = std::stoull(text);
    if (v > std::numeric_limits<uint32_t>::max() - 1ULL)  // (uid_t)-1 means "unchanged"
        throw invalid_argument(field, "id out of range");
    return static_cast<uint32_t>(v);
}

void apply_user(const std::string& text, User* user) {
    size_t colon = text.find(':');
    user->uid = parse_id(text.substr(0, colon), "user");
    user->gid = colon == std::string::npos ? 0 : parse_id(text.substr(colon + 1), "user");
}

void apply_env(const json& j, std::vector<std::string>* env) {
    auto vars = as_strings(j, "env");
    for (size_t i = 0; i < vars.size(); ++i) {
        const std::string& var = vars[i];
        size_t eq = var.find('=');
        if (eq == std::string::npos || eq == 0)
            throw invalid_argument(index("env", i), "must be \"KEY=value\"");
        if (var.find('\0') != std::string::npos)
            throw invalid_argument(index("env", i), "must not contain NUL");
        std::string key = var.substr(0, eq + 1);
        bool replaced = false;
        for (std::string& existing : *env)
            if (existing.compare(0, key.size(), key) == 0) {
                existing = var;
                replaced = true;
            }
        if (!replaced) env->push_back(var);
    }
}

void apply_network(const json& j, Network* network) {
    if (j.is_string()) {  // shorthand: "network": "none"
        return apply_network(json{{"mode", j}}, network);
    }
    Fields f(j, "network");
    if (const json* v = f.get("mode")) {
        std::string mode = as_string(*v, f.field("mode"));
        if (mode == "none")
            network->mode = Network::Mode::none;
        else if (mode == "loopback")
            network->mode = Network::Mode::loopback;
        else if (mode == "veth")
            network->mode = Network::Mode::veth;
        else
            throw invalid_argument(f.field("mode"), "must be \"none\", \"loopback\" or \"veth\"");
    }
    if (const json* v = f.get("address")) network->address = as_string(*v, f.field("address"));
    if (const json* v = f.get("gateway")) network->gateway = as_string(*v, f.field("gateway"));
    if (const json* v = f.get("host_interface"))
        network->host_interface = as_string(*v, f.field("host_interface"));
    f.reject_unknown();
    if (network->mode != Network::Mode::veth &&
        (!network->address.empty() || !network->gateway.empty() ||
         !network->host_interface.empty()))
        throw invalid_argument("network.address", "only with \"mode\": \"veth\"");
    if (network->mode == Network::Mode::veth && network->address.empty())
        throw invalid_argument("network.address", "required with \"mode\": \"veth\"");
}

// {"network": false, "user": true}: which namespaces the container gets. Default: all but user.
void apply_namespaces(const json& j, ContainerSpec* spec) {
    Fields f(j, "namespaces");
    for (NamespaceType type :
         {NamespaceType::pid, NamespaceType::network, NamespaceType::mount, NamespaceType::ipc,
          NamespaceType::uts, NamespaceType::user, NamespaceType::cgroup}) {
        const json* v = f.get(to_string(type));
        if (!v) continue;
        bool want = as_bool(*v, f.field(to_string(type)));
        auto& list = spec->linux.namespaces;
        auto it = std::find_if(list.begin(), list.end(),
                               [&](const Namespace& ns) { return ns.type == type; });
        if (want && it == list.end()) list.push_back(Namespace{type, ""});
        if (!want && it != list.end()) list.erase(it);
    }
    f.reject_unknown();
}

std::vector<IdMapping> id_mappings(const json& j, const std::string& field) {
    std::vector<IdMapping> out;
    const json& a = as_array(j, field);
    for (size_t i = 0; i < a.size(); ++i) {
        Fields f(a[i], index(field, i));
        IdMapping m;
        const json* c = f.get("container_id");
        const json* h = f.get("host_id");
        const json* s = f.get("size");
        if (!c || !h || !s)
            throw invalid_argument(index(field, i), "needs container_id, host_id and size");
        m.container_id = as_u32(*c, f.field("container_id"));
        m.host_id = as_u32(*h, f.field("host_id"));
        m.size = as_u32(*s, f.field("size"));
        f.reject_unknown();
        out.push_back(m);
    }
    return out;
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
    auto all = [] {
        std::vector<std::string> v;
        for (int cap = 0; cap <= last_capability(); ++cap) v.push_back(capability_name(cap));
        return v;
    };
    if (drop) {
        auto names = as_strings(*drop, "cap_drop");
        for (size_t i = 0; i < names.size(); ++i) {
            if (capability_name_of(names[i]) == "CAP_ALL") {
                set.clear();
                continue;
            }
            std::string name = capability_name_of(names[i]);
            try {
                capability_from_name(name);
            } catch (const Error& e) {
                throw invalid_argument(index("cap_drop", i), e.what());
            }
            std::erase(set, name);
        }
    }
    if (add) {
        auto names = as_strings(*add, "cap_add");
        for (size_t i = 0; i < names.size(); ++i) {
            std::string name = capability_name_of(names[i]);
            std::vector<std::string> more;
            if (name == "CAP_ALL") {
                more = all();
            } else {
                try {
                    capability_from_name(name);
                } catch (const Error& e) {
                    throw invalid_argument(index("cap_add", i), e.what());
                }
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
    if (j.is_string()) {
        std::string s = j.get<std::string>();
        if (s == "default") {
            spec->linux.seccomp.reset();
            spec->linux.seccomp_disabled = false;
        } else if (s == "unconfined") {
            spec->linux.seccomp_disabled = true;
        } else {
            throw invalid_argument("seccomp",
                                   "must be \"default\", \"unconfined\" or an OCI "
                                   "seccomp object");
        }
        return;
    }
    if (!j.is_object())
        throw invalid_argument("seccomp",
                               "must be \"default\", \"unconfined\" or an OCI "
                               "seccomp object");
    // The OCI profile has one parser, spec_from_json's: run it on a document holding just
    // this spec with the profile in place, and keep its messages (they name the OCI field).
    try {
        json doc = spec_to_json(*spec);
        doc["linux"]["seccomp"] = j;
        spec->linux.seccomp = spec_from_json(doc).linux.seccomp;
        spec->linux.seccomp_disabled = false;
    } catch (const Error& e) {
        throw Error(e.kind(), e.err(), std::string("seccomp: ") + e.what());
    }
}

void apply_resources(const json& j, Resources* r) {
    Fields f(j, "resources");
    if (const json* v = f.get("memory")) r->memory.limit = as_int(*v, f.field("memory"), 0);
    if (const json* v = f.get("memory_swap"))
        r->memory.swap = as_int(*v, f.field("memory_swap"), -1);
    if (const json* v = f.get("cpu_shares"))
        r->cpu.shares = static_cast<uint64_t>(as_int(*v, f.field("cpu_shares"), 0));
    if (const json* v = f.get("cpu_quota")) r->cpu.quota = as_int(*v, f.field("cpu_quota"), -1);
    if (const json* v = f.get("cpu_period"))
        r->cpu.period = static_cast<uint64_t>(as_int(*v, f.field("cpu_period"), 0));
    if (const json* v = f.get("cpuset_cpus")) r->cpu.cpus = as_string(*v, f.field("cpuset_cpus"));
    if (const json* v = f.get("cpuset_mems")) r->cpu.mems = as_string(*v, f.field("cpuset_mems"));
    if (const json* v = f.get("pids_limit")) r->pids.limit = as_int(*v, f.field("pids_limit"), -1);
    f.reject_unknown();
}

std::vector<Rlimit> rlimits(const json& j) {
    std::vector<Rlimit> out;
    const json& a = as_array(j, "rlimits");
    for (size_t i = 0; i < a.size(); ++i) {
        Fields f(a[i], index("rlimits", i));
        Rlimit r;
        const json* type = f.get("type");
        if (!type) throw invalid_argument(f.field("type"), "required");
        for (char c : as_string(*type, f.field("type")))
            r.type.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
        if (r.type.rfind("RLIMIT_", 0) != 0) r.type = "RLIMIT_" + r.type;
        const json* soft = f.get("soft");
        const json* hard = f.get("hard");
        if (!soft && !hard) throw invalid_argument(f.field("soft"), "soft or hard required");
        int64_t max = std::numeric_limits<int64_t>::max();
        if (soft) r.soft = static_cast<uint64_t>(as_int(*soft, f.field("soft"), 0, max));
        if (hard) r.hard = static_cast<uint64_t>(as_int(*hard, f.field("hard"), 0, max));
        if (!soft) r.soft = r.hard;
        if (!hard) r.hard = r.soft;
        f.reject_unknown();
        out.push_back(r);
    }
    return out;
}

std::vector<Mount> mounts(const json& j) {
    std::vector<Mount> out;
    const json& a = as_array(j, "mounts");
    for (size_t i = 0; i < a.size(); ++i) {
        Fields f(a[i], index("mounts", i));
        Mount m;
        const json* dest = f.get("destination");
        if (!dest) throw invalid_argument(f.field("destination"), "required");
        m.destination = absolute_path(*dest, f.field("destination"));
        if (const json* v = f.get("source")) m.source = as_string(*v, f.field("source"));
        if (const json* v = f.get("type")) m.type = as_string(*v, f.field("type"));
        if (const json* v = f.get("options")) m.options = as_strings(*v, f.field("options"));
        f.reject_unknown();
        // A bind mount is what a user with a source and no type means; OCI spells it
        // type "bind" plus a "bind"/"rbind" option.
        if (m.type.empty() || m.type == "bind") {
            if (m.source.empty() || m.source[0] != '/')
                throw invalid_argument(f.field("source"), "a bind mount needs an absolute source");
            m.type = "bind";
            if (std::find(m.options.begin(), m.options.end(), "bind") == m.options.end() &&
                std::find(m.options.begin(), m.options.end(), "rbind") == m.options.end())
                m.options.push_back("rbind");
        }
        out.push_back(std::move(m));
    }
    return out;
}

void apply_devices(const json& j, Linux* linux) {
    const json& a = as_array(j, "devices");
    for (size_t i = 0; i < a.size(); ++i) {
        Fields f(a[i], index("devices", i));
        Device d;
        const json* path = f.get("path");
        if (!path) throw invalid_argument(f.field("path"), "required");
        d.path = absolute_path(*path, f.field("path"));
        if (const json* v = f.get("type")) {
            std::string t = as_string(*v, f.field("type"));
            if (t != "c" && t != "b" && t != "u" && t != "p")
                throw invalid_argument(f.field("type"), "must be \"c\", \"b\", \"u\" or \"p\"");
            d.type = t[0];
        }
        const json* major = f.get("major");
        const json* minor = f.get("minor");
        if (d.type != 'p' && (!major || !minor))
            throw invalid_argument(index("devices", i), "major and minor are required");
        if (major) d.major = as_int(*major, f.field("major"), 0, 0xfffff);
        if (minor) d.minor = as_int(*minor, f.field("minor"), 0, 0xfffff);
        if (const json* v = f.get("file_mode"))
            d.file_mode = static_cast<uint32_t>(as_int(*v, f.field("file_mode"), 0, 07777));
        if (const json* v = f.get("uid")) d.uid = as_u32(*v, f.field("uid"));
        if (const json* v = f.get("gid")) d.gid = as_u32(*v, f.field("gid"));
        f.reject_unknown();
        // A device node is useless if the devices cgroup denies it: allow exactly this one.
        if (d.type != 'p')
            linux->resources.devices.push_back(
                DeviceRule{true, d.type == 'b' ? 'b' : 'c', d.major, d.minor, "rwm"});
        linux->devices.push_back(std::move(d));
    }
}

}  // namespace

daemon::CreateRequest create_request_from_json(const json& body) {
    Fields f(body, "");
    daemon::CreateRequest request;

    if (const json* v = f.get("name")) {
        request.name = as_string(*v, "name");
        daemon::validate_name(*request.name);
    }
    const json* image = f.get("image");
    const json* rootfs = f.get("rootfs");
    if (image && rootfs) throw invalid_argument("image", "give either image or rootfs, not both");
    if (!image && !rootfs) throw invalid_argument("image", "image or rootfs is required");
    std::string root;
    if (image) {
        request.image = as_string(*image, "image");
        if (request.image.empty()) throw invalid_argument("image", "must not be empty");
    } else {
        root = absolute_path(*rootfs, "rootfs");
    }

    std::vector<std::string> cmd{"/bin/sh"};
    if (const json* v = f.get("cmd")) {
        cmd = as_strings(*v, "cmd");
        if (cmd.empty()) throw invalid_argument("cmd", "must not be empty");
    }
    ContainerSpec spec = default_spec(root, cmd);
    // Like docker: without a hostname the service names the container's UTS after its short id.
    spec.hostname.clear();

    if (const json* v = f.get("env")) apply_env(*v, &spec.process.env);
    if (const json* v = f.get("cwd")) spec.process.cwd = absolute_path(*v, "cwd");
    if (const json* v = f.get("user")) apply_user(as_string(*v, "user"), &spec.process.user);
    if (const json* v = f.get("hostname")) spec.hostname = as_string(*v, "hostname");
    if (const json* v = f.get("read_only")) spec.root.readonly = as_bool(*v, "read_only");
    if (const json* v = f.get("namespaces")) apply_namespaces(*v, &spec);
    bool network_given = false;
    if (const json* v = f.get("network")) {
        apply_network(*v, &spec.network);
        network_given = true;
    }
    if (!spec.has_namespace(NamespaceType::network)) {
        // Sharing the host's network: there is nothing of our own to wire.
        if (network_given && spec.network.mode != Network::Mode::none)
            throw invalid_argument("network", "needs the network namespace (namespaces.network)");
        spec.network.mode = Network::Mode::none;
    }
    if (const json* v = f.get("uid_mappings"))
        spec.linux.uid_mappings = id_mappings(*v, "uid_mappings");
    if (const json* v = f.get("gid_mappings"))
        spec.linux.gid_mappings = id_mappings(*v, "gid_mappings");
    const json* cap_add = f.get("cap_add");
    const json* cap_drop = f.get("cap_drop");
    if (cap_add || cap_drop) apply_capabilities(cap_add, cap_drop, &spec.process);
    if (const json* v = f.get("no_new_privileges"))
        spec.process.no_new_privileges = as_bool(*v, "no_new_privileges");
    if (const json* v = f.get("resources")) apply_resources(*v, &spec.linux.resources);
    if (const json* v = f.get("rlimits")) spec.process.rlimits = rlimits(*v);
    if (const json* v = f.get("mounts")) spec.mounts = mounts(*v);
    if (const json* v = f.get("devices")) apply_devices(*v, &spec.linux);
    if (const json* v = f.get("seccomp")) apply_seccomp(*v, &spec);  // last: sees the final spec
    f.reject_unknown();

    if (image) {
        // The service puts the image's root in place; validate everything else against a
        // stand-in root so errors still come back before anything is created.
        ContainerSpec check = spec;
        check.root.path = "/";
        validate(check);
    } else {
        validate(spec);
    }
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
                {"state", to_json(info.state)}};
}

json to_json(const daemon::Event& e) {
    json j{{"time", e.time}, {"type", e.type}, {"id", e.id}, {"name", e.name}};
    if (e.exit_code) j["exit_code"] = *e.exit_code;
    return j;
}

json to_json(const daemon::DaemonInfo& info) {
    return json{{"kernel", info.kernel},
                {"cgroup_mode", info.cgroup_mode},
                {"containers",
                 {{"created", info.created}, {"running", info.running}, {"exited", info.exited}}}};
}

json to_json(const daemon::LogLine& line) {
    return json{{"stream", line.stream}, {"time", line.time}, {"log", line.text}};
}

int parse_signal(const std::string& text) {
    if (auto number = parse_signal_name(text)) return *number;
    throw invalid_argument("signal", "unknown signal \"" + text +
                                         "\" (a name like TERM or SIGKILL, or 1-" +
                                         std::to_string(SIGRTMAX) + ")");
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

}  // namespace truman::api
