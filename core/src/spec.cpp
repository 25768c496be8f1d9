// OCI config.json <-> ContainerSpec, and the checks that run before any process exists.
//
// The parser is strict on purpose: a config.json field truman does not implement would
// otherwise be silently dropped and the container would run with less isolation (or different
// behaviour) than its author asked for. Every object is read through ObjectReader, which
// remembers the keys it consumed and rejects the rest by their full path.
#include "truman/spec.hpp"

#include <arpa/inet.h>
#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "truman/error.hpp"
#include "truman/mounts.hpp"

namespace truman {

using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// Reading JSON values with their path, so every error names the field.

std::string child_path(const std::string& parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    return parent + "." + std::string(key);
}

std::string index_path(const std::string& parent, size_t index) {
    return parent + "[" + std::to_string(index) + "]";
}

Error unsupported_field(const std::string& path, const std::string& why = "") {
    return make_error(ErrorKind::unsupported,
                      path + ": not supported by truman" + (why.empty() ? "" : " (" + why + ")"));
}

// An unsupported OCI field is harmless when its value asks for nothing: configs written by
// other tools often carry `"terminal": false`, `"sysctl": {}` or nulls for unset fields.
bool asks_for_nothing(const json& v) {
    if (v.is_null()) return true;
    if (v.is_boolean()) return !v.get<bool>();
    if (v.is_string()) return v.get_ref<const std::string&>().empty();
    if (v.is_object() || v.is_array()) return v.empty();
    return false;
}

std::string read_string(const json& v, const std::string& path) {
    if (!v.is_string()) throw invalid_argument(path, "must be a string");
    return v.get<std::string>();
}

bool read_bool(const json& v, const std::string& path) {
    if (!v.is_boolean()) throw invalid_argument(path, "must be a boolean");
    return v.get<bool>();
}

// nlohmann stores non-negative integers as unsigned and negative ones as signed; floats
// (even 1.0) are rejected like Go's encoding/json rejects them for integer fields.
uint64_t read_u64(const json& v, const std::string& path) {
    if (!v.is_number_integer()) throw invalid_argument(path, "must be an integer");
    if (!v.is_number_unsigned()) throw invalid_argument(path, "must not be negative");
    return v.get<uint64_t>();
}

int64_t read_i64(const json& v, const std::string& path) {
    if (!v.is_number_integer()) throw invalid_argument(path, "must be an integer");
    if (v.is_number_unsigned() &&
        v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw invalid_argument(path, "must be at most 9223372036854775807");
    }
    return v.get<int64_t>();
}

uint32_t read_u32(const json& v, const std::string& path) {
    uint64_t value = read_u64(v, path);
    if (value > std::numeric_limits<uint32_t>::max()) {
        throw invalid_argument(path, "must be at most 4294967295");
    }
    return static_cast<uint32_t>(value);
}

char read_char(const json& v, const std::string& path) {
    std::string s = read_string(v, path);
    if (s.size() != 1) throw invalid_argument(path, "must be a single character");
    return s[0];
}

template <typename T, typename ReadElement>
std::vector<T> read_array(const json& v, const std::string& path, ReadElement read_element) {
    if (!v.is_array()) throw invalid_argument(path, "must be an array");
    std::vector<T> out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) out.push_back(read_element(v[i], index_path(path, i)));
    return out;
}

std::vector<std::string> read_strings(const json& v, const std::string& path) {
    return read_array<std::string>(v, path, read_string);
}

// One JSON object being read: hands out its fields by name and, in finish(), rejects every key
// nobody asked for. JSON null counts as absent, like Go's omitempty fields.
class ObjectReader {
  public:
    ObjectReader(const json& v, std::string path) : object_(v), path_(std::move(path)) {
        if (!v.is_object()) {
            throw invalid_argument(path_.empty() ? "config" : path_, "must be an object");
        }
    }

    std::string path(std::string_view key) const { return child_path(path_, key); }

    // The field's value, or nullptr when it is absent or null.
    const json* get(std::string_view key) {
        seen_.insert(std::string(key));
        auto it = object_.find(key);
        if (it == object_.end() || it->is_null()) return nullptr;
        return &*it;
    }

    const json& required(std::string_view key) {
        const json* v = get(key);
        if (v == nullptr) throw invalid_argument(path(key), "is required");
        return *v;
    }

    // Read key with `read` into `out` when present; otherwise out keeps its default.
    template <typename T, typename Read>
    void optional(std::string_view key, T& out, Read read) {
        if (const json* v = get(key)) out = read(*v, path(key));
    }

    // OCI fields truman does not implement: an error unless the value asks for nothing.
    void unsupported(std::initializer_list<std::string_view> keys, const std::string& why = "") {
        for (std::string_view key : keys) {
            const json* v = get(key);
            if (v != nullptr && !asks_for_nothing(*v)) throw unsupported_field(path(key), why);
        }
    }

    // Metadata truman accepts and does not act on.
    void ignore(std::string_view key) { seen_.insert(std::string(key)); }

    void finish() const {
        for (auto it = object_.begin(); it != object_.end(); ++it) {
            if (seen_.count(it.key()) == 0) throw invalid_argument(path(it.key()), "unknown field");
        }
    }

  private:
    const json& object_;
    std::string path_;
    std::set<std::string, std::less<>> seen_;
};

// ---------------------------------------------------------------------------------------------
// config.json -> ContainerSpec, one function per OCI object.

User parse_user(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    User user;
    o.optional("uid", user.uid, read_u32);
    o.optional("gid", user.gid, read_u32);
    if (const json* gids = o.get("additionalGids")) {
        user.additional_gids = read_array<uint32_t>(*gids, o.path("additionalGids"), read_u32);
    }
    if (const json* umask = o.get("umask")) user.umask = read_u32(*umask, o.path("umask"));
    o.unsupported({"username"}, "Windows only");
    o.finish();
    return user;
}

