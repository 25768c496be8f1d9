// ContainerSpec -> config.json, with OCI's field names; spec_from_json() reads it back.
#include <nlohmann/json.hpp>

#include "truman/spec.hpp"

namespace truman {

using nlohmann::json;

namespace {

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

}  // namespace

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

namespace {

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

}  // namespace

json spec_to_json(const ContainerSpec& spec) {
    json root = {{"path", spec.root.path}, {"readonly", spec.root.readonly}};
    if (const auto& overlay = spec.root.overlay) {
        root["overlay"] = {
            {"lowerdir", overlay->lower}, {"upperdir", overlay->upper}, {"workdir", overlay->work}};
        if (!overlay->layer_dir.empty()) root["overlay"]["layerdir"] = overlay->layer_dir;
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
    if (!spec.network.bridges.empty()) {
        json ports = json::array();
        for (const auto& p : spec.network.bridges) {
            json port = {{"bridge", p.bridge},
                         {"hostInterface", p.host_interface},
                         {"interface", p.interface},
                         {"address", p.address}};
            if (!p.gateway.empty()) port["gateway"] = p.gateway;
            if (!p.address6.empty()) port["address6"] = p.address6;
            if (!p.gateway6.empty()) port["gateway6"] = p.gateway6;
            ports.push_back(std::move(port));
        }
        network["bridges"] = std::move(ports);
    }

    json doc = {
        {"ociVersion", spec.oci_version},
        {"process", process_to_json(spec.process)},
        {"root", std::move(root)},
        {"mounts", std::move(mounts)},
        {"linux", linux_to_json(spec.linux)},
        {"truman",
         {{"network", std::move(network)}, {"seccompDisabled", spec.linux.seccomp_disabled}}}};
    if (spec.linux.seccomp_learn) doc["truman"]["seccompLearn"] = true;
    if (!spec.hostname.empty()) doc["hostname"] = spec.hostname;
    if (!spec.domainname.empty()) doc["domainname"] = spec.domainname;
    return doc;
}

}  // namespace truman
