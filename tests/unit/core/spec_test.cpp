// ContainerSpec: parsing OCI config.json, rejecting what truman does not support, validation
// before any process exists, and the JSON round trip.
#include "truman/spec.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "truman/error.hpp"

namespace truman {
namespace {

using nlohmann::json;

// What `runc spec` writes, with the root made absolute and "terminal" false (truman attaches
// stdio and logs instead of allocating a console).
constexpr const char* kRuncConfig = R"({
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
        "capabilities": {
            "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": true
    },
    "root": {"path": "/var/lib/truman/bundle/rootfs", "readonly": true},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    ],
    "linux": {
        "resources": {"devices": [{"allow": false, "access": "rwm"}]},
        "namespaces": [
            {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
            {"type": "mount"}, {"type": "cgroup"}
        ],
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
            "/proc/scsi"
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
        ]
    }
})";

json runc_config() {
    return json::parse(kRuncConfig);
}

// The Error thrown by f, or a test failure if it throws anything else or nothing.
Error error_from(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e;
    } catch (const std::exception& e) {
        ADD_FAILURE() << "threw a non-truman exception: " << e.what();
        return Error(ErrorKind::system, 0, e.what());
    }
    ADD_FAILURE() << "did not throw";
    return Error(ErrorKind::system, 0, "did not throw");
}

void expect_parse_error(const json& doc, ErrorKind kind, const std::string& message_part) {
    Error e = error_from([&] { spec_from_json(doc); });
    EXPECT_EQ(to_string(e.kind()), std::string(to_string(kind))) << e.what();
    EXPECT_NE(std::string(e.what()).find(message_part), std::string::npos)
        << "message \"" << e.what() << "\" lacks \"" << message_part << "\"";
}

void expect_invalid(const ContainerSpec& spec, const std::string& message_part) {
    Error e = error_from([&] { validate(spec); });
    EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
    EXPECT_NE(std::string(e.what()).find(message_part), std::string::npos)
        << "message \"" << e.what() << "\" lacks \"" << message_part << "\"";
}

// runc's config with one JSON-pointer location replaced.
json runc_config_with(const std::string& pointer, json value) {
    json doc = runc_config();
    doc[json::json_pointer(pointer)] = std::move(value);
    return doc;
}

ContainerSpec valid_spec() {
    return default_spec("/var/lib/truman/rootfs", {"/bin/sh"});
}

ContainerSpec user_namespace_spec() {
    ContainerSpec spec = valid_spec();
    spec.linux.namespaces.push_back({NamespaceType::user, ""});
    spec.linux.uid_mappings = {{0, 100000, 65536}};
    spec.linux.gid_mappings = {{0, 100000, 65536}};
    return spec;
}