Capabilities parse_capabilities(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    Capabilities caps;
    o.optional("bounding", caps.bounding, read_strings);
    o.optional("effective", caps.effective, read_strings);
    o.optional("permitted", caps.permitted, read_strings);
    o.optional("inheritable", caps.inheritable, read_strings);
    o.optional("ambient", caps.ambient, read_strings);
    o.finish();
    return caps;
}

Rlimit parse_rlimit(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    Rlimit limit;
    limit.type = read_string(o.required("type"), o.path("type"));
    limit.hard = read_u64(o.required("hard"), o.path("hard"));
    limit.soft = read_u64(o.required("soft"), o.path("soft"));
    o.finish();
    return limit;
}

Process parse_process(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    Process process;
    o.optional("args", process.args, read_strings);
    o.optional("env", process.env, read_strings);
    o.optional("cwd", process.cwd, read_string);
    if (const json* user = o.get("user")) process.user = parse_user(*user, o.path("user"));
    if (const json* caps = o.get("capabilities")) {
        process.capabilities = parse_capabilities(*caps, o.path("capabilities"));
    }
    o.optional("noNewPrivileges", process.no_new_privileges, read_bool);
    if (const json* rlimits = o.get("rlimits")) {
        process.rlimits = read_array<Rlimit>(*rlimits, o.path("rlimits"), parse_rlimit);
    }
    if (const json* terminal = o.get("terminal")) {
        if (read_bool(*terminal, o.path("terminal"))) {
            throw unsupported_field(o.path("terminal"), "truman attaches stdio and logs instead");
        }
    }
    o.unsupported({"consoleSize", "apparmorProfile", "selinuxLabel", "oomScoreAdj", "scheduler",
                   "ioPriority", "execCPUAffinity", "commandLine"});
    o.finish();
    return process;
}

Overlay parse_overlay(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    Overlay overlay;
    overlay.lower = read_string(o.required("lowerdir"), o.path("lowerdir"));
    overlay.upper = read_string(o.required("upperdir"), o.path("upperdir"));
    overlay.work = read_string(o.required("workdir"), o.path("workdir"));
    o.finish();
    return overlay;
}

Root parse_root(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    Root root;
    o.optional("path", root.path, read_string);
    o.optional("readonly", root.readonly, read_bool);
    if (const json* overlay = o.get("overlay")) {
        root.overlay = parse_overlay(*overlay, o.path("overlay"));
    }
    o.finish();
    return root;
}

Mount parse_mount(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    Mount mount;
    mount.destination = read_string(o.required("destination"), o.path("destination"));
    o.optional("type", mount.type, read_string);
    o.optional("source", mount.source, read_string);
    o.optional("options", mount.options, read_strings);
    o.unsupported({"uidMappings", "gidMappings"}, "id-mapped mounts");
    o.finish();
    return mount;
}

Namespace parse_namespace(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    std::string type_path = o.path("type");
    std::string name = read_string(o.required("type"), type_path);
    std::optional<NamespaceType> type = namespace_type_from_string(name);
    if (!type) {
        if (name == "time") throw unsupported_field(type_path, "time namespaces");
        throw invalid_argument(type_path, "unknown namespace type \"" + name + "\"");
    }
    Namespace ns{*type, ""};
    o.optional("path", ns.path, read_string);
    o.finish();
    return ns;
}

IdMapping parse_id_mapping(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    IdMapping mapping;
    mapping.container_id = read_u32(o.required("containerID"), o.path("containerID"));
    mapping.host_id = read_u32(o.required("hostID"), o.path("hostID"));
    mapping.size = read_u32(o.required("size"), o.path("size"));
    o.finish();
    return mapping;
}

// OCI and runc use -1 (and Docker null) for "any major/minor".
std::optional<int64_t> read_device_number(const json& v, const std::string& path) {
    int64_t number = read_i64(v, path);
    if (number == -1) return std::nullopt;
    return number;
}

DeviceRule parse_device_rule(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    DeviceRule rule;
    rule.allow = read_bool(o.required("allow"), o.path("allow"));
    o.optional("type", rule.type, read_char);
    o.optional("major", rule.major, read_device_number);
    o.optional("minor", rule.minor, read_device_number);
    o.optional("access", rule.access, read_string);
    o.finish();
    return rule;
}

Resources parse_resources(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    Resources resources;
    if (const json* memory = o.get("memory")) {
        ObjectReader m(*memory, o.path("memory"));
        if (const json* limit = m.get("limit")) {
            resources.memory.limit = read_i64(*limit, m.path("limit"));
        }
        if (const json* swap = m.get("swap"))
            resources.memory.swap = read_i64(*swap, m.path("swap"));
        m.unsupported({"reservation", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
                       "useHierarchy", "checkBeforeUpdate"});
        m.finish();
    }
    if (const json* cpu = o.get("cpu")) {
        ObjectReader c(*cpu, o.path("cpu"));
        if (const json* shares = c.get("shares")) {
            resources.cpu.shares = read_u64(*shares, c.path("shares"));
        }
        if (const json* quota = c.get("quota"))
            resources.cpu.quota = read_i64(*quota, c.path("quota"));
        if (const json* period = c.get("period")) {
            resources.cpu.period = read_u64(*period, c.path("period"));
        }
        c.optional("cpus", resources.cpu.cpus, read_string);
        c.optional("mems", resources.cpu.mems, read_string);
        c.unsupported({"burst", "realtimeRuntime", "realtimePeriod", "idle"});
        c.finish();
    }
    if (const json* pids = o.get("pids")) {
        ObjectReader p(*pids, o.path("pids"));
        if (const json* limit = p.get("limit"))
            resources.pids.limit = read_i64(*limit, p.path("limit"));
        p.finish();
    }
    if (const json* devices = o.get("devices")) {
        resources.devices = read_array<DeviceRule>(*devices, o.path("devices"), parse_device_rule);
    }
    o.unsupported({"blockIO", "hugepageLimits", "network", "rdma", "unified"});
    o.finish();
    return resources;
}

