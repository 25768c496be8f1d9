// ContainerSpec: what a container is to be, with the OCI runtime spec's config.json names.
//
// spec_from_json() reads an OCI config.json (or the subset the API builds) and rejects, by
// field name, anything truman does not support; validate() rejects invalid values before any
// process exists. Where OCI leaves a field out, truman picks the secure default a Docker user
// expects: absent capabilities -> Docker's 14, absent seccomp -> the default profile, absent
// maskedPaths/readonlyPaths -> the default lists, no_new_privileges on.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "truman/namespaces.hpp"

namespace truman {

struct Namespace {
    NamespaceType type;
    std::string path;  // join this existing namespace instead of creating one (OCI "path")

    bool operator==(const Namespace&) const = default;
};

struct IdMapping {
    uint32_t container_id = 0;  // "containerID"
    uint32_t host_id = 0;       // "hostID"
    uint32_t size = 0;          // "size"

    bool operator==(const IdMapping&) const = default;
};

struct User {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> additional_gids;  // "additionalGids"
    std::optional<uint32_t> umask;

    bool operator==(const User&) const = default;
};

struct Rlimit {
    std::string type;  // "RLIMIT_NOFILE"
    uint64_t hard = 0;
    uint64_t soft = 0;

    bool operator==(const Rlimit&) const = default;
};

struct Capabilities {  // names like "CAP_NET_ADMIN"
    std::vector<std::string> bounding, effective, permitted, inheritable, ambient;

    bool operator==(const Capabilities&) const = default;
};

struct Process {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd = "/";
    User user;
    std::optional<Capabilities> capabilities;  // nullopt -> Docker's default set
    bool no_new_privileges = true;             // "noNewPrivileges"
    std::vector<Rlimit> rlimits;

    bool operator==(const Process&) const = default;
};

struct Overlay {        // truman extension "root.overlay": a writable layer over a read-only image
    std::string lower;  // "lowerdir": the image's root filesystem
    std::string upper;  // "upperdir": this container's writes
    std::string work;   // "workdir": overlayfs scratch, same filesystem as upper
    // "layerdir": with it, lower is the image's layers, top-most first, as names in this
    // directory joined by ':' ("AB12CD:EF34GH"). The root is mounted from inside it, so each
    // layer costs its short name in the one page of mount data overlayfs accepts, not its
    // whole path (how Docker's overlay2 fits 120 layers on 6.1, which lacks lowerdir+).
    std::string layer_dir{};

    bool operator==(const Overlay&) const = default;
};

struct Root {
    std::string path;  // absolute; with an overlay, the (empty) directory it is mounted on
    bool readonly = false;
    // Mounted inside the container's own mount namespace only, so it never shows on the host
    // and goes away with the container.
    std::optional<Overlay> overlay;

    bool operator==(const Root&) const = default;
};

struct Mount {
    std::string destination;  // absolute path inside the container
    std::string type;         // "bind", "tmpfs", "proc", ...; empty with a "bind" option
    std::string source;
    std::vector<std::string> options;  // "ro", "nosuid", "rbind", "size=64m", ...

    bool operator==(const Mount&) const = default;
};

struct Device {        // linux.devices
    std::string path;  // "/dev/fuse"
    char type = 'c';   // 'c', 'b', 'u' (= 'c') or 'p'
    int64_t major = 0;
    int64_t minor = 0;
    std::optional<uint32_t> file_mode;  // "fileMode"
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;

    bool operator==(const Device&) const = default;
};

struct DeviceRule {  // linux.resources.devices
    bool allow = false;
    char type = 'a';               // 'a', 'c' or 'b'
    std::optional<int64_t> major;  // nullopt = any
    std::optional<int64_t> minor;
    std::string access = "rwm";

    bool operator==(const DeviceRule&) const = default;
};

struct Resources {
    struct Memory {
        std::optional<int64_t> limit;  // bytes
        std::optional<int64_t> swap;   // memory+swap, bytes (OCI semantics)
        bool operator==(const Memory&) const = default;
    } memory;
    struct Cpu {
        std::optional<uint64_t> shares;  // v1 shares; mapped to weight on v2
        std::optional<int64_t> quota;    // microseconds per period
        std::optional<uint64_t> period;  // microseconds
        std::string cpus;                // cpuset "0-1"
        std::string mems;
        bool operator==(const Cpu&) const = default;
    } cpu;
    struct Pids {
        std::optional<int64_t> limit;
        bool operator==(const Pids&) const = default;
    } pids;
    std::vector<DeviceRule> devices;  // appended to the default allow-list

    bool operator==(const Resources&) const = default;
};

struct SeccompArg {
    unsigned index = 0;
    uint64_t value = 0;
    uint64_t value_two = 0;  // "valueTwo"
    std::string op;          // "SCMP_CMP_EQ", ...

    bool operator==(const SeccompArg&) const = default;
};

struct SeccompRule {
    std::vector<std::string> names;
    std::string action;                 // "SCMP_ACT_ERRNO", ...
    std::optional<uint32_t> errno_ret;  // "errnoRet"
    std::vector<SeccompArg> args;