// Every field set to something other than its default.
ContainerSpec fully_populated_spec() {
    ContainerSpec spec;
    spec.oci_version = "1.1.0";
    spec.process.args = {"/bin/sh", "-c", "echo hi"};
    spec.process.env = {"PATH=/bin", "A=b=c"};
    spec.process.cwd = "/work";
    spec.process.user = {1000, 1001, {10, 20}, 022};
    spec.process.capabilities =
        // Each set different, and as the kernel wants them: effective within permitted,
        // ambient within permitted and inheritable.
        Capabilities{{"CAP_KILL", "CAP_CHOWN"},
                     {"CAP_CHOWN"},
                     {"CAP_CHOWN", "CAP_NET_RAW"},
                     {"CAP_NET_RAW", "CAP_SETGID"},
                     {"CAP_NET_RAW"}};
    spec.process.no_new_privileges = false;
    spec.process.rlimits = {{"RLIMIT_NOFILE", 4096, 1024}, {"RLIMIT_NPROC", 100, 50}};
    spec.root.path = "/run/truman/c1/rootfs";
    spec.root.readonly = true;
    spec.root.overlay = Overlay{"/images/busybox", "/run/truman/c1/upper", "/run/truman/c1/work"};
    spec.hostname = "box";
    spec.domainname = "example.org";
    spec.mounts = {{"/data", "bind", "/srv/data", {"rbind", "ro"}},
                   {"/tmp", "tmpfs", "tmpfs", {"size=64m"}}};
    Linux& l = spec.linux;
    l.namespaces = {{NamespaceType::pid, ""},   {NamespaceType::network, ""},
                    {NamespaceType::mount, ""}, {NamespaceType::ipc, "/proc/1/ns/ipc"},
                    {NamespaceType::uts, ""},   {NamespaceType::user, ""},
                    {NamespaceType::cgroup, ""}};
    l.uid_mappings = {{0, 100000, 1000}, {1000, 1000, 1}};
    l.gid_mappings = {{0, 200000, 65536}};
    l.resources.memory = {64 << 20, 128 << 20};
    l.resources.cpu = {512, 50000, 100000, "0-1", "0"};
    l.resources.pids.limit = 64;
    l.resources.devices = {{true, 'c', 10, 229, "rw"}, {false, 'b', std::nullopt, 3, "m"}};
    l.cgroups_path = "truman/c1";
    l.seccomp = Seccomp{"SCMP_ACT_ERRNO",
                        1,
                        {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"},
                        {{{"read", "write"}, "SCMP_ACT_ALLOW", std::nullopt, {}},
                         {{"personality"},
                          "SCMP_ACT_ERRNO",
                          38,
                          {{0, 0xffffffffULL, 0x8, "SCMP_CMP_MASKED_EQ"},
                           {1, 18446744073709551615ULL, 0, "SCMP_CMP_NE"}}}}};
    l.seccomp_disabled = false;
    l.masked_paths = std::vector<std::string>{"/proc/kcore"};
    l.readonly_paths = std::vector<std::string>{};
    l.rootfs_propagation = "rslave";
    l.devices = {{"/dev/fuse", 'c', 10, 229, 0666, 0, 0}, {"/dev/fifo", 'p', 0, 0, {}, 5, {}}};
    spec.network = {Network::Mode::veth, "vethc1", "10.88.0.2/16", "10.88.0.1"};
    return spec;
}

// ---------------------------------------------------------------------------------------------
// Parsing

TEST(Spec, ParsesRuncStyleConfig) {
    ContainerSpec spec = spec_from_json(runc_config());
    EXPECT_EQ(spec.oci_version, "1.0.2-dev");
    EXPECT_EQ(spec.process.args, std::vector<std::string>{"sh"});
    ASSERT_EQ(spec.process.env.size(), 2u);
    EXPECT_EQ(spec.process.env[1], "TERM=xterm");
    EXPECT_EQ(spec.process.cwd, "/");
    ASSERT_TRUE(spec.process.capabilities.has_value());
    EXPECT_EQ(spec.process.capabilities->bounding.size(), 3u);
    EXPECT_EQ(spec.process.capabilities->ambient[2], "CAP_NET_BIND_SERVICE");
    EXPECT_TRUE(spec.process.capabilities->inheritable.empty());
    ASSERT_EQ(spec.process.rlimits.size(), 1u);
    EXPECT_EQ(spec.process.rlimits[0], (Rlimit{"RLIMIT_NOFILE", 1024, 1024}));
    EXPECT_TRUE(spec.process.no_new_privileges);
    EXPECT_EQ(spec.root.path, "/var/lib/truman/bundle/rootfs");
    EXPECT_TRUE(spec.root.readonly);
    EXPECT_FALSE(spec.root.overlay.has_value());
    EXPECT_EQ(spec.hostname, "runc");
    ASSERT_EQ(spec.mounts.size(), 7u);
    EXPECT_EQ(spec.mounts[2].destination, "/dev/pts");
    EXPECT_EQ(spec.mounts[2].type, "devpts");
    EXPECT_EQ(spec.mounts[2].options[3], "ptmxmode=0666");
    ASSERT_EQ(spec.linux.namespaces.size(), 6u);
    EXPECT_EQ(spec.linux.namespaces[4].type, NamespaceType::mount);
    EXPECT_TRUE(spec.has_namespace(NamespaceType::cgroup));
    EXPECT_FALSE(spec.has_namespace(NamespaceType::user));
    ASSERT_EQ(spec.linux.resources.devices.size(), 1u);
    EXPECT_EQ(spec.linux.resources.devices[0], (DeviceRule{false, 'a', {}, {}, "rwm"}));
    ASSERT_TRUE(spec.linux.masked_paths.has_value());
    EXPECT_EQ(spec.linux.masked_paths->size(), 10u);
    ASSERT_TRUE(spec.linux.readonly_paths.has_value());
    EXPECT_EQ(spec.linux.readonly_paths->back(), "/proc/sysrq-trigger");
    EXPECT_FALSE(spec.linux.seccomp.has_value());
    // runc lists ambient capabilities and no inheritable ones; the kernel refuses to raise an
    // ambient capability that is not in both sets, so truman refuses the spec up front.
    expect_invalid(spec,
                   "process.capabilities.ambient: CAP_KILL must be in both the permitted "
                   "and the inheritable set");
    spec.process.capabilities->ambient.clear();
    EXPECT_NO_THROW(validate(spec));
}

TEST(Spec, RuncRelativeRootPathIsRejectedByValidate) {
    // `runc spec` writes "rootfs", relative to the bundle: truman wants it resolved first.
    ContainerSpec spec = spec_from_json(runc_config_with("/root/path", "rootfs"));
    expect_invalid(spec, "root.path: must be an absolute path");
}

TEST(Spec, AbsentFieldsKeepDefaults) {
    ContainerSpec spec = spec_from_json(json::object());
    ContainerSpec defaults;
    EXPECT_EQ(spec, defaults);
    EXPECT_FALSE(spec.process.capabilities.has_value());
    EXPECT_FALSE(spec.linux.seccomp.has_value());
    EXPECT_FALSE(spec.linux.masked_paths.has_value());
    EXPECT_FALSE(spec.linux.readonly_paths.has_value());
    EXPECT_TRUE(spec.process.no_new_privileges);
    EXPECT_EQ(spec.process.cwd, "/");
    EXPECT_EQ(spec.network.mode, Network::Mode::loopback);
}

TEST(Spec, NullFieldsCountAsAbsent) {
    ContainerSpec spec = spec_from_json(
        json::parse(R"({"process": {"capabilities": null, "rlimits": null}, "linux": null})"));
    EXPECT_FALSE(spec.process.capabilities.has_value());
    EXPECT_TRUE(spec.linux.namespaces.empty());
}

TEST(Spec, SeccompSectionSetsSeccomp) {
    ContainerSpec spec = spec_from_json(json::parse(R"({"linux": {"seccomp": {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_KILL",
                      "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}]}]}}})"));
    ASSERT_TRUE(spec.linux.seccomp.has_value());
    EXPECT_EQ(spec.linux.seccomp->default_errno_ret, 1u);
    ASSERT_EQ(spec.linux.seccomp->syscalls.size(), 1u);
    EXPECT_EQ(spec.linux.seccomp->syscalls[0].names[0], "ptrace");
    EXPECT_EQ(spec.linux.seccomp->syscalls[0].args[0], (SeccompArg{0, 16, 0, "SCMP_CMP_EQ"}));

    ContainerSpec empty = spec_from_json(json::parse(R"({"linux": {"seccomp": {}}})"));
    ASSERT_TRUE(empty.linux.seccomp.has_value());
    EXPECT_EQ(empty.linux.seccomp->default_action, "SCMP_ACT_ERRNO");
}

TEST(Spec, ParsesTrumanExtensions) {
    ContainerSpec spec = spec_from_json(json::parse(R"({
        "root": {"path": "/r", "overlay": {"lowerdir": "/l", "upperdir": "/u", "workdir": "/w"}},
        "truman": {"network": {"mode": "veth", "hostInterface": "th0", "address": "10.1.0.2/24",
                               "gateway": "10.1.0.1"},
                   "seccompDisabled": true}})"));
    ASSERT_TRUE(spec.root.overlay.has_value());
    EXPECT_EQ(*spec.root.overlay, (Overlay{"/l", "/u", "/w"}));
    EXPECT_EQ(spec.network, (Network{Network::Mode::veth, "th0", "10.1.0.2/24", "10.1.0.1"}));
    EXPECT_TRUE(spec.linux.seccomp_disabled);
}

TEST(Spec, OverlayLayerDirRoundTrips) {
    ContainerSpec spec = default_spec("/r", {"sh"});
    spec.root.overlay = Overlay{"AAAAAA:BBBBBB", "/u", "/w", "/store/l"};
    json doc = spec_to_json(spec);
    EXPECT_EQ(doc["root"]["overlay"]["layerdir"], "/store/l");
    EXPECT_EQ(spec_from_json(doc).root.overlay, spec.root.overlay);
    spec.root.overlay->layer_dir.clear();
    EXPECT_FALSE(spec_to_json(spec)["root"]["overlay"].contains("layerdir"));
}

TEST(Spec, RejectsUnknownNetworkMode) {
    expect_parse_error(json::parse(R"({"truman": {"network": {"mode": "macvlan"}}})"),
                       ErrorKind::invalid, "truman.network.mode: unknown network mode \"macvlan\"");
}

TEST(Spec, AcceptsTerminalFalseAndRejectsTerminalTrue) {
    EXPECT_NO_THROW(spec_from_json(runc_config_with("/process/terminal", false)));
    expect_parse_error(runc_config_with("/process/terminal", true), ErrorKind::unsupported,
                       "process.terminal: not supported");
}

TEST(Spec, IgnoresAnnotations) {
    json doc = runc_config();
    doc["annotations"] = {{"org.opencontainers.image.title", "busybox"}};
    EXPECT_EQ(spec_from_json(doc), spec_from_json(runc_config()));
}

TEST(Spec, RejectsUnsupportedFieldsByPath) {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"hooks": {"prestart": [{"path": "/bin/true"}]}})", "hooks: not supported"},
        {R"({"process": {"apparmorProfile": "docker-default"}})",
         "process.apparmorProfile: not supported"},
        {R"({"process": {"oomScoreAdj": 100}})", "process.oomScoreAdj: not supported"},
        {R"({"process": {"user": {"username": "x"}}})", "process.user.username: not supported"},
        {R"({"linux": {"sysctl": {"net.ipv4.ip_forward": "1"}}})", "linux.sysctl: not supported"},
        {R"({"linux": {"seccomp": {"listenerPath": "/run/seccomp.sock"}}})",
         "linux.seccomp.listenerPath: not supported"},
        {R"({"linux": {"seccomp": {"flags": ["SECCOMP_FILTER_FLAG_LOG"]}}})",
         "linux.seccomp.flags: not supported"},
        {R"({"linux": {"resources": {"blockIO": {"weight": 10}}}})",
         "linux.resources.blockIO: not supported"},
        {R"({"linux": {"resources": {"memory": {"swappiness": 10}}}})",
         "linux.resources.memory.swappiness: not supported"},
        {R"({"linux": {"resources": {"cpu": {"realtimeRuntime": 10}}}})",
         "linux.resources.cpu.realtimeRuntime: not supported"},
        {R"({"linux": {"namespaces": [{"type": "pid"}, {"type": "time"}]}})",
         "linux.namespaces[1].type: not supported"},
        {R"({"mounts": [{"destination": "/a", "uidMappings": [{"containerID": 0}]}]})",
         "mounts[0].uidMappings: not supported"},
        {R"({"windows": {"layerFolders": ["c:\\x"]}})", "windows: not supported"},
    };
    for (const auto& [doc, message] : cases) {
        SCOPED_TRACE(doc);
        expect_parse_error(json::parse(doc), ErrorKind::unsupported, message);
    }
}

