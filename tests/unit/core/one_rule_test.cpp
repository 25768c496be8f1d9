// Each spec rule is written once and every front-end asks it: the same bad value is refused
// by the same rule, with the same reason, through core (spec_from_json + validate), through
// the API (the create handler, with a service that validates as trumand's does) and through
// trumanctl (its body, sent to that handler, the answer named by its flags), each message
// naming the field in its caller's own terms.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "api_mock_service.hpp"
#include "test_support.hpp"
#include "truman/api/handlers.hpp"
#include "truman/api/mapping.hpp"
#include "truman/api/router.hpp"
#include "truman/client/api_client.hpp"
#include "truman/client/create_body.hpp"
#include "truman/client/format.hpp"
#include "truman/error.hpp"
#include "truman/signal_names.hpp"
#include "truman/spec.hpp"

namespace truman {
namespace {

using nlohmann::json;
using Flags = std::function<void(client::CreateOptions&)>;

struct Case {
    const char* rule;  // what is being proved, for the failure message
    json oci;          // merge patch onto a valid config.json
    json api;          // merge patch onto a valid create body (null: the API has no such field)
    Flags flags;       // sets trumanctl's flags (empty: no flag sets it)
    std::string oci_field;  // core's name: the OCI path
    std::string api_field;  // the create body's name
    std::string flag;       // trumanctl's name
    std::string reason;     // the rule's words, the same through every front-end
};

json valid_config() {
    return json::parse(R"({
        "ociVersion": "1.0.2",
        "process": {"args": ["/bin/sh"], "cwd": "/"},
        "root": {"path": "/srv/root"},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"},
                                 {"type": "ipc"}, {"type": "uts"}, {"type": "cgroup"}]}
    })");
}

json valid_body() {
    return {{"rootfs", "/srv/root"}};
}

client::CreateOptions valid_flags() {
    client::CreateOptions o;
    o.rootfs = "/srv/root";
    o.args = {"/bin/true"};
    return o;
}

// The create handler in front of a service that validates the spec once, as trumand's does
// (daemon/src/service.cpp), with nothing else of the service's.
class ValidatingApi {
  public:
    ValidatingApi() {
        ON_CALL(service_, create(::testing::_)).WillByDefault([](const daemon::CreateRequest& r) {
            ContainerSpec spec = r.spec;
            if (!r.image.empty()) spec.root.path = "/";  // the service puts the image there
            validate(spec);
            return std::string(64, 'a');
        });
        api::add_v1_routes(router_, service_, api::ApiOptions{});
    }

    api::Response post(const std::string& target, const json& body) {
        api::Request req;
        req.method = "POST";
        req.target = target;
        req.content_type = "application/json";
        req.body = body.dump();
        api::parse_target(target, &req.path, &req.query);
        auto responder = std::make_shared<test::RecordingResponder>();
        router_.dispatch(req, responder);
        return responder->response;
    }

  private:
    ::testing::NiceMock<test::MockService> service_;
    api::Router router_;
};

Error core_error(const json& config) {
    try {
        validate(spec_from_json(config));
    } catch (const Error& e) {
        return e;
    }
    return Error(ErrorKind::system, 0, "(accepted)");
}

void expect_refused_everywhere(const Case& c) {
    SCOPED_TRACE(c.rule);
    json config = valid_config();
    config.merge_patch(c.oci);
    Error core = core_error(config);
    EXPECT_EQ(core.kind(), ErrorKind::invalid) << core.what();
    EXPECT_EQ(core.field(), c.oci_field) << core.what();
    EXPECT_EQ(std::string(core.what()), c.oci_field + ": " + c.reason);

    ValidatingApi api;
    if (!c.api.is_null()) {
        json body = valid_body();
        body.merge_patch(c.api);
        api::Response r = api.post("/v1/containers", body);
        EXPECT_EQ(r.status, 400u) << r.body;
        json error = json::parse(r.body)["error"];
        EXPECT_EQ(error["code"], "invalid") << r.body;
        EXPECT_EQ(error["field"], c.api_field) << r.body;
        EXPECT_EQ(error["message"], c.api_field + ": " + c.reason) << r.body;
    }

    if (c.flags) {
        client::CreateOptions options = valid_flags();
        c.flags(options);
        json body = client::create_body(options);  // the value is no usage error
        api::Response r = api.post("/v1/containers", body);
        client::ApiError e = client::in_flag_terms(client::api_error(r.status, r.body), options);
        EXPECT_EQ(e.status(), 400u) << r.body;
        EXPECT_EQ(std::string(e.what()), c.flag + ": " + c.reason) << r.body;
    }
}

