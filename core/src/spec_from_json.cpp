// config.json -> ContainerSpec, one function per OCI object, each read through the strict
// JsonObjectReader (truman/json_reader.hpp): a key no function asks for is an error naming its
// full path, and so is a field truman does not implement unless its value asks for nothing.
// Values are only read here; validate() judges them.
#include <nlohmann/json.hpp>

#include "truman/devices.hpp"
#include "truman/error.hpp"
#include "truman/json_reader.hpp"
#include "truman/spec.hpp"

namespace truman {

using nlohmann::json;

namespace {

User parse_user(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    User user;
    o.optional("uid", user.uid, json_u32);
    o.optional("gid", user.gid, json_u32);
    if (const json* gids = o.get("additionalGids")) {
        user.additional_gids = json_array<uint32_t>(*gids, o.path("additionalGids"), json_u32);
    }
    if (const json* umask = o.get("umask")) user.umask = json_u32(*umask, o.path("umask"));
    o.unsupported({"username"}, "Windows only");
    o.finish();
    return user;
}

Capabilities parse_capabilities(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    Capabilities caps;
    o.optional("bounding", caps.bounding, json_strings);
    o.optional("effective", caps.effective, json_strings);
    o.optional("permitted", caps.permitted, json_strings);
    o.optional("inheritable", caps.inheritable, json_strings);
    o.optional("ambient", caps.ambient, json_strings);
    o.finish();
    return caps;
}

Rlimit parse_rlimit(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    Rlimit limit;
    limit.type = json_string(o.required("type"), o.path("type"));
    limit.hard = json_u64(o.required("hard"), o.path("hard"));
    limit.soft = json_u64(o.required("soft"), o.path("soft"));
    o.finish();
    return limit;
}

Process parse_process(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    Process process;
    o.optional("args", process.args, json_strings);
    o.optional("env", process.env, json_strings);
    o.optional("cwd", process.cwd, json_string);
    if (const json* user = o.get("user")) process.user = parse_user(*user, o.path("user"));
    if (const json* caps = o.get("capabilities")) {
        process.capabilities = parse_capabilities(*caps, o.path("capabilities"));
    }
    o.optional("noNewPrivileges", process.no_new_privileges, json_bool);
    if (const json* rlimits = o.get("rlimits")) {
        process.rlimits = json_array<Rlimit>(*rlimits, o.path("rlimits"), parse_rlimit);
    }
    if (const json* terminal = o.get("terminal")) {
        if (json_bool(*terminal, o.path("terminal"))) {
            throw unsupported_field(o.path("terminal"), "truman attaches stdio and logs instead");
        }
    }
    o.unsupported({"consoleSize", "apparmorProfile", "selinuxLabel", "oomScoreAdj", "scheduler",
                   "ioPriority", "execCPUAffinity", "commandLine"});
    o.finish();
    return process;
}

Overlay parse_overlay(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    Overlay overlay;
    overlay.lower = json_string(o.required("lowerdir"), o.path("lowerdir"));
    overlay.upper = json_string(o.required("upperdir"), o.path("upperdir"));
    overlay.work = json_string(o.required("workdir"), o.path("workdir"));
    o.optional("layerdir", overlay.layer_dir, json_string);
    o.finish();
    return overlay;
}

Root parse_root(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    Root root;
    o.optional("path", root.path, json_string);
    o.optional("readonly", root.readonly, json_bool);
    if (const json* overlay = o.get("overlay")) {
        root.overlay = parse_overlay(*overlay, o.path("overlay"));
    }
    o.finish();
    return root;
}

Mount parse_mount(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    Mount mount;
    mount.destination = json_string(o.required("destination"), o.path("destination"));
    o.optional("type", mount.type, json_string);
    o.optional("source", mount.source, json_string);
    o.optional("options", mount.options, json_strings);
    o.unsupported({"uidMappings", "gidMappings"}, "id-mapped mounts");
    o.finish();
    return mount;
}

Namespace parse_namespace(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    std::string type_path = o.path("type");
    std::string name = json_string(o.required("type"), type_path);
    std::optional<NamespaceType> type = namespace_type_from_string(name);
    if (!type) {
        if (name == "time") throw unsupported_field(type_path, "time namespaces");
        throw invalid_argument(type_path, "unknown namespace type \"" + name + "\"");
    }
    Namespace ns{*type, ""};
    o.optional("path", ns.path, json_string);
    o.finish();
    return ns;
}

IdMapping parse_id_mapping(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    IdMapping mapping;
    mapping.container_id = json_u32(o.required("containerID"), o.path("containerID"));
    mapping.host_id = json_u32(o.required("hostID"), o.path("hostID"));
    mapping.size = json_u32(o.required("size"), o.path("size"));
    o.finish();
    return mapping;
}

// OCI and runc use -1 (and Docker null) for "any major/minor".
std::optional<int64_t> device_number_from_json(const json& v, const std::string& path) {
    int64_t number = json_i64(v, path);
    if (number == -1) return std::nullopt;
    return number;
}

DeviceRule parse_device_rule(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    DeviceRule rule;
    rule.allow = json_bool(o.required("allow"), o.path("allow"));
    o.optional("type", rule.type, json_char);
    o.optional("major", rule.major, device_number_from_json);
    o.optional("minor", rule.minor, device_number_from_json);
    o.optional("access", rule.access, json_string);
    o.finish();
    return rule;
}

Resources parse_resources(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    Resources resources;
    if (const json* memory = o.get("memory")) {
        JsonObjectReader m(*memory, o.path("memory"));
        if (const json* limit = m.get("limit")) {
            resources.memory.limit = json_i64(*limit, m.path("limit"));
        }
        if (const json* swap = m.get("swap"))
            resources.memory.swap = json_i64(*swap, m.path("swap"));
        m.unsupported({"reservation", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
                       "useHierarchy", "checkBeforeUpdate"});
        m.finish();
    }
    if (const json* cpu = o.get("cpu")) {
        JsonObjectReader c(*cpu, o.path("cpu"));
        if (const json* shares = c.get("shares")) {
            resources.cpu.shares = json_u64(*shares, c.path("shares"));
        }
        if (const json* quota = c.get("quota"))
            resources.cpu.quota = json_i64(*quota, c.path("quota"));
        if (const json* period = c.get("period")) {
            resources.cpu.period = json_u64(*period, c.path("period"));
        }
        c.optional("cpus", resources.cpu.cpus, json_string);
        c.optional("mems", resources.cpu.mems, json_string);
        c.unsupported({"burst", "realtimeRuntime", "realtimePeriod", "idle"});
        c.finish();
    }
    if (const json* pids = o.get("pids")) {
        JsonObjectReader p(*pids, o.path("pids"));
        if (const json* limit = p.get("limit"))
            resources.pids.limit = json_i64(*limit, p.path("limit"));
        p.finish();
    }
    if (const json* devices = o.get("devices")) {
        resources.devices = json_array<DeviceRule>(*devices, o.path("devices"), parse_device_rule);
    }
    o.unsupported({"blockIO", "hugepageLimits", "network", "rdma", "unified"});
    o.finish();
    return resources;
}

SeccompArg parse_seccomp_arg(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    SeccompArg arg;
    arg.index = json_u32(o.required("index"), o.path("index"));
    arg.value = json_u64(o.required("value"), o.path("value"));
    o.optional("valueTwo", arg.value_two, json_u64);
    arg.op = json_string(o.required("op"), o.path("op"));
    o.finish();
    return arg;
}

SeccompRule parse_seccomp_rule(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    SeccompRule rule;
    rule.names = json_strings(o.required("names"), o.path("names"));
    rule.action = json_string(o.required("action"), o.path("action"));
    if (const json* ret = o.get("errnoRet")) rule.errno_ret = json_u32(*ret, o.path("errnoRet"));
    if (const json* args = o.get("args")) {
        rule.args = json_array<SeccompArg>(*args, o.path("args"), parse_seccomp_arg);
    }
    o.finish();
    return rule;
}

Seccomp parse_seccomp(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    Seccomp seccomp;
    o.optional("defaultAction", seccomp.default_action, json_string);
    if (const json* ret = o.get("defaultErrnoRet")) {
        seccomp.default_errno_ret = json_u32(*ret, o.path("defaultErrnoRet"));
    }
    o.optional("architectures", seccomp.architectures, json_strings);
    if (const json* syscalls = o.get("syscalls")) {
        seccomp.syscalls =
            json_array<SeccompRule>(*syscalls, o.path("syscalls"), parse_seccomp_rule);
    }
    o.unsupported({"flags", "listenerPath", "listenerMetadata"});
    o.finish();
    return seccomp;
}

Device parse_device(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    Device device;
    device.path = json_string(o.required("path"), o.path("path"));
    device.type = json_char(o.required("type"), o.path("type"));
    if (device_has_numbers(device.type)) {
        device.major = json_i64(o.required("major"), o.path("major"));
        device.minor = json_i64(o.required("minor"), o.path("minor"));
    } else {
        o.optional("major", device.major, json_i64);
        o.optional("minor", device.minor, json_i64);
    }
    if (const json* mode = o.get("fileMode"))
        device.file_mode = json_u32(*mode, o.path("fileMode"));
    if (const json* uid = o.get("uid")) device.uid = json_u32(*uid, o.path("uid"));
    if (const json* gid = o.get("gid")) device.gid = json_u32(*gid, o.path("gid"));
    o.finish();
    return device;
}

Linux parse_linux(const json& v, const std::string& path) {
    JsonObjectReader o(v, path);
    Linux linux_;
    if (const json* namespaces = o.get("namespaces")) {
        linux_.namespaces =
            json_array<Namespace>(*namespaces, o.path("namespaces"), parse_namespace);
    }
    if (const json* maps = o.get("uidMappings")) {
        linux_.uid_mappings = json_array<IdMapping>(*maps, o.path("uidMappings"), parse_id_mapping);
    }
    if (const json* maps = o.get("gidMappings")) {
        linux_.gid_mappings = json_array<IdMapping>(*maps, o.path("gidMappings"), parse_id_mapping);
    }
    if (const json* resources = o.get("resources")) {
        linux_.resources = parse_resources(*resources, o.path("resources"));
    }
    o.optional("cgroupsPath", linux_.cgroups_path, json_string);
    if (const json* seccomp = o.get("seccomp")) {
        linux_.seccomp = parse_seccomp(*seccomp, o.path("seccomp"));
    }
    if (const json* masked = o.get("maskedPaths")) {
        linux_.masked_paths = json_strings(*masked, o.path("maskedPaths"));
    }
    if (const json* readonly = o.get("readonlyPaths")) {
        linux_.readonly_paths = json_strings(*readonly, o.path("readonlyPaths"));
    }
    o.optional("rootfsPropagation", linux_.rootfs_propagation, json_string);
    if (const json* devices = o.get("devices")) {
        linux_.devices = json_array<Device>(*devices, o.path("devices"), parse_device);
    }
    o.unsupported({"sysctl", "timeOffsets", "mountLabel", "intelRdt", "personality", "memoryPolicy",
                   "netDevices"});
    o.finish();
    return linux_;
}

Network::Mode parse_network_mode(const json& v, const std::string& path) {
    return network_mode_from_string(json_string(v, path), path);
}

std::vector<BridgePort> parse_bridge_ports(const json& v, const std::string& path) {
    if (!v.is_array()) throw invalid_argument(path, "must be an array");
    std::vector<BridgePort> out;
    for (size_t i = 0; i < v.size(); ++i) {
        JsonObjectReader p(v[i], path + "[" + std::to_string(i) + "]");
        BridgePort port;
        p.optional("bridge", port.bridge, json_string);
        p.optional("hostInterface", port.host_interface, json_string);
        p.optional("interface", port.interface, json_string);
        p.optional("address", port.address, json_string);
        p.optional("gateway", port.gateway, json_string);
        p.optional("address6", port.address6, json_string);
        p.optional("gateway6", port.gateway6, json_string);
        p.finish();
        out.push_back(std::move(port));
    }
    return out;
}

// truman's own top-level object.
void parse_truman(const json& v, const std::string& path, ContainerSpec& spec) {
    JsonObjectReader o(v, path);
    if (const json* network = o.get("network")) {
        JsonObjectReader n(*network, o.path("network"));
        n.optional("mode", spec.network.mode, parse_network_mode);
        n.optional("hostInterface", spec.network.host_interface, json_string);
        n.optional("address", spec.network.address, json_string);
        n.optional("gateway", spec.network.gateway, json_string);
        n.optional("bridges", spec.network.bridges, parse_bridge_ports);
        n.finish();
    }
    o.optional("seccompDisabled", spec.linux.seccomp_disabled, json_bool);
    o.optional("seccompLearn", spec.linux.seccomp_learn, json_bool);
    o.finish();
}

ContainerSpec parse_spec(const json& doc) {
    JsonObjectReader o(doc, "");
    ContainerSpec spec;
    o.optional("ociVersion", spec.oci_version, json_string);
    if (const json* process = o.get("process")) spec.process = parse_process(*process, "process");
    if (const json* root = o.get("root")) spec.root = parse_root(*root, "root");
    o.optional("hostname", spec.hostname, json_string);
    o.optional("domainname", spec.domainname, json_string);
    if (const json* mounts = o.get("mounts")) {
        spec.mounts = json_array<Mount>(*mounts, "mounts", parse_mount);
    }
    if (const json* linux_ = o.get("linux")) spec.linux = parse_linux(*linux_, "linux");
    if (const json* truman = o.get("truman")) parse_truman(*truman, "truman", spec);
    o.ignore("annotations");
    o.unsupported({"hooks"}, "no hooks are run");
    o.unsupported({"solaris", "windows", "vm", "zos"}, "Linux containers only");
    o.finish();
    return spec;
}
}  // namespace

ContainerSpec spec_from_json(const json& doc) {
    try {
        return parse_spec(doc);
    } catch (const json::exception& e) {
        // Every read above checks the type first; this only guards against a missed case
        // turning into an error the API layer does not know.
        throw invalid_argument("config", e.what());
    }
}

Seccomp seccomp_from_json(const json& v, const std::string& path) {
    try {
        return parse_seccomp(v, path);
    } catch (const json::exception& e) {
        throw invalid_argument(path, e.what());
    }
}

Mount mount_from_json(const json& v, const std::string& path) {
    try {
        return parse_mount(v, path);
    } catch (const json::exception& e) {
        throw invalid_argument(path, e.what());
    }
}

}  // namespace truman