TEST(Spec, AcceptsUnsupportedFieldsThatAskForNothing) {
    ContainerSpec spec = spec_from_json(json::parse(
        R"({"hooks": {}, "process": {"apparmorProfile": "", "args": ["sh"]},
            "linux": {"sysctl": {}, "seccomp": {"flags": []}}})"));
    EXPECT_EQ(spec.process.args, std::vector<std::string>{"sh"});
}

TEST(Spec, RejectsUnknownFieldsAtAnyLevel) {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"foo": 1})", "foo: unknown field"},
        {R"({"process": {"argv": ["sh"]}})", "process.argv: unknown field"},
        {R"({"root": {"overlay": {"lowerdir": "/l", "upperdir": "/u", "workdir": "/w",
                                  "extra": 1}}})",
         "root.overlay.extra: unknown field"},
        {R"({"linux": {"resources": {"cpu": {"weight": 5}}}})",
         "linux.resources.cpu.weight: unknown field"},
        {R"({"linux": {"seccomp": {"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ", "mask": 3}]}]}}})",
         "linux.seccomp.syscalls[0].args[0].mask: unknown field"},
        {R"({"truman": {"network": {"mtu": 1500}}})", "truman.network.mtu: unknown field"},
        {R"({"truman": {"privileged": true}})", "truman.privileged: unknown field"},
    };
    for (const auto& [doc, message] : cases) {
        SCOPED_TRACE(doc);
        expect_parse_error(json::parse(doc), ErrorKind::invalid, message);
    }
}