SeccompArg parse_seccomp_arg(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    SeccompArg arg;
    arg.index = read_u32(o.required("index"), o.path("index"));
    arg.value = read_u64(o.required("value"), o.path("value"));
    o.optional("valueTwo", arg.value_two, read_u64);
    arg.op = read_string(o.required("op"), o.path("op"));
    o.finish();
    return arg;
}

SeccompRule parse_seccomp_rule(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    SeccompRule rule;
    rule.names = read_strings(o.required("names"), o.path("names"));
    rule.action = read_string(o.required("action"), o.path("action"));
    if (const json* ret = o.get("errnoRet")) rule.errno_ret = read_u32(*ret, o.path("errnoRet"));
    if (const json* args = o.get("args")) {
        rule.args = read_array<SeccompArg>(*args, o.path("args"), parse_seccomp_arg);
    }
    o.finish();
    return rule;
}

Seccomp parse_seccomp(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    Seccomp seccomp;
    o.optional("defaultAction", seccomp.default_action, read_string);
    if (const json* ret = o.get("defaultErrnoRet")) {
        seccomp.default_errno_ret = read_u32(*ret, o.path("defaultErrnoRet"));
    }
    o.optional("architectures", seccomp.architectures, read_strings);
    if (const json* syscalls = o.get("syscalls")) {
        seccomp.syscalls =
            read_array<SeccompRule>(*syscalls, o.path("syscalls"), parse_seccomp_rule);
    }
    o.unsupported({"flags", "listenerPath", "listenerMetadata"});
    o.finish();
    return seccomp;
}

Device parse_device(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    Device device;
    device.path = read_string(o.required("path"), o.path("path"));
    device.type = read_char(o.required("type"), o.path("type"));
    o.optional("major", device.major, read_i64);
    o.optional("minor", device.minor, read_i64);
    if (const json* mode = o.get("fileMode"))
        device.file_mode = read_u32(*mode, o.path("fileMode"));
    if (const json* uid = o.get("uid")) device.uid = read_u32(*uid, o.path("uid"));
    if (const json* gid = o.get("gid")) device.gid = read_u32(*gid, o.path("gid"));
    o.finish();
    return device;
}

Linux parse_linux(const json& v, const std::string& path) {
    ObjectReader o(v, path);
    Linux linux_;
    if (const json* namespaces = o.get("namespaces")) {
        linux_.namespaces =
            read_array<Namespace>(*namespaces, o.path("namespaces"), parse_namespace);
    }
    if (const json* maps = o.get("uidMappings")) {
        linux_.uid_mappings = read_array<IdMapping>(*maps, o.path("uidMappings"), parse_id_mapping);
    }
    if (const json* maps = o.get("gidMappings")) {
        linux_.gid_mappings = read_array<IdMapping>(*maps, o.path("gidMappings"), parse_id_mapping);
    }
    if (const json* resources = o.get("resources")) {
        linux_.resources = parse_resources(*resources, o.path("resources"));
    }
    o.optional("cgroupsPath", linux_.cgroups_path, read_string);
    if (const json* seccomp = o.get("seccomp")) {
        linux_.seccomp = parse_seccomp(*seccomp, o.path("seccomp"));
    }
    if (const json* masked = o.get("maskedPaths")) {
        linux_.masked_paths = read_strings(*masked, o.path("maskedPaths"));
    }
    if (const json* readonly = o.get("readonlyPaths")) {
        linux_.readonly_paths = read_strings(*readonly, o.path("readonlyPaths"));
    }
    o.optional("rootfsPropagation", linux_.rootfs_propagation, read_string);
    if (const json* devices = o.get("devices")) {
        linux_.devices = read_array<Device>(*devices, o.path("devices"), parse_device);
    }
    o.unsupported({"sysctl", "timeOffsets", "mountLabel", "intelRdt", "personality", "memoryPolicy",
                   "netDevices"});
    o.finish();
    return linux_;
}

Network::Mode parse_network_mode(const json& v, const std::string& path) {
    std::string mode = read_string(v, path);
    if (mode == "none") return Network::Mode::none;
    if (mode == "loopback") return Network::Mode::loopback;
    if (mode == "veth") return Network::Mode::veth;
    throw invalid_argument(
        path, "unknown network mode \"" + mode + "\" (expected none, loopback or veth)");
}

// truman's own top-level object.
void parse_truman(const json& v, const std::string& path, ContainerSpec& spec) {
    ObjectReader o(v, path);
    if (const json* network = o.get("network")) {
        ObjectReader n(*network, o.path("network"));
        n.optional("mode", spec.network.mode, parse_network_mode);
        n.optional("hostInterface", spec.network.host_interface, read_string);
        n.optional("address", spec.network.address, read_string);
        n.optional("gateway", spec.network.gateway, read_string);
        n.finish();
    }
    o.optional("seccompDisabled", spec.linux.seccomp_disabled, read_bool);
    o.finish();
}

ContainerSpec parse_spec(const json& doc) {
    ObjectReader o(doc, "");
    ContainerSpec spec;
    o.optional("ociVersion", spec.oci_version, read_string);
    if (const json* process = o.get("process")) spec.process = parse_process(*process, "process");
    if (const json* root = o.get("root")) spec.root = parse_root(*root, "root");
    o.optional("hostname", spec.hostname, read_string);
    o.optional("domainname", spec.domainname, read_string);
    if (const json* mounts = o.get("mounts")) {
        spec.mounts = read_array<Mount>(*mounts, "mounts", parse_mount);
    }
    if (const json* linux_ = o.get("linux")) spec.linux = parse_linux(*linux_, "linux");
    if (const json* truman = o.get("truman")) parse_truman(*truman, "truman", spec);
    o.ignore("annotations");
    o.unsupported({"hooks"}, "no hooks are run");
    o.unsupported({"solaris", "windows", "vm", "zos"}, "Linux containers only");
    o.finish();
    return spec;
}

// ---------------------------------------------------------------------------------------------
// ContainerSpec -> config.json

json id_mappings_to_json(const std::vector<IdMapping>& mappings) {
    json out = json::array();
    for (const IdMapping& m : mappings) {
        out.push_back({{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}});
    }
    return out;
}