    bool operator==(const SeccompRule&) const = default;
};

struct Seccomp {
    std::string default_action = "SCMP_ACT_ERRNO";  // "defaultAction"
    std::optional<uint32_t> default_errno_ret;      // "defaultErrnoRet"
    std::vector<std::string> architectures;         // "SCMP_ARCH_X86_64", ...
    std::vector<SeccompRule> syscalls;

    bool operator==(const Seccomp&) const = default;
};

// truman's own extension ("truman" at the top level of the JSON): how the network namespace
// is wired. OCI leaves networking to hooks; a daemon user expects a working network.
// One port on a host bridge (mode bridge): a veth whose peer is made inside the container.
struct BridgePort {
    std::string bridge;          // the host bridge the host end joins ("masterBridge")
    std::string host_interface;  // the host end's name ("hostInterface")
    std::string interface;       // the peer's name inside the container, e.g. "eth0"
    std::string address;         // CIDR, e.g. "10.89.0.2/24"
    std::string gateway;         // default route via this address ("" = none)
    std::string address6;        // dual stack: IPv6 CIDR, e.g. "fd00::2/64" ("" = none)
    std::string gateway6;        // the IPv6 default route via this address ("" = none)

    bool operator==(const BridgePort&) const = default;
};

struct Network {
    enum class Mode { none, loopback, veth, bridge } mode = Mode::loopback;
    std::string host_interface;         // host end of the veth; generated when empty
    std::string address;                // container's eth0 address, CIDR, e.g. "10.88.0.2/16"
    std::string gateway;                // optional default route via this address
    std::vector<BridgePort> bridges{};  // mode bridge: one port per network, set by the daemon

    bool operator==(const Network&) const = default;
};

struct Linux {
    std::vector<Namespace> namespaces;
    std::vector<IdMapping> uid_mappings;  // "uidMappings"
    std::vector<IdMapping> gid_mappings;  // "gidMappings"
    Resources resources;
    std::string cgroups_path;        // "cgroupsPath", relative to truman's parent cgroup
    std::optional<Seccomp> seccomp;  // nullopt -> default profile
    bool seccomp_disabled = false;   // truman extension: run unconfined by seccomp
    // truman extension ("truman.seccompLearn"): learning mode, see truman/seccomp.hpp.
    bool seccomp_learn = false;
    std::optional<std::vector<std::string>> masked_paths;    // nullopt -> defaults
    std::optional<std::vector<std::string>> readonly_paths;  // nullopt -> defaults
    std::string
        rootfs_propagation;  // "rootfsPropagation":
                             // private|rprivate|slave|rslave|shared|rshared|unbindable|runbindable
    std::vector<Device> devices;

    bool operator==(const Linux&) const = default;
};

struct ContainerSpec {
    std::string oci_version = "1.0.2";
    Process process;
    Root root;
    std::string hostname;
    std::string domainname;
    std::vector<Mount> mounts;  // extra mounts, on top of truman's default /proc, /dev, /sys ...
    Linux linux;
    Network network;

    bool has_namespace(NamespaceType type) const;
    bool operator==(const ContainerSpec&) const = default;
};

// Parse an OCI config.json document. Throws truman::Error (kind invalid/unsupported) naming
// the offending field, e.g. "linux.namespaces[2].type: unknown namespace type \"foo\"".
ContainerSpec spec_from_json(const nlohmann::json& doc);
nlohmann::json spec_to_json(const ContainerSpec& spec);
// One OCI linux.seccomp object, or one OCI mount, its errors named below path: for the API,
// whose "seccomp" and "mounts[i]" are these objects.
Seccomp seccomp_from_json(const nlohmann::json& v, const std::string& path);
nlohmann::json seccomp_to_json(const Seccomp& seccomp);  // the OCI linux.seccomp object
Mount mount_from_json(const nlohmann::json& v, const std::string& path);

// Reject invalid values (relative root path, empty args, overlapping mappings, ...) before
// any process is created. Each rule lives in its concern's file (namespaces, mounts, devices,
// cgroups, capabilities, rlimits, seccomp, network); validate() asks each of them in turn.
// Throws truman::Error (invalid, or unsupported) whose field() is the OCI path of the value.
void validate(const ContainerSpec& spec);

// A spec with the pid, network, mount, ipc, uts and cgroup namespaces (no user namespace, like
// rootful Docker and podman), PATH in env, cwd "/", hostname "truman" and a loopback-only
// network: what a container gets when the caller says nothing else.
ContainerSpec default_spec(const std::string& rootfs, std::vector<std::string> args);

// truman.network.mode names: "none", "loopback", "veth" (network.cpp owns them). The parser
// throws truman::Error (invalid) naming field for any other name.
const char* to_string(Network::Mode mode) noexcept;
Network::Mode network_mode_from_string(const std::string& name, const std::string& field);

}  // namespace truman