TEST(Spec, RejectsWrongTypesNamingTheField) {
    const std::pair<json, const char*> cases[] = {
        {json::parse(R"({"process": {"args": ["sh", 1]}})"), "process.args[1]: must be a string"},
        {json::parse(R"({"process": {"args": "sh"}})"), "process.args: must be an array"},
        {json::parse(R"({"process": "sh"})"), "process: must be an object"},
        {json::parse(R"({"root": {"readonly": "yes"}})"), "root.readonly: must be a boolean"},
        {json::parse(R"({"process": {"user": {"uid": -1}}})"),
         "process.user.uid: must not be negative"},
        {json::parse(R"({"process": {"user": {"uid": 4294967296}}})"),
         "process.user.uid: must be at most 4294967295"},
        {json::parse(R"({"process": {"user": {"gid": 1.5}}})"),
         "process.user.gid: must be an integer"},
        {json::parse(R"({"linux": {"resources": {"memory": {"limit": "1g"}}}})"),
         "linux.resources.memory.limit: must be an integer"},
        {json::parse(R"({"linux": {"resources": {"pids": {"limit": 9223372036854775808}}}})"),
         "linux.resources.pids.limit: must be at most"},
        {json::parse(R"({"linux": {"devices": [{"path": "/dev/x", "type": "cc"}]}})"),
         "linux.devices[0].type: must be a single character"},
        {json::parse(R"({"linux": {"namespaces": [{"type": "pid"}, {"type": "netns"}]}})"),
         "linux.namespaces[1].type: unknown namespace type \"netns\""},
        {json::parse(R"({"linux": {"namespaces": [{"path": "/proc/1/ns/net"}]}})"),
         "linux.namespaces[0].type: is required"},
        {json::parse(R"({"linux": {"uidMappings": [{"containerID": 0, "hostID": 0}]}})"),
         "linux.uidMappings[0].size: is required"},
        {json::parse(R"([1, 2])"), "config: must be an object"},
    };
    for (const auto& [doc, message] : cases) {
        SCOPED_TRACE(doc.dump());
        expect_parse_error(doc, ErrorKind::invalid, message);
    }
}

// Whatever garbage sits at whatever place, the caller gets a truman::Error (or a spec), never
// an nlohmann exception or a crash.
TEST(Spec, AnyWrongValueAnywhereGivesATrumanError) {
    json full = spec_to_json(fully_populated_spec());
    const json garbage[] = {nullptr,
                            true,
                            -1,
                            1.5,
                            "x",
                            json::array({1}),
                            json::object({{"k", 1}}),
                            18446744073709551615ULL};
    json flat = full.flatten();
    size_t errors = 0;
    for (const auto& [pointer, value] : flat.items()) {
        for (const json& bad : garbage) {
            json doc = full;
            doc[json::json_pointer(pointer)] = bad;
            try {
                spec_from_json(doc);
            } catch (const Error&) {
                ++errors;
            } catch (const std::exception& e) {
                ADD_FAILURE() << pointer << " = " << bad.dump() << ": " << e.what();
            }
        }
    }
    EXPECT_GT(errors, flat.size());
}

// ---------------------------------------------------------------------------------------------
// Round trip

TEST(Spec, RoundTripsEveryField) {
    ContainerSpec spec = fully_populated_spec();
    ASSERT_NO_THROW(validate(spec));
    json doc = spec_to_json(spec);
    ContainerSpec back = spec_from_json(doc);
    EXPECT_EQ(spec_to_json(back).dump(2), doc.dump(2));
    EXPECT_TRUE(back == spec);
    // Through text too, as the daemon stores it.
    EXPECT_TRUE(spec_from_json(json::parse(doc.dump())) == spec);
}

TEST(Spec, RoundTripsDefaultsAndDisabledSeccomp) {
    ContainerSpec spec = valid_spec();
    spec.linux.seccomp_disabled = true;
    spec.network.mode = Network::Mode::none;
    EXPECT_TRUE(spec_from_json(spec_to_json(spec)) == spec);
    ContainerSpec empty;
    EXPECT_TRUE(spec_from_json(spec_to_json(empty)) == empty);
}

TEST(Spec, WritesOciFieldNames) {
    json doc = spec_to_json(fully_populated_spec());
    EXPECT_EQ(doc["ociVersion"], "1.1.0");
    EXPECT_EQ(doc["process"]["noNewPrivileges"], false);
    EXPECT_EQ(doc["process"]["user"]["additionalGids"], json::array({10, 20}));
    EXPECT_EQ(doc["linux"]["uidMappings"][0]["containerID"], 0);
    EXPECT_EQ(doc["linux"]["uidMappings"][0]["hostID"], 100000);
    EXPECT_EQ(doc["linux"]["namespaces"][1]["type"], "network");
    EXPECT_EQ(doc["linux"]["seccomp"]["syscalls"][1]["errnoRet"], 38);
    EXPECT_EQ(doc["linux"]["devices"][0]["fileMode"], 0666);
    EXPECT_EQ(doc["root"]["overlay"]["lowerdir"], "/images/busybox");
    EXPECT_EQ(doc["truman"]["network"]["mode"], "veth");
}

// ---------------------------------------------------------------------------------------------
// Defaults and namespace names