json process_to_json(const Process& process) {
    json user = {{"uid", process.user.uid}, {"gid", process.user.gid}};
    if (!process.user.additional_gids.empty()) {
        user["additionalGids"] = process.user.additional_gids;
    }
    if (process.user.umask) user["umask"] = *process.user.umask;

    json out = {{"args", process.args},
                {"env", process.env},
                {"cwd", process.cwd},
                {"user", std::move(user)},
                {"noNewPrivileges", process.no_new_privileges}};
    if (const auto& caps = process.capabilities) {
        out["capabilities"] = {{"bounding", caps->bounding},
                               {"effective", caps->effective},
                               {"permitted", caps->permitted},
                               {"inheritable", caps->inheritable},
                               {"ambient", caps->ambient}};
    }
    if (!process.rlimits.empty()) {
        json rlimits = json::array();
        for (const Rlimit& r : process.rlimits) {
            rlimits.push_back({{"type", r.type}, {"hard", r.hard}, {"soft", r.soft}});
        }
        out["rlimits"] = std::move(rlimits);
    }
    return out;
}

json resources_to_json(const Resources& r) {
    json out = json::object();
    json memory = json::object();
    if (r.memory.limit) memory["limit"] = *r.memory.limit;
    if (r.memory.swap) memory["swap"] = *r.memory.swap;
    if (!memory.empty()) out["memory"] = std::move(memory);

    json cpu = json::object();
    if (r.cpu.shares) cpu["shares"] = *r.cpu.shares;
    if (r.cpu.quota) cpu["quota"] = *r.cpu.quota;
    if (r.cpu.period) cpu["period"] = *r.cpu.period;
    if (!r.cpu.cpus.empty()) cpu["cpus"] = r.cpu.cpus;
    if (!r.cpu.mems.empty()) cpu["mems"] = r.cpu.mems;
    if (!cpu.empty()) out["cpu"] = std::move(cpu);

    if (r.pids.limit) out["pids"] = {{"limit", *r.pids.limit}};

    if (!r.devices.empty()) {
        json devices = json::array();
        for (const DeviceRule& d : r.devices) {
            json rule = {
                {"allow", d.allow}, {"type", std::string(1, d.type)}, {"access", d.access}};
            if (d.major) rule["major"] = *d.major;
            if (d.minor) rule["minor"] = *d.minor;
            devices.push_back(std::move(rule));
        }
        out["devices"] = std::move(devices);
    }
    return out;
}

json seccomp_to_json(const Seccomp& seccomp) {
    json syscalls = json::array();
    for (const SeccompRule& rule : seccomp.syscalls) {
        json r = {{"names", rule.names}, {"action", rule.action}};
        if (rule.errno_ret) r["errnoRet"] = *rule.errno_ret;
        if (!rule.args.empty()) {
            json args = json::array();
            for (const SeccompArg& a : rule.args) {
                args.push_back({{"index", a.index},
                                {"value", a.value},
                                {"valueTwo", a.value_two},
                                {"op", a.op}});
            }
            r["args"] = std::move(args);
        }
        syscalls.push_back(std::move(r));
    }
    json out = {{"defaultAction", seccomp.default_action},
                {"architectures", seccomp.architectures},
                {"syscalls", std::move(syscalls)}};
    if (seccomp.default_errno_ret) out["defaultErrnoRet"] = *seccomp.default_errno_ret;
    return out;
}

json linux_to_json(const Linux& l) {
    json namespaces = json::array();
    for (const Namespace& ns : l.namespaces) {
        json n = {{"type", to_string(ns.type)}};
        if (!ns.path.empty()) n["path"] = ns.path;
        namespaces.push_back(std::move(n));
    }
    json out = {{"namespaces", std::move(namespaces)}};
    if (!l.uid_mappings.empty()) out["uidMappings"] = id_mappings_to_json(l.uid_mappings);
    if (!l.gid_mappings.empty()) out["gidMappings"] = id_mappings_to_json(l.gid_mappings);
    json resources = resources_to_json(l.resources);
    if (!resources.empty()) out["resources"] = std::move(resources);
    if (!l.cgroups_path.empty()) out["cgroupsPath"] = l.cgroups_path;
    if (l.seccomp) out["seccomp"] = seccomp_to_json(*l.seccomp);
    if (l.masked_paths) out["maskedPaths"] = *l.masked_paths;
    if (l.readonly_paths) out["readonlyPaths"] = *l.readonly_paths;
    if (!l.rootfs_propagation.empty()) out["rootfsPropagation"] = l.rootfs_propagation;
    if (!l.devices.empty()) {
        json devices = json::array();
        for (const Device& d : l.devices) {
            json dev = {{"path", d.path},
                        {"type", std::string(1, d.type)},
                        {"major", d.major},
                        {"minor", d.minor}};
            if (d.file_mode) dev["fileMode"] = *d.file_mode;
            if (d.uid) dev["uid"] = *d.uid;
            if (d.gid) dev["gid"] = *d.gid;
            devices.push_back(std::move(dev));
        }
        out["devices"] = std::move(devices);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// validate()

bool is_absolute(const std::string& path) {
    return !path.empty() && path[0] == '/';
}

bool has_dotdot_component(const std::string& path) {
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string::npos) end = path.size();
        if (path.compare(start, end - start, "..") == 0) return true;
        start = end + 1;
    }
    return false;
}

// An absolute path that cannot climb out of the container's root.
void check_container_path(const std::string& path, const std::string& field) {
    if (!is_absolute(path)) throw invalid_argument(field, "must be an absolute path");
    if (has_dotdot_component(path)) throw invalid_argument(field, "must not contain \"..\"");
}

// RFC 1123 host names, which is also what sethostname(2) users expect to read back.
void check_hostname(const std::string& name, const std::string& field) {
    if (name.size() > 64) throw invalid_argument(field, "must be at most 64 characters");
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.';
        if (!ok) {
            throw invalid_argument(field, "invalid character '" + std::string(1, c) +
                                              "' (letters, digits, '-' and '.' only)");
        }
    }
    if (name.front() == '-' || name.front() == '.' || name.back() == '-') {
        throw invalid_argument(field, "must not start with '-' or '.' or end with '-'");
    }
}

