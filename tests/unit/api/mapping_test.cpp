// The create body -> CreateRequest mapping (every field, every type error names its field,
// unknown fields rejected) and the service types -> JSON.
#include "truman/api/mapping.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "truman/error.hpp"
#include "truman/spec.hpp"

namespace truman::api {
namespace {

using nlohmann::json;

// What the API does with a body, short of the service's side effects: the mapping, then the
// spec's validation as the service runs it (with a stand-in for an image's root), its errors
// named in the body's terms as the create handler names them.
daemon::CreateRequest map_and_validate(const json& body) {
    daemon::CreateRequest request = create_request_from_json(body);
    ContainerSpec spec = request.spec;
    if (!request.image.empty()) spec.root.path = "/";
    try {
        validate(spec);
    } catch (const Error& e) {
        throw in_api_terms(e);
    }
    return request;
}

// The error a body produces, or "" if it is accepted.
std::string error_of(const json& body) {
    try {
        map_and_validate(body);
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(CreateBody, MinimalRootfsGetsTheDefaults) {
    auto req = create_request_from_json({{"rootfs", "/srv/root"}});
    EXPECT_FALSE(req.name);
    EXPECT_EQ(req.image, "");
    EXPECT_EQ(req.spec.root.path, "/srv/root");
    EXPECT_EQ(req.spec.process.args, std::vector<std::string>{"/bin/sh"});
    EXPECT_TRUE(req.spec.process.no_new_privileges);
    for (auto ns : {NamespaceType::pid, NamespaceType::network, NamespaceType::mount,
                    NamespaceType::ipc, NamespaceType::uts, NamespaceType::cgroup})
        EXPECT_TRUE(req.spec.has_namespace(ns)) << to_string(ns);
    EXPECT_FALSE(req.spec.process.capabilities) << "absent cap_add/cap_drop keep the default set";
    EXPECT_FALSE(req.spec.linux.seccomp_disabled);
}

TEST(CreateBody, ImageLeavesTheRootToTheService) {
    auto req = create_request_from_json({{"image", "busybox"}, {"cmd", {"echo", "hi"}}});
    EXPECT_EQ(req.image, "busybox");
    EXPECT_EQ(req.spec.root.path, "");
    EXPECT_EQ(req.spec.process.args, (std::vector<std::string>{"echo", "hi"}));
    EXPECT_TRUE(req.chosen.args);
    EXPECT_FALSE(req.chosen.cwd);
    EXPECT_FALSE(req.chosen.user);
    EXPECT_FALSE(req.entrypoint);
}

// What the body leaves out, the image's config fills in: the request says what was chosen.
TEST(CreateBody, ImageDefaultsAreLeftToTheImage) {
    auto req = create_request_from_json(
        {{"image", "app"}, {"entrypoint", json::array()}, {"env", {"A=1"}}});
    EXPECT_FALSE(req.chosen.args);
    ASSERT_TRUE(req.entrypoint);
    EXPECT_TRUE(req.entrypoint->empty());
    // No default PATH over the image's own.
    EXPECT_EQ(req.spec.process.env, (std::vector<std::string>{"A=1"}));
    auto with = create_request_from_json(
        {{"image", "app"}, {"entrypoint", {"/init", "-v"}}, {"cwd", "/srv"}});
    EXPECT_EQ(*with.entrypoint, (std::vector<std::string>{"/init", "-v"}));
    EXPECT_TRUE(with.chosen.cwd);
    EXPECT_EQ(error_of({{"image", "app"}, {"entrypoint", "/init"}}).rfind("entrypoint", 0), 0u);
}

TEST(CreateBody, ExactlyOneOfImageAndRootfs) {
    EXPECT_EQ(error_of({{"image", "busybox"}, {"rootfs", "/r"}}).rfind("image: ", 0), 0u);
    EXPECT_EQ(error_of(json::object()).rfind("image: ", 0), 0u);
    EXPECT_EQ(error_of({{"rootfs", "relative/root"}}).rfind("rootfs: ", 0), 0u);
    EXPECT_EQ(error_of({{"image", ""}}).rfind("image: ", 0), 0u);
}

TEST(CreateBody, EveryFieldIsMapped) {
    json body = {
        {"name", "web-1.a_b"},
        {"rootfs", "/srv/root"},
        {"cmd", {"/bin/httpd", "-f"}},
        {"env", {"FOO=bar", "PATH=/bin"}},
        {"cwd", "/www"},
        {"user", "1000:100"},
        {"hostname", "web"},
        {"read_only", true},
        {"network", {{"mode", "veth"}, {"address", "10.88.0.2/16"}, {"gateway", "10.88.0.1"}}},
        {"namespaces", {{"ipc", false}, {"user", true}}},
        {"uid_mappings", {{{"container_id", 0}, {"host_id", 100000}, {"size", 65536}}}},
        {"gid_mappings", {{{"container_id", 0}, {"host_id", 200000}, {"size", 65536}}}},
        {"cap_drop", {"ALL"}},
        {"cap_add", {"net_admin", "CAP_CHOWN"}},
        {"no_new_privileges", false},
        {"resources",
         {{"memory", 64 << 20},
          {"memory_swap", 128 << 20},
          {"cpu_shares", 512},
          {"cpu_quota", 50000},
          {"cpu_period", 100000},
          {"cpuset_cpus", "0"},
          {"cpuset_mems", "0"},
          {"pids_limit", 64}}},
        {"rlimits", {{{"type", "nofile"}, {"soft", 1024}, {"hard", 2048}}}},
        {"mounts",
         {{{"source", "/srv/data"}, {"destination", "/data"}, {"options", {"ro"}}},
          {{"type", "tmpfs"}, {"source", "tmpfs"}, {"destination", "/scratch"}}}},
        {"devices",
         {{{"path", "/dev/fuse"},
           {"type", "c"},
           {"major", 10},
           {"minor", 229},
           {"file_mode", 0666},
           {"uid", 0},
           {"gid", 0}}}},
        {"seccomp", "unconfined"},
    };
    auto req = create_request_from_json(body);
    const ContainerSpec& s = req.spec;
    EXPECT_EQ(req.name, "web-1.a_b");
    EXPECT_EQ(s.root.path, "/srv/root");
    EXPECT_TRUE(s.root.readonly);
    EXPECT_EQ(s.process.args, (std::vector<std::string>{"/bin/httpd", "-f"}));
    EXPECT_TRUE(has(s.process.env, "FOO=bar"));
    EXPECT_TRUE(has(s.process.env, "PATH=/bin"));
    EXPECT_EQ(std::count_if(s.process.env.begin(), s.process.env.end(),
                            [](auto& e) { return e.rfind("PATH=", 0) == 0; }),
              1)
        << "a given variable replaces the default one";
    EXPECT_EQ(s.process.cwd, "/www");
    EXPECT_EQ(s.process.user.uid, 1000u);
    EXPECT_EQ(s.process.user.gid, 100u);
    EXPECT_EQ(s.hostname, "web");
    EXPECT_EQ(s.network.mode, Network::Mode::veth);
    EXPECT_EQ(s.network.address, "10.88.0.2/16");
    EXPECT_EQ(s.network.gateway, "10.88.0.1");
    EXPECT_FALSE(s.has_namespace(NamespaceType::ipc));
    EXPECT_TRUE(s.has_namespace(NamespaceType::user));
    EXPECT_TRUE(s.has_namespace(NamespaceType::pid));
    ASSERT_EQ(s.linux.uid_mappings.size(), 1u);
    EXPECT_EQ(s.linux.uid_mappings[0].host_id, 100000u);
    EXPECT_EQ(s.linux.uid_mappings[0].size, 65536u);
    ASSERT_EQ(s.linux.gid_mappings.size(), 1u);
    EXPECT_EQ(s.linux.gid_mappings[0].host_id, 200000u);
    ASSERT_TRUE(s.process.capabilities);
    auto bounding = s.process.capabilities->bounding;
    std::sort(bounding.begin(), bounding.end());
    EXPECT_EQ(bounding, (std::vector<std::string>{"CAP_CHOWN", "CAP_NET_ADMIN"}));
    EXPECT_EQ(s.process.capabilities->effective, s.process.capabilities->bounding);
    EXPECT_TRUE(s.process.capabilities->ambient.empty());
    EXPECT_FALSE(s.process.no_new_privileges);
    EXPECT_EQ(s.linux.resources.memory.limit, 64 << 20);
    EXPECT_EQ(s.linux.resources.memory.swap, 128 << 20);
    EXPECT_EQ(s.linux.resources.cpu.shares, 512u);
    EXPECT_EQ(s.linux.resources.cpu.quota, 50000);
    EXPECT_EQ(s.linux.resources.cpu.period, 100000u);
    EXPECT_EQ(s.linux.resources.cpu.cpus, "0");
    EXPECT_EQ(s.linux.resources.cpu.mems, "0");
    EXPECT_EQ(s.linux.resources.pids.limit, 64);
    ASSERT_EQ(s.process.rlimits.size(), 1u);
    EXPECT_EQ(s.process.rlimits[0].type, "RLIMIT_NOFILE");
    EXPECT_EQ(s.process.rlimits[0].soft, 1024u);
    EXPECT_EQ(s.process.rlimits[0].hard, 2048u);
    ASSERT_EQ(s.mounts.size(), 2u);
    EXPECT_EQ(s.mounts[0].type, "bind");
    EXPECT_EQ(s.mounts[0].source, "/srv/data");
    EXPECT_TRUE(has(s.mounts[0].options, "ro"));
    EXPECT_TRUE(has(s.mounts[0].options, "rbind"));
    EXPECT_EQ(s.mounts[1].type, "tmpfs");
    EXPECT_EQ(s.mounts[1].destination, "/scratch");
    ASSERT_EQ(s.linux.devices.size(), 1u);
    EXPECT_EQ(s.linux.devices[0].path, "/dev/fuse");
    EXPECT_EQ(s.linux.devices[0].major, 10);
    EXPECT_EQ(s.linux.devices[0].minor, 229);
    EXPECT_EQ(s.linux.devices[0].file_mode, 0666u);
    ASSERT_FALSE(s.linux.resources.devices.empty());
    EXPECT_TRUE(s.linux.resources.devices.back().allow);
    EXPECT_EQ(s.linux.resources.devices.back().major, 10);
    EXPECT_TRUE(s.linux.seccomp_disabled);
}

TEST(CreateBody, SeccompLearnAloneOrNextToAProfile) {
    auto req = create_request_from_json({{"rootfs", "/r"}, {"seccomp", {{"learn", true}}}});
    EXPECT_TRUE(req.spec.linux.seccomp_learn);
    EXPECT_FALSE(req.spec.linux.seccomp);  // the default profile
    req = create_request_from_json(
        {{"rootfs", "/r"}, {"seccomp", {{"learn", true}, {"defaultAction", "SCMP_ACT_ERRNO"}}}});
    EXPECT_TRUE(req.spec.linux.seccomp_learn);
    ASSERT_TRUE(req.spec.linux.seccomp);
    EXPECT_TRUE(req.spec.linux.seccomp->syscalls.empty());
    req = create_request_from_json({{"rootfs", "/r"}, {"seccomp", "default"}});
    EXPECT_FALSE(req.spec.linux.seccomp_learn);
    EXPECT_EQ(error_of({{"rootfs", "/r"}, {"seccomp", {{"learn", 1}}}}),
              "seccomp.learn: must be a boolean");
}

TEST(CreateBody, SeccompDefaultAndOciProfile) {
    auto req = create_request_from_json({{"rootfs", "/r"}, {"seccomp", "default"}});
    EXPECT_FALSE(req.spec.linux.seccomp_disabled);
    EXPECT_FALSE(req.spec.linux.seccomp);

    req = create_request_from_json(
        {{"rootfs", "/r"},
         {"seccomp",
          {{"defaultAction", "SCMP_ACT_ALLOW"},
           {"syscalls", {{{"names", {"mkdir"}}, {"action", "SCMP_ACT_ERRNO"}}}}}}});
    ASSERT_TRUE(req.spec.linux.seccomp);
    EXPECT_EQ(req.spec.linux.seccomp->default_action, "SCMP_ACT_ALLOW");

    EXPECT_EQ(error_of({{"rootfs", "/r"}, {"seccomp", "strict"}}).rfind("seccomp: ", 0), 0u);
    EXPECT_EQ(error_of({{"rootfs", "/r"}, {"seccomp", 1}}).rfind("seccomp: ", 0), 0u);
    // The profile is OCI's linux.seccomp: its own fields are named below "seccomp".
    EXPECT_EQ(error_of({{"rootfs", "/r"}, {"seccomp", {{"defaultAction", 5}}}}),
              "seccomp.defaultAction: must be a string");
    EXPECT_EQ(error_of({{"rootfs", "/r"},
                        {"seccomp", {{"syscalls", {{{"names", {"read"}}, {"action", "KILL"}}}}}}}),
              "seccomp.syscalls[0].action: unknown action \"KILL\"");
}

TEST(CreateBody, SharingTheHostNetworkTurnsWiringOff) {
    auto req = create_request_from_json({{"rootfs", "/r"}, {"namespaces", {{"network", false}}}});
    EXPECT_FALSE(req.spec.has_namespace(NamespaceType::network));
    EXPECT_EQ(req.spec.network.mode, Network::Mode::none);
    EXPECT_EQ(error_of({{"rootfs", "/r"},
                        {"namespaces", {{"network", false}}},
                        {"network", {{"mode", "loopback"}}}})
                  .rfind("network: ", 0),
              0u);
    req = create_request_from_json({{"rootfs", "/r"}, {"network", "none"}});
    EXPECT_EQ(req.spec.network.mode, Network::Mode::none);
}

TEST(CreateBody, CapDropAllAndCapAddAll) {
    auto req = create_request_from_json({{"rootfs", "/r"}, {"cap_drop", {"all"}}});
    ASSERT_TRUE(req.spec.process.capabilities);
    EXPECT_TRUE(req.spec.process.capabilities->bounding.empty());
    req = create_request_from_json({{"rootfs", "/r"}, {"cap_add", {"ALL"}}});
    EXPECT_TRUE(has(req.spec.process.capabilities->bounding, "CAP_NET_ADMIN"));
    EXPECT_TRUE(has(req.spec.process.capabilities->bounding, "CAP_CHOWN"));
}

TEST(CreateBody, NamesAreChecked) {
    EXPECT_EQ(error_of({{"rootfs", "/r"}, {"name", "ok_Name-1.2"}}), "");
    EXPECT_EQ(error_of({{"rootfs", "/r"}, {"name", std::string(128, 'a')}}), "");
    for (const std::string& bad :
         std::vector<std::string>{"", "-lead", ".lead", "has space", "sl/ash", "ünï",
                                  std::string(129, 'a'), std::string("nul\0x", 5)})
        EXPECT_EQ(error_of({{"rootfs", "/r"}, {"name", bad}}).rfind("name: ", 0), 0u) << bad;
}

TEST(CreateBody, NumericUsersAreMappedAndNamesLeftToTheService) {
    auto req = create_request_from_json({{"rootfs", "/r"}, {"user", "1000"}});
    EXPECT_EQ(req.spec.process.user.uid, 1000u);
    EXPECT_EQ(req.spec.process.user.gid, 0u);
    EXPECT_EQ(req.user, "1000");
    EXPECT_TRUE(req.chosen.user);
    auto named = create_request_from_json({{"image", "busybox"}, {"user", "app:staff"}});
    EXPECT_EQ(named.user, "app:staff");
    EXPECT_EQ(named.spec.process.user.uid, 0u);
    for (std::string bad : {"", "1000:", ":100", "1:2:3", "4294967295", "99999999999"})
        EXPECT_EQ(error_of({{"rootfs", "/r"}, {"user", bad}}).rfind("user: ", 0), 0u) << bad;
}

// Each case: a body that is wrong in exactly one place, and the field the error must name.
TEST(CreateBody, TypeErrorsNameTheirField) {
    const json base = {{"rootfs", "/r"}};
    std::vector<std::pair<json, std::string>> cases = {
        {{{"name", 5}}, "name"},
        {{{"cmd", "echo hi"}}, "cmd"},
        {{{"cmd", json::array()}}, "cmd"},
        {{{"cmd", {"echo", 1}}}, "cmd[1]"},
        {{{"env", {"FOO"}}}, "env[0]"},
        {{{"env", {"=x"}}}, "env[0]"},
        {{{"env", {1}}}, "env[0]"},
        {{{"env", "FOO=bar"}}, "env"},
        {{{"cwd", "relative"}}, "cwd"},
        {{{"cwd", 1}}, "cwd"},
        {{{"user", 1000}}, "user"},
        {{{"hostname", false}}, "hostname"},
        {{{"read_only", "yes"}}, "read_only"},
        {{{"network", 1}}, "network"},
        {{{"network", {{"mode", "bridge"}}}}, "network.mode"},
        {{{"network", {{"mode", "veth"}}}}, "network.address"},
        {{{"network", {{"mode", "veth"}, {"address", 1}}}}, "network.address"},
        {{{"network", {{"mode", "none"}, {"address", "10.0.0.2/8"}}}}, "network.address"},
        {{{"namespaces", {{"pid", "no"}}}}, "namespaces.pid"},
        {{{"namespaces", {"pid"}}}, "namespaces"},
        {{{"uid_mappings", {{{"container_id", 0}, {"host_id", -1}, {"size", 1}}}}},
         "uid_mappings[0].host_id"},
        {{{"uid_mappings", {{{"container_id", 0}}}}}, "uid_mappings[0].host_id"},
        {{{"gid_mappings", 1}}, "gid_mappings"},
        {{{"cap_add", {"NOT_A_CAP"}}}, "cap_add[0]"},
        {{{"cap_drop", {1}}}, "cap_drop[0]"},
        {{{"cap_add", "NET_ADMIN"}}, "cap_add"},
        {{{"no_new_privileges", 1}}, "no_new_privileges"},
        {{{"resources", 1}}, "resources"},
        {{{"resources", {{"memory", "64m"}}}}, "resources.memory"},
        {{{"resources", {{"memory", -5}}}}, "resources.memory"},
        {{{"resources", {{"memory", 1.5}}}}, "resources.memory"},
        {{{"resources", {{"cpu_shares", true}}}}, "resources.cpu_shares"},
        {{{"resources", {{"pids_limit", "10"}}}}, "resources.pids_limit"},
        {{{"resources", {{"cpuset_cpus", 0}}}}, "resources.cpuset_cpus"},
        {{{"resources", {{"memory", 18446744073709551615ULL}}}}, "resources.memory"},
        {{{"rlimits", {{{"type", 7}, {"soft", 1}}}}}, "rlimits[0].type"},
        {{{"rlimits", {{{"type", "nofile"}, {"soft", -1}}}}}, "rlimits[0].soft"},
        {{{"rlimits", {{{"type", "nofile"}}}}}, "rlimits[0].soft"},
        {{{"rlimits", {1}}}, "rlimits[0]"},
        {{{"mounts", {{{"source", "/a"}}}}}, "mounts[0].destination"},
        {{{"mounts", {{{"source", "/a"}, {"destination", "rel"}}}}}, "mounts[0].destination"},
        {{{"mounts", {{{"source", "a"}, {"destination", "/a"}}}}}, "mounts[0].source"},
        {{{"mounts", {{{"destination", "/a"}, {"type", "tmpfs"}, {"options", "ro"}}}}},
         "mounts[0].options"},
        {{{"devices", {{{"path", "/dev/x"}, {"type", "q"}, {"major", 1}, {"minor", 1}}}}},
         "devices[0].type"},
        {{{"devices", {{{"path", "/dev/x"}, {"type", "c"}}}}}, "devices[0].major"},
        {{{"devices", {{{"path", "/dev/x"}, {"major", "1"}, {"minor", 1}}}}}, "devices[0].major"},
        {{{"devices", {{{"path", "dev/x"}, {"major", 1}, {"minor", 1}}}}}, "devices[0].path"},
    };
    for (auto& [patch, field] : cases) {
        json body = base;
        body.update(patch);
        std::string error = error_of(body);
        EXPECT_EQ(error.rfind(field + ": ", 0), 0u)
            << patch.dump() << " -> \"" << error << "\", expected it to name " << field;
    }
}

TEST(CreateBody, UnknownFieldsAreRejectedByName) {
    EXPECT_EQ(error_of({{"rootfs", "/r"}, {"memroy", 1}}), "memroy: unknown field");
    EXPECT_EQ(error_of({{"rootfs", "/r"}, {"resources", {{"memroy", 1}}}}),
              "resources.memroy: unknown field");
    EXPECT_EQ(error_of({{"rootfs", "/r"}, {"network", {{"mode", "none"}, {"x", 1}}}}),
              "network.x: unknown field");
    EXPECT_EQ(error_of({{"rootfs", "/r"}, {"namespaces", {{"time", false}}}}),
              "namespaces.time: unknown field");
    EXPECT_EQ(
        error_of({{"rootfs", "/r"},
                  {"mounts", {{{"destination", "/a"}, {"type", "tmpfs"}, {"propagation", "x"}}}}}),
        "mounts[0].propagation: unknown field");
}

TEST(CreateBody, NonObjectBodiesAreRejected) {
    for (json body : {json::array(), json(1), json("x"), json(nullptr)})
        EXPECT_EQ(error_of(body).rfind("body: ", 0), 0u) << body.dump();
}

TEST(CreateBody, NullMeansDefault) {
    auto req = create_request_from_json({{"rootfs", "/r"}, {"cmd", nullptr}, {"name", nullptr}});
    EXPECT_EQ(req.spec.process.args, std::vector<std::string>{"/bin/sh"});
    EXPECT_FALSE(req.name);
}

TEST(ToJson, ContainerInfoHasEveryField) {
    daemon::ContainerInfo info;
    info.id = std::string(64, 'a');
    info.name = "web";
    info.image = "busybox";
    info.rootfs = "/var/lib/truman/x/rootfs";
    info.cmd = {"echo", "hi"};
    info.created_at = "2026-01-01T00:00:00.000000000Z";
    info.state.status = daemon::Status::exited;
    info.state.exit_code = 137;
    info.state.signal = 9;
    info.state.oom_killed = true;
    info.state.started_at = "s";
    info.state.finished_at = "f";
    json j = to_json(info);
    EXPECT_EQ(j["id"], info.id);
    EXPECT_EQ(j["name"], "web");
    EXPECT_EQ(j["image"], "busybox");
    EXPECT_EQ(j["rootfs"], info.rootfs);
    EXPECT_EQ(j["cmd"], json({"echo", "hi"}));
    EXPECT_EQ(j["created_at"], info.created_at);
    EXPECT_EQ(j["state"]["status"], "exited");
    EXPECT_EQ(j["state"]["pid"], 0);
    EXPECT_EQ(j["state"]["exit_code"], 137);
    EXPECT_EQ(j["state"]["signal"], 9);
    EXPECT_EQ(j["state"]["oom_killed"], true);
    EXPECT_EQ(j["state"]["started_at"], "s");
    EXPECT_EQ(j["state"]["finished_at"], "f");

    info.state = {};
    info.state.status = daemon::Status::running;
    info.state.pid = 1234;
    j = to_json(info);
    EXPECT_EQ(j["state"]["status"], "running");
    EXPECT_EQ(j["state"]["pid"], 1234);
    EXPECT_TRUE(j["state"]["exit_code"].is_null());
}

TEST(ToJson, EventsAndLogLines) {
    daemon::Event e{"t", "die", "id", "web", 3};
    EXPECT_EQ(
        to_json(e),
        json({{"time", "t"}, {"type", "die"}, {"id", "id"}, {"name", "web"}, {"exit_code", 3}}));
    e.exit_code.reset();
    EXPECT_FALSE(to_json(e).contains("exit_code"));
    EXPECT_EQ(to_json(daemon::LogLine{"stderr", "t", "oops"}),
              json({{"stream", "stderr"}, {"time", "t"}, {"log", "oops"}}));
}

}  // namespace
}  // namespace truman::api

namespace truman::api {
namespace {

// Bodies derived from a valid one by replacing one member with values of every JSON type:
// each must be accepted or refused with a truman::Error, never anything else.
TEST(CreateBody, AnyValueInAnyFieldIsAcceptedOrRefusedCleanly) {
    const json valid = {
        {"name", "n"},
        {"rootfs", "/r"},
        {"cmd", {"a"}},
        {"env", {"A=b"}},
        {"cwd", "/"},
        {"user", "1"},
        {"hostname", "h"},
        {"read_only", true},
        {"network", {{"mode", "veth"}, {"address", "10.0.0.2/24"}}},
        {"namespaces", {{"ipc", false}}},
        {"cap_add", {"CHOWN"}},
        {"cap_drop", {"KILL"}},
        {"no_new_privileges", true},
        {"seccomp", "default"},
        {"resources", {{"memory", 1 << 20}, {"pids_limit", 10}}},
        {"rlimits", {{{"type", "nofile"}, {"soft", 1}}}},
        {"mounts", {{{"destination", "/t"}, {"type", "tmpfs"}, {"source", "tmpfs"}}}},
        {"devices", {{{"path", "/dev/null2"}, {"major", 1}, {"minor", 3}}}},
    };
    const std::vector<json> values = {
        nullptr,
        true,
        false,
        0,
        -1,
        1.5,
        18446744073709551615ULL,
        -9223372036854775807LL - 1,
        "",
        "x",
        "/abs",
        std::string(5000, 'a'),
        std::string("\0", 1),
        json::array(),
        json::array({nullptr}),
        json::array({1, "a"}),
        json::object(),
        json({{"x", 1}}),
        json({{"mode", 1}}),
        json::array({json::object()}),
    };
    size_t accepted = 0, refused = 0;
    for (auto it = valid.begin(); it != valid.end(); ++it) {
        for (const json& value : values) {
            json body = valid;
            body[it.key()] = value;
            try {
                map_and_validate(body);
                ++accepted;
            } catch (const Error&) {
                ++refused;
            } catch (const std::exception& e) {
                ADD_FAILURE() << it.key() << " = " << value.dump().substr(0, 60)
                              << " threw a non-truman exception: " << e.what();
            }
        }
    }
    EXPECT_GT(refused, 0u);
    EXPECT_GT(accepted, 0u);
}

}  // namespace
}  // namespace truman::api