TEST(Spec, DefaultSpecIsIsolatedWithoutUserNamespace) {
    ContainerSpec spec = default_spec("/rootfs", {"/bin/echo", "hi"});
    EXPECT_NO_THROW(validate(spec));
    EXPECT_EQ(spec.root.path, "/rootfs");
    EXPECT_EQ(spec.process.args, (std::vector<std::string>{"/bin/echo", "hi"}));
    EXPECT_EQ(spec.process.env,
              std::vector<std::string>{
                  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
    EXPECT_EQ(spec.process.cwd, "/");
    EXPECT_EQ(spec.hostname, "truman");
    EXPECT_EQ(spec.network.mode, Network::Mode::loopback);
    for (NamespaceType type : {NamespaceType::pid, NamespaceType::network, NamespaceType::mount,
                               NamespaceType::ipc, NamespaceType::uts, NamespaceType::cgroup}) {
        EXPECT_TRUE(spec.has_namespace(type)) << to_string(type);
    }
    EXPECT_FALSE(spec.has_namespace(NamespaceType::user));
    EXPECT_EQ(spec.linux.namespaces.size(), 6u);
    EXPECT_FALSE(spec.process.capabilities.has_value());
    EXPECT_FALSE(spec.linux.seccomp.has_value());
}

TEST(Spec, NamespaceNamesAndFlags) {
    struct Expected {
        NamespaceType type;
        const char* oci;
        const char* proc;
        int flag;
    };
    const Expected all[] = {{NamespaceType::pid, "pid", "pid", CLONE_NEWPID},
                            {NamespaceType::network, "network", "net", CLONE_NEWNET},
                            {NamespaceType::mount, "mount", "mnt", CLONE_NEWNS},
                            {NamespaceType::ipc, "ipc", "ipc", CLONE_NEWIPC},
                            {NamespaceType::uts, "uts", "uts", CLONE_NEWUTS},
                            {NamespaceType::user, "user", "user", CLONE_NEWUSER},
                            {NamespaceType::cgroup, "cgroup", "cgroup", CLONE_NEWCGROUP}};
    for (const Expected& e : all) {
        EXPECT_STREQ(to_string(e.type), e.oci);
        EXPECT_STREQ(proc_ns_name(e.type), e.proc);
        EXPECT_EQ(clone_flag(e.type), e.flag);
        EXPECT_EQ(namespace_type_from_string(e.oci), e.type);
    }
    EXPECT_FALSE(namespace_type_from_string("net").has_value());
    EXPECT_FALSE(namespace_type_from_string("").has_value());
    EXPECT_STREQ(to_string(Network::Mode::veth), "veth");
}

// ---------------------------------------------------------------------------------------------
// Validation: every rule rejects with the field named.

TEST(Spec, AcceptsValidSpecs) {
    EXPECT_NO_THROW(validate(valid_spec()));
    EXPECT_NO_THROW(validate(user_namespace_spec()));
    EXPECT_NO_THROW(validate(fully_populated_spec()));
}

TEST(Spec, RejectsEmptyRootPath) {
    ContainerSpec spec = valid_spec();
    spec.root.path = "";
    expect_invalid(spec, "root.path: must not be empty");
}

TEST(Spec, RejectsRelativeRootPath) {
    ContainerSpec spec = valid_spec();
    spec.root.path = "rootfs";
    expect_invalid(spec, "root.path: must be an absolute path");
}

TEST(Spec, RejectsRelativeOverlayDirs) {
    for (const char* field : {"lowerdir", "upperdir", "workdir"}) {
        ContainerSpec spec = valid_spec();
        spec.root.overlay = Overlay{"/l", "/u", "/w"};
        std::string which = field;
        (which == "lowerdir"   ? spec.root.overlay->lower
         : which == "upperdir" ? spec.root.overlay->upper
                               : spec.root.overlay->work) = "relative";
        expect_invalid(spec, "root.overlay." + which + ": must be an absolute path");
    }
}

TEST(Spec, RejectsEmptyArgs) {
    ContainerSpec spec = valid_spec();
    spec.process.args.clear();
    expect_invalid(spec, "process.args: must not be empty");
}

TEST(Spec, RejectsEmptyArgv0) {
    ContainerSpec spec = valid_spec();
    spec.process.args = {"", "x"};
    expect_invalid(spec, "process.args[0]: must not be empty");
}

TEST(Spec, RejectsEnvEntryWithoutEquals) {
    ContainerSpec spec = valid_spec();
    spec.process.env.push_back("NOVALUE");
    expect_invalid(spec, "process.env[1]: must be KEY=value");
}

TEST(Spec, RejectsEnvEntryWithEmptyKey) {
    ContainerSpec spec = valid_spec();
    spec.process.env.push_back("=value");
    expect_invalid(spec, "process.env[1]: empty variable name");
}

TEST(Spec, AcceptsEnvValuesWithEqualsAndEmptyValues) {
    ContainerSpec spec = valid_spec();
    spec.process.env = {"A=b=c", "EMPTY="};
    EXPECT_NO_THROW(validate(spec));
}

TEST(Spec, RejectsRelativeCwd) {
    ContainerSpec spec = valid_spec();
    spec.process.cwd = "work";
    expect_invalid(spec, "process.cwd: must be an absolute path");
}

TEST(Spec, RejectsUnknownAndInconsistentRlimits) {
    ContainerSpec spec = valid_spec();
    spec.process.rlimits = {{"RLIMIT_NOFILE", 10, 10}, {"RLIMIT_BOGUS", 1, 1}};
    expect_invalid(spec, "process.rlimits[1].type: unknown rlimit type \"RLIMIT_BOGUS\"");
    spec.process.rlimits = {{"RLIMIT_NOFILE", 10, 10}, {"RLIMIT_NOFILE", 1, 1}};
    expect_invalid(spec, "process.rlimits[1].type: duplicate");
    spec.process.rlimits = {{"RLIMIT_NOFILE", 10, 11}};
    expect_invalid(spec, "process.rlimits[0].soft: soft limit 11 exceeds hard limit 10");
}

TEST(Spec, RejectsUmaskAbove0777) {
    ContainerSpec spec = valid_spec();
    spec.process.user.umask = 01000;
    expect_invalid(spec, "process.user.umask");
}

TEST(Spec, RejectsHostnameWithoutUtsNamespace) {
    ContainerSpec spec = valid_spec();
    std::erase_if(spec.linux.namespaces,
                  [](const Namespace& ns) { return ns.type == NamespaceType::uts; });
    expect_invalid(spec, "hostname: needs a uts namespace");
    spec.hostname = "";
    spec.domainname = "example.org";
    expect_invalid(spec, "domainname: needs a uts namespace");
}

TEST(Spec, RejectsHostnameInUtsNamespaceJoinedByPath) {
    ContainerSpec spec = valid_spec();
    spec.linux.namespaces[4].path = "/proc/1/ns/uts";
    expect_invalid(spec, "hostname: cannot be set in a uts namespace joined by path");
    spec.hostname = "";
    EXPECT_NO_THROW(validate(spec));
}

TEST(Spec, RejectsHostnameLongerThan64) {
    ContainerSpec spec = valid_spec();
    spec.hostname = std::string(64, 'a');
    EXPECT_NO_THROW(validate(spec));
    spec.hostname = std::string(65, 'a');
    expect_invalid(spec, "hostname: must be at most 64 characters");
}

TEST(Spec, RejectsHostnameWithInvalidCharacters) {
    for (const char* name : {"has space", "under_score", "slash/x", "-dash", ".dot"}) {
        SCOPED_TRACE(name);
        ContainerSpec spec = valid_spec();
        spec.hostname = name;
        expect_invalid(spec, "hostname: ");
    }
    ContainerSpec spec = valid_spec();
    spec.hostname = "web-1.example";
    EXPECT_NO_THROW(validate(spec));
}

TEST(Spec, RejectsDuplicateNamespaceTypes) {
    ContainerSpec spec = valid_spec();
    spec.linux.namespaces.push_back({NamespaceType::pid, ""});
    expect_invalid(spec, "linux.namespaces[6].type: duplicate namespace type \"pid\"");
}

TEST(Spec, RejectsRelativeNamespacePath) {
    ContainerSpec spec = valid_spec();
    spec.linux.namespaces[1].path = "proc/1/ns/net";
    expect_invalid(spec, "linux.namespaces[1].path: must be an absolute path");
}

TEST(Spec, RejectsUserNamespaceWithoutUidMappings) {
    ContainerSpec spec = user_namespace_spec();
    spec.linux.uid_mappings.clear();
    expect_invalid(spec, "linux.uidMappings: a new user namespace needs uid mappings");
}

TEST(Spec, RejectsUserNamespaceWithoutGidMappings) {
    ContainerSpec spec = user_namespace_spec();
    spec.linux.gid_mappings.clear();
    expect_invalid(spec, "linux.gidMappings: a new user namespace needs gid mappings");
}

TEST(Spec, RejectsMappingsWhenJoiningUserNamespaceByPath) {
    ContainerSpec spec = user_namespace_spec();
    spec.linux.namespaces.back().path = "/proc/1/ns/user";
    expect_invalid(spec, "linux.uidMappings: must be empty when joining");
}

TEST(Spec, RejectsZeroSizeMapping) {
    ContainerSpec spec = user_namespace_spec();
    spec.linux.gid_mappings.push_back({70000, 300000, 0});
    expect_invalid(spec, "linux.gidMappings[1].size: must not be 0");
}

TEST(Spec, RejectsOverlappingContainerRanges) {
    ContainerSpec spec = user_namespace_spec();
    spec.linux.uid_mappings.push_back({65535, 500000, 10});
    expect_invalid(spec, "linux.uidMappings[1]: container range overlaps mapping 0");
}

TEST(Spec, RejectsOverlappingHostRanges) {
    ContainerSpec spec = user_namespace_spec();
    spec.linux.uid_mappings.push_back({70000, 100100, 1});
    expect_invalid(spec, "linux.uidMappings[1]: host range overlaps mapping 0");
}

TEST(Spec, AcceptsAdjacentRanges) {
    ContainerSpec spec = user_namespace_spec();
    spec.linux.uid_mappings.push_back({65536, 165536, 1});
    EXPECT_NO_THROW(validate(spec));
}

TEST(Spec, RejectsRangesBeyond32Bits) {
    ContainerSpec spec = user_namespace_spec();
    spec.linux.uid_mappings = {{0, 4294967295u, 2}};
    expect_invalid(spec, "linux.uidMappings[0]: hostID + size exceeds");
}

TEST(Spec, RejectsMoreThan340Mappings) {
    ContainerSpec spec = user_namespace_spec();
    spec.linux.uid_mappings.clear();
    for (uint32_t i = 0; i < 340; ++i) spec.linux.uid_mappings.push_back({i, 1000 + i, 1});
    EXPECT_NO_THROW(validate(spec));
    spec.linux.uid_mappings.push_back({340, 1340, 1});
    expect_invalid(spec, "linux.uidMappings: at most 340 mappings");
}

TEST(Spec, RejectsMappingsWithoutUserNamespace) {
    ContainerSpec spec = valid_spec();
    spec.linux.gid_mappings = {{0, 100000, 65536}};
    expect_invalid(spec, "linux.gidMappings: needs a user namespace");
}

TEST(Spec, RejectsRelativeMountDestination) {
    ContainerSpec spec = valid_spec();
    spec.mounts = {{"/ok", "tmpfs", "tmpfs", {}}, {"data", "tmpfs", "tmpfs", {}}};
    expect_invalid(spec, "mounts[1].destination: must be an absolute path");
}

TEST(Spec, RejectsDotDotInMountDestination) {
    for (const char* destination : {"/../etc", "/a/../../b", "/a/.."}) {
        SCOPED_TRACE(destination);
        ContainerSpec spec = valid_spec();
        spec.mounts = {{destination, "tmpfs", "tmpfs", {}}};
        expect_invalid(spec, "mounts[0].destination: must not contain \"..\"");
    }
    ContainerSpec spec = valid_spec();
    spec.mounts = {{"/a/..b/c..", "tmpfs", "tmpfs", {}}};
    EXPECT_NO_THROW(validate(spec));
}

TEST(Spec, RejectsMaskedAndReadonlyPathsOutsideTheContainer) {
    ContainerSpec spec = valid_spec();
    spec.linux.masked_paths = std::vector<std::string>{"/proc/kcore", "proc/keys"};
    expect_invalid(spec, "linux.maskedPaths[1]: must be an absolute path");
    spec.linux.masked_paths.reset();
    spec.linux.readonly_paths = std::vector<std::string>{"/proc/../etc"};
    expect_invalid(spec, "linux.readonlyPaths[0]: must not contain");
}

TEST(Spec, RejectsDevicePathOutsideDev) {
    for (const char* path : {"/etc/fuse", "dev/fuse", "/dev/", "/devices/x"}) {
        SCOPED_TRACE(path);
        ContainerSpec spec = valid_spec();
        spec.linux.devices = {{path, 'c', 10, 229, {}, {}, {}}};
        expect_invalid(spec, "linux.devices[0].path: must be a path under /dev/");
    }
}

TEST(Spec, RejectsDotDotInDevicePath) {
    ContainerSpec spec = valid_spec();
    spec.linux.devices = {{"/dev/../etc/shadow", 'c', 10, 229, {}, {}, {}}};
    expect_invalid(spec, "linux.devices[0].path: must not contain \"..\"");
}

TEST(Spec, RejectsUnknownDeviceType) {
    ContainerSpec spec = valid_spec();
    spec.linux.devices = {{"/dev/null", 'c', 1, 3, {}, {}, {}}, {"/dev/x", 'x', 1, 3, {}, {}, {}}};
    expect_invalid(spec, "linux.devices[1].type: must be c, b, u or p");
    for (char type : {'c', 'b', 'u', 'p'}) {
        spec.linux.devices[1].type = type;
        EXPECT_NO_THROW(validate(spec)) << type;
    }
}

// OCI: major and minor are required unless the node is a FIFO (they defaulted to 0:0).
TEST(Spec, DeviceNumbersAreRequiredUnlessFifo) {
    json fifo = {{"path", "/dev/f"}, {"type", "p"}};
    json node = {{"path", "/dev/x"}, {"type", "c"}, {"major", 1}};
    expect_parse_error(runc_config_with("/linux/devices", {node}), ErrorKind::invalid,
                       "linux.devices[0].minor: is required");
    node["minor"] = 3;
    ContainerSpec spec = spec_from_json(runc_config_with("/linux/devices", {node, fifo}));
    EXPECT_EQ(spec.linux.devices[0].minor, 3);
    EXPECT_EQ(spec.linux.devices[1].type, 'p');
}

TEST(Spec, RejectsNegativeDeviceNumbersAndBadFileMode) {
    ContainerSpec spec = valid_spec();
    spec.linux.devices = {{"/dev/x", 'c', -2, 3, {}, {}, {}}};
    expect_invalid(spec, "linux.devices[0].major");
    spec.linux.devices = {{"/dev/x", 'c', 1, 3, 010000, {}, {}}};
    expect_invalid(spec, "linux.devices[0].fileMode");
}

TEST(Spec, RejectsBadDeviceCgroupRules) {
    ContainerSpec spec = valid_spec();
    spec.linux.resources.devices = {{true, 'p', {}, {}, "rwm"}};
    expect_invalid(spec, "linux.resources.devices[0].type: must be a, c or b");
    spec.linux.resources.devices = {{true, 'c', 1, 3, "rwx"}};
    expect_invalid(spec, "linux.resources.devices[0].access");
    spec.linux.resources.devices = {{true, 'c', 1, 3, ""}};
    expect_invalid(spec, "linux.resources.devices[0].access");
}

TEST(Spec, WildcardDeviceNumberMinusOneMeansAny) {
    ContainerSpec spec = spec_from_json(json::parse(
        R"({"linux": {"resources": {"devices": [{"allow": true, "type": "c", "major": -1,
                                                  "minor": 3, "access": "r"}]}}})"));
    EXPECT_EQ(spec.linux.resources.devices[0], (DeviceRule{true, 'c', std::nullopt, 3, "r"}));
}