void check_process(const Process& p) {
    if (p.args.empty()) throw invalid_argument("process.args", "must not be empty");
    if (p.args[0].empty()) throw invalid_argument("process.args[0]", "must not be empty");
    for (size_t i = 0; i < p.env.size(); ++i) {
        const std::string& entry = p.env[i];
        size_t eq = entry.find('=');
        if (eq == std::string::npos) {
            throw invalid_argument(index_path("process.env", i), "must be KEY=value");
        }
        if (eq == 0) throw invalid_argument(index_path("process.env", i), "empty variable name");
    }
    if (!is_absolute(p.cwd)) throw invalid_argument("process.cwd", "must be an absolute path");
    check_not_magic_link(p.cwd, "process.cwd");
    if (p.user.umask && *p.user.umask > 0777) {
        throw invalid_argument("process.user.umask", "must be at most 0777");
    }
    // The kernel checks these at setrlimit() time, in the child, where all it can report is
    // a step and an errno: catch the obvious ones here with a name.
    static const std::set<std::string_view> known_rlimits = {
        "RLIMIT_AS",     "RLIMIT_CORE",   "RLIMIT_CPU",        "RLIMIT_DATA",
        "RLIMIT_FSIZE",  "RLIMIT_LOCKS",  "RLIMIT_MEMLOCK",    "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE",   "RLIMIT_NOFILE", "RLIMIT_NPROC",      "RLIMIT_RSS",
        "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK"};
    std::set<std::string> seen;
    for (size_t i = 0; i < p.rlimits.size(); ++i) {
        const Rlimit& r = p.rlimits[i];
        std::string field = index_path("process.rlimits", i);
        if (known_rlimits.count(r.type) == 0) {
            throw invalid_argument(field + ".type", "unknown rlimit \"" + r.type + "\"");
        }
        if (!seen.insert(r.type).second) {
            throw invalid_argument(field + ".type", "duplicate rlimit " + r.type);
        }
        if (r.soft > r.hard) throw invalid_argument(field + ".soft", "must not exceed hard");
    }
}

void check_root(const Root& root) {
    if (root.path.empty()) throw invalid_argument("root.path", "must not be empty");
    if (!is_absolute(root.path)) throw invalid_argument("root.path", "must be an absolute path");
    if (const auto& overlay = root.overlay) {
        const std::pair<const std::string*, const char*> dirs[] = {
            {&overlay->lower, "root.overlay.lowerdir"},
            {&overlay->upper, "root.overlay.upperdir"},
            {&overlay->work, "root.overlay.workdir"}};
        for (const auto& [dir, field] : dirs) {
            if (!is_absolute(*dir)) throw invalid_argument(field, "must be an absolute path");
        }
    }
}

void check_namespaces(const ContainerSpec& spec) {
    const auto& namespaces = spec.linux.namespaces;
    std::set<NamespaceType> seen;
    for (size_t i = 0; i < namespaces.size(); ++i) {
        const Namespace& ns = namespaces[i];
        if (!seen.insert(ns.type).second) {
            throw invalid_argument(
                index_path("linux.namespaces", i) + ".type",
                std::string("duplicate namespace type \"") + to_string(ns.type) + "\"");
        }
        if (!ns.path.empty() && !is_absolute(ns.path)) {
            throw invalid_argument(index_path("linux.namespaces", i) + ".path",
                                   "must be an absolute path");
        }
    }
    // OCI: a namespace joined by path is already set up, and the runtime must refuse to
    // configure it again; a host-wide uts namespace would rename the host.
    auto uts = std::find_if(namespaces.begin(), namespaces.end(),
                            [](const Namespace& ns) { return ns.type == NamespaceType::uts; });
    const std::pair<const std::string*, const char*> names[] = {{&spec.hostname, "hostname"},
                                                                {&spec.domainname, "domainname"}};
    for (const auto& [name, field] : names) {
        if (name->empty()) continue;
        if (uts == namespaces.end()) {
            throw invalid_argument(field, "needs a uts namespace (it would rename the host)");
        }
        if (!uts->path.empty()) {
            throw invalid_argument(field, "cannot be set in a uts namespace joined by path");
        }
        check_hostname(*name, field);
    }
}

// Ranges [start, start+size) of one side of the mappings must not overlap: the kernel rejects
// the whole uid_map write with a bare EINVAL otherwise.
void check_id_mappings(const std::vector<IdMapping>& maps, const std::string& field) {
    // The kernel's limit on lines in /proc/<pid>/{uid,gid}_map (since Linux 4.15).
    constexpr size_t kMaxLines = 340;
    if (maps.size() > kMaxLines) {
        throw invalid_argument(
            field, "at most 340 mappings (kernel limit), got " + std::to_string(maps.size()));
    }
    for (size_t i = 0; i < maps.size(); ++i) {
        const IdMapping& m = maps[i];
        std::string item = index_path(field, i);
        if (m.size == 0) throw invalid_argument(item + ".size", "must not be 0");
        constexpr uint64_t kIdSpace = uint64_t{1} << 32;
        if (uint64_t{m.container_id} + m.size > kIdSpace) {
            throw invalid_argument(item, "containerID + size exceeds the 32-bit id range");
        }
        if (uint64_t{m.host_id} + m.size > kIdSpace) {
            throw invalid_argument(item, "hostID + size exceeds the 32-bit id range");
        }
        for (size_t j = 0; j < i; ++j) {
            const IdMapping& other = maps[j];
            auto overlaps = [](uint64_t a, uint64_t b, uint64_t size_a, uint64_t size_b) {
                return a < b + size_b && b < a + size_a;
            };
            if (overlaps(m.container_id, other.container_id, m.size, other.size)) {
                throw invalid_argument(item,
                                       "container range overlaps mapping " + std::to_string(j));
            }
            if (overlaps(m.host_id, other.host_id, m.size, other.size)) {
                throw invalid_argument(item, "host range overlaps mapping " + std::to_string(j));
            }
        }
    }
}