TEST(OneRule, EachBadValueIsRefusedByTheSameRuleThroughCoreTheApiAndTrumanctl) {
    test::TempDir dir("one-rule-test");
    const std::string profile = dir.path() + "/profile.json";
    std::ofstream(profile) << R"({"defaultAction": "SCMP_ACT_BOGUS"})";

    const std::vector<Case> cases = {
        // cgroups: memory, cpu, pids
        {"memory limit 0",
         {{"linux", {{"resources", {{"memory", {{"limit", 0}}}}}}}},
         {{"resources", {{"memory", 0}}}},
         [](auto& o) { o.memory = "0"; },
         "linux.resources.memory.limit",
         "resources.memory",
         "--memory",
         "must be a positive number of bytes, or -1 for unlimited"},
        {"memory+swap below the limit",
         {{"linux", {{"resources", {{"memory", {{"limit", 2048}, {"swap", 1024}}}}}}}},
         {{"resources", {{"memory", 2048}, {"memory_swap", 1024}}}},
         {},
         "linux.resources.memory.swap",
         "resources.memory_swap",
         "",
         "must be at least the memory limit (it is memory+swap), or -1 for unlimited"},
        {"cpu quota below 1 ms",
         {{"linux", {{"resources", {{"cpu", {{"quota", 500}}}}}}}},
         {{"resources", {{"cpu_quota", 500}}}},
         [](auto& o) { o.cpu_quota = 500; },
         "linux.resources.cpu.quota",
         "resources.cpu_quota",
         "--cpu-quota",
         "must be at least 1000 microseconds, or -1 for unlimited"},
        {"cpuset list",
         {{"linux", {{"resources", {{"cpu", {{"cpus", "1-"}}}}}}}},
         {{"resources", {{"cpuset_cpus", "1-"}}}},
         {},
         "linux.resources.cpu.cpus",
         "resources.cpuset_cpus",
         "",
         "must be a list like \"0-2,4\""},
        {"pids limit 0",
         {{"linux", {{"resources", {{"pids", {{"limit", 0}}}}}}}},
         {{"resources", {{"pids_limit", 0}}}},
         [](auto& o) { o.pids_limit = 0; },
         "linux.resources.pids.limit",
         "resources.pids_limit",
         "--pids-limit",
         "must be positive, or -1 for unlimited"},
        // devices: the kernel's dev_t has 12 bits of major, 20 of minor
        {"device major 4096",
         {{"linux",
           {{"devices", {{{"path", "/dev/x"}, {"type", "c"}, {"major", 4096}, {"minor", 0}}}}}}},
         {{"devices", {{{"path", "/dev/x"}, {"major", 4096}, {"minor", 0}}}}},
         {},
         "linux.devices[0].major",
         "devices[0].major",
         "",
         "must be between 0 and 4095"},
        {"device minor 2^20",
         {{"linux",
           {{"devices", {{{"path", "/dev/x"}, {"type", "b"}, {"major", 7}, {"minor", 1 << 20}}}}}}},
         {{"devices", {{{"path", "/dev/x"}, {"type", "b"}, {"major", 7}, {"minor", 1 << 20}}}}},
         {},
         "linux.devices[0].minor",
         "devices[0].minor",
         "",
         "must be between 0 and 1048575"},
        {"device file mode",
         {{"linux",
           {{"devices",
             {{{"path", "/dev/x"},
               {"type", "c"},
               {"major", 1},
               {"minor", 3},
               {"fileMode", 010000}}}}}}},
         {{"devices", {{{"path", "/dev/x"}, {"major", 1}, {"minor", 3}, {"file_mode", 010000}}}}},
         {},
         "linux.devices[0].fileMode",
         "devices[0].file_mode",
         "",
         "must be permission bits (at most 07777)"},
        {"device path outside /dev",
         {{"linux",
           {{"devices", {{{"path", "/tmp/x"}, {"type", "c"}, {"major", 1}, {"minor", 3}}}}}}},
         {{"devices", {{{"path", "/tmp/x"}, {"major", 1}, {"minor", 3}}}}},
         {},
         "linux.devices[0].path",
         "devices[0].path",
         "",
         "must be a path under /dev/"},
        // network
        {"CIDR prefix /0",
         {{"truman", {{"network", {{"mode", "veth"}, {"address", "10.88.0.2/0"}}}}}},
         {{"network", {{"mode", "veth"}, {"address", "10.88.0.2/0"}}}},
         [](auto& o) {
             o.network = "veth";
             o.ip = "10.88.0.2/0";
         },
         "truman.network.address",
         "network.address",
         "--ip",
         "\"10.88.0.2/0\" is not an IPv4 CIDR address like 10.88.0.2/16"},
        {"gateway outside the subnet",
         {{"truman",
           {{"network",
             {{"mode", "veth"}, {"address", "10.88.0.2/24"}, {"gateway", "10.99.0.1"}}}}}},
         {{"network", {{"mode", "veth"}, {"address", "10.88.0.2/24"}, {"gateway", "10.99.0.1"}}}},
         [](auto& o) {
             o.network = "veth";
             o.ip = "10.88.0.2/24";
             o.gateway = "10.99.0.1";
         },
         "truman.network.gateway",
         "network.gateway",
         "--gateway",
         "10.99.0.1 is not in the subnet of 10.88.0.2/24"},
        // (trumanctl's --network takes any other word as a network's name.)
        {"network mode",
         {{"truman", {{"network", {{"mode", "macvlan"}}}}}},
         {{"network", {{"mode", "macvlan"}}}},
         {},
         "truman.network.mode",
         "network.mode",
         "--network",
         "unknown network mode \"macvlan\" (expected none, loopback, veth or bridge)"},
        {"address without veth",
         {{"truman", {{"network", {{"mode", "none"}, {"address", "10.88.0.2/24"}}}}}},
         {{"network", {{"mode", "none"}, {"address", "10.88.0.2/24"}}}},
         {},
         "truman.network.address",
         "network.address",
         "",
         "only used with mode \"veth\""},
        // capabilities and rlimits
        {"unknown capability",
         {{"process", {{"capabilities", {{"bounding", {"CAP_BOGUS"}}}}}}},
         {{"cap_add", {"BOGUS"}}},
         [](auto& o) { o.cap_add = {"BOGUS"}; },
         "process.capabilities.bounding[0]",
         "cap_add[0]",
         "--cap-add",
         "unknown capability \"CAP_BOGUS\""},
        {"rlimit soft above hard",
         {{"process", {{"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"soft", 2}, {"hard", 1}}}}}}},
         {{"rlimits", {{{"type", "nofile"}, {"soft", 2}, {"hard", 1}}}}},
         {},
         "process.rlimits[0].soft",
         "rlimits[0].soft",
         "",
         "soft limit 2 exceeds hard limit 1"},
        {"unknown rlimit",
         {{"process", {{"rlimits", {{{"type", "RLIMIT_BOGUS"}, {"soft", 1}, {"hard", 1}}}}}}},
         {{"rlimits", {{{"type", "bogus"}, {"soft", 1}}}}},
         {},
         "process.rlimits[0].type",
         "rlimits[0].type",
         "",
         "unknown rlimit type \"RLIMIT_BOGUS\""},
        // the process
        {"empty command",
         {{"process", {{"args", json::array()}}}},
         {{"cmd", json::array()}},
         {},
         "process.args",
         "cmd",
         "",
         "must not be empty"},
        {"environment entry without a name",
         {{"process", {{"env", {"=x"}}}}},
         {{"env", {"=x"}}},
         [](auto& o) { o.env = {"=x"}; },
         "process.env[0]",
         "env[0]",
         "--env",
         "empty variable name"},
        {"relative cwd",
         {{"process", {{"cwd", "work"}}}},
         {{"cwd", "work"}},
         [](auto& o) { o.workdir = "work"; },
         "process.cwd",
         "cwd",
         "--workdir",
         "must be an absolute path"},
        // mounts and the root
        {"relative root",
         {{"root", {{"path", "rootfs"}}}},
         {{"rootfs", "rootfs"}},
         [](auto& o) { o.rootfs = "rootfs"; },
         "root.path",
         "rootfs",
         "--rootfs",
         "must be an absolute path"},
        {"relative mount destination",
         {{"mounts", {{{"destination", "data"}, {"type", "tmpfs"}, {"source", "tmpfs"}}}}},
         {{"mounts", {{{"destination", "data"}, {"type", "tmpfs"}, {"source", "tmpfs"}}}}},
         {},
         "mounts[0].destination",
         "mounts[0].destination",
         "",
         "must be an absolute path"},
        {"relative bind source",
         {{"mounts", {{{"destination", "/data"}, {"type", "bind"}, {"source", "data"}}}}},
         {{"mounts", {{{"destination", "/data"}, {"source", "data"}}}}},
         {},
         "mounts[0].source",
         "mounts[0].source",
         "",
         "must be an absolute path"},
        // namespaces and id maps
        {"host name",
         {{"hostname", "a_b"}},
         {{"hostname", "a_b"}},
         [](auto& o) { o.hostname = "a_b"; },
         "hostname",
         "hostname",
         "--hostname",
         "invalid character '_' (letters, digits, '-' and '.' only)"},
        {"overlapping uid ranges",
         {{"linux",
           {{"namespaces",
             {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "mount"}}, {{"type", "user"}}}},
            {"uidMappings",
             {{{"containerID", 0}, {"hostID", 100000}, {"size", 10}},
              {{"containerID", 5}, {"hostID", 200000}, {"size", 10}}}},
            {"gidMappings", {{{"containerID", 0}, {"hostID", 100000}, {"size", 10}}}}}}},
         {{"namespaces", {{"user", true}}},
          {"uid_mappings",
           {{{"container_id", 0}, {"host_id", 100000}, {"size", 10}},
            {{"container_id", 5}, {"host_id", 200000}, {"size", 10}}}},
          {"gid_mappings", {{{"container_id", 0}, {"host_id", 100000}, {"size", 10}}}}},
         {},
         "linux.uidMappings[1]",
         "uid_mappings[1]",
         "",
         "container range overlaps mapping 0"},
        {"empty uid range",
         {{"linux",
           {{"namespaces", {{{"type", "mount"}}, {{"type", "user"}}}},
            {"uidMappings", {{{"containerID", 0}, {"hostID", 100000}, {"size", 0}}}},
            {"gidMappings", {{{"containerID", 0}, {"hostID", 100000}, {"size", 1}}}}}}},
         {{"namespaces", {{"user", true}}},
          {"uid_mappings", {{{"container_id", 0}, {"host_id", 100000}, {"size", 0}}}},
          {"gid_mappings", {{{"container_id", 0}, {"host_id", 100000}, {"size", 1}}}}},
         {},
         "linux.uidMappings[0].size",
         "uid_mappings[0].size",
         "",
         "must not be 0"},
        // seccomp
        {"unknown seccomp action",
         {{"linux", {{"seccomp", {{"defaultAction", "SCMP_ACT_BOGUS"}}}}}},
         {{"seccomp", {{"defaultAction", "SCMP_ACT_BOGUS"}}}},
         [profile](auto& o) { o.security_opts = {"seccomp=" + profile}; },
         "linux.seccomp.defaultAction",
         "seccomp.defaultAction",
         "--security-opt seccomp (defaultAction)",
         "unknown action \"SCMP_ACT_BOGUS\""},
        {"unknown syscall",
         {{"linux",
           {{"seccomp",
             {{"defaultAction", "SCMP_ACT_ALLOW"},
              {"syscalls", {{{"names", {"no_such_call"}}, {"action", "SCMP_ACT_ERRNO"}}}}}}}}},
         {{"seccomp",
           {{"defaultAction", "SCMP_ACT_ALLOW"},
            {"syscalls", {{{"names", {"no_such_call"}}, {"action", "SCMP_ACT_ERRNO"}}}}}}},
         {},
         "linux.seccomp.syscalls[0].names[0]",
         "seccomp.syscalls[0].names[0]",
         "",
         "unknown syscall \"no_such_call\""},
    };
    for (const Case& c : cases) expect_refused_everywhere(c);
}

// Device cgroup rules come only from config.json (the API derives its own from its devices),
// but they follow the same limits: past 2^32 a major would wrap onto a real device in the
// cgroup v2 program.
TEST(OneRule, DeviceCgroupRulesHaveTheKernelsLimitsToo) {
    json config = valid_config();
    config.merge_patch(
        {{"linux",
          {{"resources",
            {{"devices",
              {{{"allow", true}, {"type", "c"}, {"major", 4294967297LL}, {"access", "rwm"}}}}}}}}});
    Error e = core_error(config);
    EXPECT_EQ(std::string(e.what()),
              "linux.resources.devices[0].major: must be between 0 and 4095");
}

// The values each rule accepts at its edge go through every front-end as well.
TEST(OneRule, TheEdgesOfEachRuleAreAcceptedEverywhere) {
    const std::vector<std::pair<json, json>> accepted = {
        {{{"linux", {{"resources", {{"memory", {{"limit", -1}}}}}}}},  // OCI: unlimited
         {{"resources", {{"memory", -1}}}}},
        {{{"linux", {{"resources", {{"memory", {{"limit", 1}, {"swap", -1}}}}}}}},
         {{"resources", {{"memory", 1}, {"memory_swap", -1}}}}},
        {{{"linux",
           {{"devices",
             {{{"path", "/dev/x"}, {"type", "c"}, {"major", 4095}, {"minor", 1048575}}}}}}},
         {{"devices", {{{"path", "/dev/x"}, {"major", 4095}, {"minor", 1048575}}}}}},
        {{{"truman", {{"network", {{"mode", "veth"}, {"address", "10.0.0.2/1"}}}}}},
         {{"network", {{"mode", "veth"}, {"address", "10.0.0.2/1"}}}}},
        // The child resolves the cwd inside the root, where ".." stops at "/".
        {{{"process", {{"cwd", "/a/../b"}}}}, {{"cwd", "/a/../b"}}},
        {{{"linux", {{"resources", {{"pids", {{"limit", -1}}}, {"cpu", {{"quota", -1}}}}}}}},
         {{"resources", {{"pids_limit", -1}, {"cpu_quota", -1}}}}},
    };
    ValidatingApi api;
    for (const auto& [oci, body_patch] : accepted) {
        json config = valid_config();
        config.merge_patch(oci);
        EXPECT_NO_THROW(validate(spec_from_json(config))) << oci.dump();
        json body = valid_body();
        body.merge_patch(body_patch);
        api::Response r = api.post("/v1/containers", body);
        EXPECT_EQ(r.status, 201u) << body.dump() << " -> " << r.body;
    }
}

// Signals: 1..SIGRTMAX, one parser and one message for the API and for trumanctl.
TEST(OneRule, SignalsOutsideOneToSigrtmaxAreRefusedByTheApiAndTrumanctl) {
    EXPECT_TRUE(is_signal_number(1));
    EXPECT_TRUE(is_signal_number(SIGRTMAX));
    EXPECT_FALSE(is_signal_number(0));
    EXPECT_FALSE(is_signal_number(SIGRTMAX + 1));
    ValidatingApi api;
    for (std::string bad : {std::string("0"), std::to_string(SIGRTMAX + 1), std::string("BOGUS")}) {
        SCOPED_TRACE(bad);
        api::Response r = api.post("/v1/containers/c/kill?signal=" + bad, json::object());
        EXPECT_EQ(r.status, 400u) << r.body;
        json error = json::parse(r.body)["error"];
        EXPECT_EQ(error["field"], "signal");
        EXPECT_EQ(error["message"], "signal: " + unknown_signal_reason(bad));
        try {
            client::parse_signal(bad);
            ADD_FAILURE() << "trumanctl took " << bad;
        } catch (const std::invalid_argument& e) {
            EXPECT_EQ(std::string(e.what()), unknown_signal_reason(bad));
        }
    }
}

// The field comes apart from the reason, and a front-end renames only the field.
TEST(OneRule, AnErrorKeepsItsFieldApartAndCanBeRenamed) {
    Error e = invalid_argument("linux.resources.memory.limit", "must be positive");
    EXPECT_STREQ(e.what(), "linux.resources.memory.limit: must be positive");
    EXPECT_EQ(e.field(), "linux.resources.memory.limit");
    EXPECT_EQ(e.reason(), "must be positive");
    Error renamed = e.with_field("resources.memory");
    EXPECT_STREQ(renamed.what(), "resources.memory: must be positive");
    EXPECT_EQ(renamed.kind(), ErrorKind::invalid);
    EXPECT_EQ(renamed.err(), EINVAL);
    Error plain = make_error(ErrorKind::conflict, "name web is already in use");
    EXPECT_EQ(plain.field(), "");
    EXPECT_EQ(plain.reason(), "name web is already in use");
    EXPECT_EQ(api::in_api_terms(plain).what(), std::string("name web is already in use"));
    EXPECT_EQ(api::api_field("linux.devices[2].fileMode"), "devices[2].file_mode");
    EXPECT_EQ(api::api_field("linux.uidMappings[3].hostID"), "uid_mappings[3].host_id");
    EXPECT_EQ(api::api_field("process.capabilities.ambient[0]"), "cap_add");
    EXPECT_EQ(api::api_field("hostnames"), std::nullopt) << "whole components only";
    EXPECT_EQ(api::api_field("linux.maskedPaths[0]"), std::nullopt);
}

}  // namespace
}  // namespace truman