TEST(Spec, RejectsUnknownRootfsPropagation) {
    ContainerSpec spec = valid_spec();
    for (const char* mode : {"", "private", "rprivate", "slave", "rslave", "shared", "rshared",
                             "unbindable", "runbindable"}) {
        spec.linux.rootfs_propagation = mode;
        EXPECT_NO_THROW(validate(spec)) << mode;
    }
    spec.linux.rootfs_propagation = "recursive";
    expect_invalid(spec, "linux.rootfsPropagation: unknown propagation \"recursive\"");
}

TEST(Spec, MemoryLimitIsPositiveOrMinusOneForUnlimited) {
    for (int64_t limit : {int64_t{0}, int64_t{-2}}) {
        ContainerSpec spec = valid_spec();
        spec.linux.resources.memory.limit = limit;
        expect_invalid(spec,
                       "linux.resources.memory.limit: must be a positive number of bytes, "
                       "or -1 for unlimited");
    }
    ContainerSpec spec = valid_spec();
    spec.linux.resources.memory.limit = -1;  // OCI: unlimited, as the cgroup backends take it
    EXPECT_NO_THROW(validate(spec));
    spec.linux.resources.memory.swap = 1 << 30;  // memory+swap needs a finite memory limit
    expect_invalid(spec, "linux.resources.memory.swap: needs a finite");
}