void check_user_namespace(const ContainerSpec& spec) {
    const Linux& l = spec.linux;
    auto user_ns = std::find_if(l.namespaces.begin(), l.namespaces.end(),
                                [](const Namespace& ns) { return ns.type == NamespaceType::user; });
    bool has_maps = !l.uid_mappings.empty() || !l.gid_mappings.empty();
    if (user_ns == l.namespaces.end()) {
        if (has_maps) {
            const char* field = l.uid_mappings.empty() ? "linux.gidMappings" : "linux.uidMappings";
            throw invalid_argument(field, "needs a user namespace in linux.namespaces");
        }
        return;
    }
    if (!user_ns->path.empty()) {
        // A joined user namespace already has its maps; they cannot be written twice.
        if (has_maps) {
            throw invalid_argument(
                l.uid_mappings.empty() ? "linux.gidMappings" : "linux.uidMappings",
                "must be empty when joining a user namespace by path");
        }
        return;
    }
    if (l.uid_mappings.empty()) {
        throw invalid_argument("linux.uidMappings", "a new user namespace needs uid mappings");
    }
    if (l.gid_mappings.empty()) {
        throw invalid_argument("linux.gidMappings", "a new user namespace needs gid mappings");
    }
    check_id_mappings(l.uid_mappings, "linux.uidMappings");
    check_id_mappings(l.gid_mappings, "linux.gidMappings");
}

void check_mounts(const ContainerSpec& spec) {
    for (size_t i = 0; i < spec.mounts.size(); ++i) {
        const Mount& m = spec.mounts[i];
        check_container_path(m.destination, index_path("mounts", i) + ".destination");
        check_not_magic_link(m.destination, index_path("mounts", i) + ".destination");
        check_not_magic_link(m.source, index_path("mounts", i) + ".source");
    }
    if (const auto& masked = spec.linux.masked_paths) {
        for (size_t i = 0; i < masked->size(); ++i) {
            check_container_path((*masked)[i], index_path("linux.maskedPaths", i));
        }
    }
    if (const auto& readonly = spec.linux.readonly_paths) {
        for (size_t i = 0; i < readonly->size(); ++i) {
            check_container_path((*readonly)[i], index_path("linux.readonlyPaths", i));
        }
    }
    static const std::set<std::string_view> propagations = {"",        "private",    "rprivate",
                                                            "slave",   "rslave",     "shared",
                                                            "rshared", "unbindable", "runbindable"};
    if (propagations.count(spec.linux.rootfs_propagation) == 0) {
        throw invalid_argument("linux.rootfsPropagation",
                               "unknown propagation \"" + spec.linux.rootfs_propagation +
                                   "\" (private, rprivate, slave, rslave, shared, rshared, "
                                   "unbindable or runbindable)");
    }
}

void check_devices(const Linux& l) {
    for (size_t i = 0; i < l.devices.size(); ++i) {
        const Device& d = l.devices[i];
        std::string item = index_path("linux.devices", i);
        if (d.path.rfind("/dev/", 0) != 0 || d.path.size() == 5) {
            throw invalid_argument(item + ".path", "must be a path under /dev/");
        }
        if (has_dotdot_component(d.path)) {
            throw invalid_argument(item + ".path", "must not contain \"..\"");
        }
        if (d.type != 'c' && d.type != 'b' && d.type != 'u' && d.type != 'p') {
            throw invalid_argument(item + ".type", "must be c, b, u or p");
        }
        if (d.type != 'p' && (d.major < 0 || d.major > 0xfff)) {
            throw invalid_argument(item + ".major", "must be between 0 and 4095");
        }
        if (d.type != 'p' && (d.minor < 0 || d.minor > 0xfffff)) {
            throw invalid_argument(item + ".minor", "must be between 0 and 1048575");
        }
        if (d.file_mode && *d.file_mode > 07777) {
            throw invalid_argument(item + ".fileMode", "must be permission bits (at most 07777)");
        }
    }
    for (size_t i = 0; i < l.resources.devices.size(); ++i) {
        const DeviceRule& r = l.resources.devices[i];
        std::string item = index_path("linux.resources.devices", i);
        if (r.type != 'a' && r.type != 'c' && r.type != 'b') {
            throw invalid_argument(item + ".type", "must be a, c or b");
        }
        if (r.major && *r.major < 0)
            throw invalid_argument(item + ".major", "must not be negative");
        if (r.minor && *r.minor < 0)
            throw invalid_argument(item + ".minor", "must not be negative");
        bool access_ok = !r.access.empty() && r.access.size() <= 3 &&
                         r.access.find_first_not_of("rwm") == std::string::npos;
        if (!access_ok) throw invalid_argument(item + ".access", "must be letters from \"rwm\"");
    }
}

// "0-3,5": what cpuset.cpus / cpuset.mems accept.
bool is_cpu_list(const std::string& list) {
    if (list.empty()) return true;
    if (list.find_first_not_of("0123456789,-") != std::string::npos) return false;
    size_t start = 0;
    while (start <= list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string::npos) end = list.size();
        std::string_view item(list.data() + start, end - start);
        size_t dash = item.find('-');
        auto number = [](std::string_view s) {
            return !s.empty() && s.find('-') == std::string_view::npos;
        };
        bool ok = dash == std::string_view::npos
                      ? number(item)
                      : number(item.substr(0, dash)) && number(item.substr(dash + 1));
        if (!ok) return false;
        start = end + 1;
    }
    return true;
}

void check_resources(const Resources& r) {
    const auto& memory = r.memory;
    if (memory.limit && *memory.limit <= 0) {
        throw invalid_argument("linux.resources.memory.limit", "must be positive");
    }
    if (memory.swap) {
        // OCI: swap is the memory+swap total, -1 for unlimited swap.
        if (*memory.swap != -1) {
            if (!memory.limit) {
                throw invalid_argument("linux.resources.memory.swap",
                                       "needs linux.resources.memory.limit");
            }
            if (*memory.swap < *memory.limit) {
                throw invalid_argument("linux.resources.memory.swap",
                                       "must be at least the memory limit (it is memory+swap), "
                                       "or -1 for unlimited");
            }
        }
    }
    // cgroup v1 cpu.cfs_period_us and cfs_quota_us accept 1 ms .. 1 s and >= 1 ms (or -1).
    if (r.cpu.period && (*r.cpu.period < 1000 || *r.cpu.period > 1000000)) {
        throw invalid_argument("linux.resources.cpu.period",
                               "must be between 1000 and 1000000 microseconds");
    }
    if (r.cpu.quota && *r.cpu.quota != -1 && *r.cpu.quota < 1000) {
        throw invalid_argument("linux.resources.cpu.quota",
                               "must be at least 1000 microseconds, or -1 for unlimited");
    }
    if (r.cpu.shares && *r.cpu.shares == 0) {
        throw invalid_argument("linux.resources.cpu.shares", "must be positive");
    }
    if (!is_cpu_list(r.cpu.cpus)) {
        throw invalid_argument("linux.resources.cpu.cpus", "must be a list like \"0-2,4\"");
    }
    if (!is_cpu_list(r.cpu.mems)) {
        throw invalid_argument("linux.resources.cpu.mems", "must be a list like \"0-1\"");
    }
    // OCI: -1 is unlimited. 0 means "unlimited" to some runtimes and "no forks" to the
    // kernel, so it is refused rather than guessed.
    if (r.pids.limit && (*r.pids.limit < -1 || *r.pids.limit == 0)) {
        throw invalid_argument("linux.resources.pids.limit",
                               "must be positive, or -1 for unlimited");
    }
}

void check_seccomp(const Linux& l) {
    if (!l.seccomp) return;
    if (l.seccomp_disabled) {
        throw invalid_argument("linux.seccomp", "conflicts with truman.seccompDisabled");
    }
    static const std::set<std::string_view> actions = {
        "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",        "SCMP_ACT_ALLOW",       "SCMP_ACT_LOG"};
    static const std::set<std::string_view> ops = {
        "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",       "SCMP_CMP_EQ",
        "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"};
    auto check_action = [](const std::string& action, const std::string& field) {
        if (action == "SCMP_ACT_NOTIFY") throw unsupported_field(field, "SCMP_ACT_NOTIFY");
        if (actions.count(action) == 0) {
            throw invalid_argument(field, "unknown seccomp action \"" + action + "\"");
        }
    };
    check_action(l.seccomp->default_action, "linux.seccomp.defaultAction");
    for (size_t i = 0; i < l.seccomp->syscalls.size(); ++i) {
        const SeccompRule& rule = l.seccomp->syscalls[i];
        std::string item = index_path("linux.seccomp.syscalls", i);
        if (rule.names.empty()) throw invalid_argument(item + ".names", "must not be empty");
        check_action(rule.action, item + ".action");
        for (size_t j = 0; j < rule.args.size(); ++j) {
            const SeccompArg& arg = rule.args[j];
            std::string arg_item = index_path(item + ".args", j);
            if (arg.index > 5) throw invalid_argument(arg_item + ".index", "must be 0..5");
            if (ops.count(arg.op) == 0) {
                throw invalid_argument(arg_item + ".op", "unknown operator \"" + arg.op + "\"");
            }
        }
    }
}

// "a.b.c.d" -> host-order address, or nullopt.
std::optional<uint32_t> parse_ipv4(const std::string& text) {
    in_addr addr{};
    if (inet_pton(AF_INET, text.c_str(), &addr) != 1) return std::nullopt;
    return ntohl(addr.s_addr);
}