TEST(Spec, RejectsSwapBelowLimit) {
    ContainerSpec spec = valid_spec();
    spec.linux.resources.memory.limit = 64 << 20;
    spec.linux.resources.memory.swap = 32 << 20;
    expect_invalid(spec, "linux.resources.memory.swap: must be at least the memory limit");
    spec.linux.resources.memory.swap = 64 << 20;
    EXPECT_NO_THROW(validate(spec));
    spec.linux.resources.memory.swap = -1;  // unlimited swap
    EXPECT_NO_THROW(validate(spec));
}

TEST(Spec, RejectsSwapWithoutLimit) {
    ContainerSpec spec = valid_spec();
    spec.linux.resources.memory.swap = 64 << 20;
    expect_invalid(spec,
                   "linux.resources.memory.swap: needs a finite linux.resources.memory.limit");
}

TEST(Spec, RejectsPidsLimitBelowMinusOne) {
    ContainerSpec spec = valid_spec();
    spec.linux.resources.pids.limit = -2;
    expect_invalid(spec, "linux.resources.pids.limit");
    spec.linux.resources.pids.limit = -1;  // OCI: unlimited
    EXPECT_NO_THROW(validate(spec));
    spec.linux.resources.pids.limit = 1;
    EXPECT_NO_THROW(validate(spec));
}