void check_network(const ContainerSpec& spec) {
    const Network& net = spec.network;
    if (net.mode != Network::Mode::veth) {
        const std::pair<const std::string*, const char*> veth_only[] = {
            {&net.address, "truman.network.address"},
            {&net.gateway, "truman.network.gateway"},
            {&net.host_interface, "truman.network.hostInterface"}};
        for (const auto& [value, field] : veth_only) {
            if (!value->empty()) throw invalid_argument(field, "only used with mode \"veth\"");
        }
        return;
    }
    auto netns =
        std::find_if(spec.linux.namespaces.begin(), spec.linux.namespaces.end(),
                     [](const Namespace& ns) { return ns.type == NamespaceType::network; });
    if (netns == spec.linux.namespaces.end() || !netns->path.empty()) {
        throw invalid_argument("truman.network.mode",
                               "\"veth\" needs a new network namespace in linux.namespaces");
    }
    if (!net.host_interface.empty()) {
        // IFNAMSIZ is 16 including the terminating NUL.
        bool ok = net.host_interface.size() <= 15 && net.host_interface != "." &&
                  net.host_interface != ".." &&
                  net.host_interface.find_first_of("/: \t\n") == std::string::npos;
        if (!ok) {
            throw invalid_argument("truman.network.hostInterface",
                                   "must be an interface name of at most 15 characters without "
                                   "'/', ':' or spaces");
        }
    }
    std::optional<uint32_t> address;
    int prefix = 0;
    if (!net.address.empty()) {
        size_t slash = net.address.find('/');
        std::string prefix_text = slash == std::string::npos ? "" : net.address.substr(slash + 1);
        bool prefix_ok = !prefix_text.empty() && prefix_text.size() <= 2 &&
                         prefix_text.find_first_not_of("0123456789") == std::string::npos;
        if (prefix_ok) prefix = std::stoi(prefix_text);
        if (prefix_ok) address = parse_ipv4(net.address.substr(0, slash));
        if (!address || prefix < 1 || prefix > 32) {
            throw invalid_argument(
                "truman.network.address",
                "\"" + net.address + "\" is not an IPv4 address with a prefix, like 10.88.0.2/16");
        }
    }
    if (!net.gateway.empty()) {
        std::optional<uint32_t> gateway = parse_ipv4(net.gateway);
        if (!gateway) {
            throw invalid_argument("truman.network.gateway",
                                   "\"" + net.gateway + "\" is not an IPv4 address");
        }
        if (!address)
            throw invalid_argument("truman.network.gateway", "needs truman.network.address");
        // A default route needs its gateway on the link's subnet.
        uint32_t mask = prefix == 32 ? ~uint32_t{0} : ~(~uint32_t{0} >> prefix);
        if ((*gateway & mask) != (*address & mask)) {
            throw invalid_argument("truman.network.gateway",
                                   net.gateway + " is not in the subnet of " + net.address);
        }
        if (*gateway == *address) {
            throw invalid_argument("truman.network.gateway", "must differ from the address");
        }
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

bool ContainerSpec::has_namespace(NamespaceType type) const {
    return std::any_of(linux.namespaces.begin(), linux.namespaces.end(),
                       [type](const Namespace& ns) { return ns.type == type; });
}

ContainerSpec spec_from_json(const json& doc) {
    try {
        return parse_spec(doc);
    } catch (const json::exception& e) {
        // Every read above checks the type first; this only guards against a missed case
        // turning into an error the API layer does not know.
        throw invalid_argument("config", e.what());
    }
}

json spec_to_json(const ContainerSpec& spec) {
    json root = {{"path", spec.root.path}, {"readonly", spec.root.readonly}};
    if (const auto& overlay = spec.root.overlay) {
        root["overlay"] = {
            {"lowerdir", overlay->lower}, {"upperdir", overlay->upper}, {"workdir", overlay->work}};
    }
    json mounts = json::array();
    for (const Mount& m : spec.mounts) {
        json mount = {{"destination", m.destination}, {"options", m.options}};
        if (!m.type.empty()) mount["type"] = m.type;
        if (!m.source.empty()) mount["source"] = m.source;
        mounts.push_back(std::move(mount));
    }
    json network = {{"mode", to_string(spec.network.mode)}};
    if (!spec.network.host_interface.empty())
        network["hostInterface"] = spec.network.host_interface;
    if (!spec.network.address.empty()) network["address"] = spec.network.address;
    if (!spec.network.gateway.empty()) network["gateway"] = spec.network.gateway;

    json doc = {
        {"ociVersion", spec.oci_version},
        {"process", process_to_json(spec.process)},
        {"root", std::move(root)},
        {"mounts", std::move(mounts)},
        {"linux", linux_to_json(spec.linux)},
        {"truman",
         {{"network", std::move(network)}, {"seccompDisabled", spec.linux.seccomp_disabled}}}};
    if (!spec.hostname.empty()) doc["hostname"] = spec.hostname;
    if (!spec.domainname.empty()) doc["domainname"] = spec.domainname;
    return doc;
}

void validate(const ContainerSpec& spec) {
    if (spec.oci_version.rfind("1.", 0) != 0) {
        throw make_error(ErrorKind::unsupported,
                         "ociVersion: \"" + spec.oci_version + "\" is not supported (1.x only)");
    }
    check_root(spec.root);
    check_process(spec.process);
    check_namespaces(spec);
    check_user_namespace(spec);
    check_mounts(spec);
    check_devices(spec.linux);
    check_resources(spec.linux.resources);
    check_seccomp(spec.linux);
    check_network(spec);
}

ContainerSpec default_spec(const std::string& rootfs, std::vector<std::string> args) {
    ContainerSpec spec;
    spec.root.path = rootfs;
    spec.process.args = std::move(args);
    spec.process.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    spec.process.cwd = "/";
    spec.hostname = "truman";
    // No user namespace, like rootful Docker and podman: root in the container is root on
    // the host, confined by capabilities, seccomp and the masked paths.
    spec.linux.namespaces = {{NamespaceType::pid, ""},   {NamespaceType::network, ""},
                             {NamespaceType::mount, ""}, {NamespaceType::ipc, ""},
                             {NamespaceType::uts, ""},   {NamespaceType::cgroup, ""}};
    spec.network.mode = Network::Mode::loopback;
    return spec;
}

namespace {
// One row per namespace type: its OCI name, its clone flag, its /proc/PID/ns entry.
struct NamespaceInfo {
    NamespaceType type;
    const char* oci_name;
    int clone_flag;
    const char* proc_name;
};
constexpr NamespaceInfo kNamespaces[] = {
    {NamespaceType::pid, "pid", CLONE_NEWPID, "pid"},
    {NamespaceType::network, "network", CLONE_NEWNET, "net"},
    {NamespaceType::mount, "mount", CLONE_NEWNS, "mnt"},
    {NamespaceType::ipc, "ipc", CLONE_NEWIPC, "ipc"},
    {NamespaceType::uts, "uts", CLONE_NEWUTS, "uts"},
    {NamespaceType::user, "user", CLONE_NEWUSER, "user"},
    {NamespaceType::cgroup, "cgroup", CLONE_NEWCGROUP, "cgroup"},
};
const NamespaceInfo* namespace_info(NamespaceType type) noexcept {
    for (const auto& info : kNamespaces)
        if (info.type == type) return &info;
    return nullptr;
}
}  // namespace

const char* to_string(NamespaceType type) noexcept {
    const NamespaceInfo* info = namespace_info(type);
    return info ? info->oci_name : "unknown";
}

const char* to_string(Network::Mode mode) noexcept {
    switch (mode) {
        case Network::Mode::none:
            return "none";
        case Network::Mode::loopback:
            return "loopback";
        case Network::Mode::veth:
            return "veth";
    }
    return "unknown";
}

std::optional<NamespaceType> namespace_type_from_string(const std::string& name) {
    for (const auto& info : kNamespaces)
        if (name == info.oci_name) return info.type;
    return std::nullopt;
}

int clone_flag(NamespaceType type) noexcept {
    const NamespaceInfo* info = namespace_info(type);
    return info ? info->clone_flag : 0;
}

const char* proc_ns_name(NamespaceType type) noexcept {
    const NamespaceInfo* info = namespace_info(type);
    return info ? info->proc_name : "unknown";
}

}  // namespace truman