TEST(Spec, RejectsZeroCpuPeriod) {
    ContainerSpec spec = valid_spec();
    spec.linux.resources.cpu.period = 0;
    expect_invalid(spec, "linux.resources.cpu.period");
    spec.linux.resources.cpu.period = 100000;
    EXPECT_NO_THROW(validate(spec));
}

TEST(Spec, RejectsCpuQuotaBelowMinusOne) {
    ContainerSpec spec = valid_spec();
    spec.linux.resources.cpu.quota = -2;
    expect_invalid(spec, "linux.resources.cpu.quota");
    spec.linux.resources.cpu.quota = -1;  // unlimited
    EXPECT_NO_THROW(validate(spec));
    spec.linux.resources.cpu.quota = 50000;
    EXPECT_NO_THROW(validate(spec));
}

TEST(Spec, RejectsMalformedCpuset) {
    ContainerSpec spec = valid_spec();
    spec.linux.resources.cpu.cpus = "0-1,3";
    EXPECT_NO_THROW(validate(spec));
    for (const char* cpus : {"0-", "a", "1,,2", "1-2-3"}) {
        SCOPED_TRACE(cpus);
        spec.linux.resources.cpu.cpus = cpus;
        expect_invalid(spec, "linux.resources.cpu.cpus");
    }
}

TEST(Spec, RejectsVethAddressThatIsNotIpv4Cidr) {
    for (const char* address : {"10.88.0.2", "10.88.0.2/33", "10.88.0/16", "10.88.0.256/16",
                                "fd00::2/64", "10.88.0.2/", "10.88.0.2/1x", "/16"}) {
        SCOPED_TRACE(address);
        ContainerSpec spec = valid_spec();
        spec.network = {Network::Mode::veth, "", address, ""};
        expect_invalid(spec, "truman.network.address: ");
    }
    ContainerSpec spec = valid_spec();
    spec.network = {Network::Mode::veth, "", "10.88.0.2/16", "10.88.0.1"};
    EXPECT_NO_THROW(validate(spec));
}

TEST(Spec, RejectsInvalidGateway) {
    ContainerSpec spec = valid_spec();
    spec.network = {Network::Mode::veth, "", "10.88.0.2/16", "10.88.0"};
    expect_invalid(spec, "truman.network.gateway: \"10.88.0\" is not an IPv4 address");
    spec.network.gateway = "10.99.0.1";
    expect_invalid(spec, "truman.network.gateway: 10.99.0.1 is not in the subnet");
    spec.network.gateway = "10.88.0.2";
    expect_invalid(spec, "truman.network.gateway: must differ from the address");
}

TEST(Spec, RejectsVethWithoutOwnNetworkNamespace) {
    ContainerSpec spec = valid_spec();
    spec.network = {Network::Mode::veth, "", "10.88.0.2/16", ""};
    spec.linux.namespaces[1].path = "/run/netns/other";
    expect_invalid(spec, "truman.network.mode: \"veth\" needs a new network namespace");
}

TEST(Spec, RejectsVethSettingsWithoutVethMode) {
    ContainerSpec spec = valid_spec();
    spec.network.address = "10.88.0.2/16";
    expect_invalid(spec, "truman.network.address: only used with mode \"veth\"");
}

TEST(Spec, RejectsOverlongHostInterfaceName) {
    ContainerSpec spec = valid_spec();
    spec.network = {Network::Mode::veth, "a-very-long-name0", "", ""};
    expect_invalid(spec, "truman.network.hostInterface");
}

TEST(Spec, RejectsSeccompProfileWhenSeccompDisabled) {
    ContainerSpec spec = valid_spec();
    spec.linux.seccomp = Seccomp{};
    spec.linux.seccomp_disabled = true;
    expect_invalid(spec, "linux.seccomp: conflicts with truman.seccompDisabled");
}

TEST(Spec, RejectsUnknownSeccompActionsAndOperators) {
    ContainerSpec spec = valid_spec();
    spec.linux.seccomp = Seccomp{"SCMP_ACT_BOGUS", {}, {}, {}};
    expect_invalid(spec, "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_BOGUS\"");
    spec.linux.seccomp =
        Seccomp{"SCMP_ACT_ERRNO",
                {},
                {},
                {{{"read"}, "SCMP_ACT_ALLOW", {}, {}}, {{"write"}, "ALLOW", {}, {}}}};
    expect_invalid(spec, "linux.seccomp.syscalls[1].action");
    spec.linux.seccomp->syscalls[1] = {{"write"}, "SCMP_ACT_ALLOW", {}, {{0, 1, 0, "SCMP_CMP_XX"}}};
    expect_invalid(spec, "linux.seccomp.syscalls[1].args[0].op");
    spec.linux.seccomp->syscalls[1] = {{}, "SCMP_ACT_ALLOW", {}, {}};
    expect_invalid(spec, "linux.seccomp.syscalls[1].names: must not be empty");
}

TEST(Spec, RejectsNotifySeccompActionAsUnsupported) {
    ContainerSpec spec = valid_spec();
    spec.linux.seccomp = Seccomp{"SCMP_ACT_NOTIFY", {}, {}, {}};
    Error e = error_from([&] { validate(spec); });
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("linux.seccomp.defaultAction"), std::string::npos);
}

TEST(Spec, RejectsOciMajorVersionOtherThanOne) {
    ContainerSpec spec = valid_spec();
    spec.oci_version = "2.0.0";
    Error e = error_from([&] { validate(spec); });
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("ociVersion"), std::string::npos);
}

}  // namespace
}  // namespace truman
