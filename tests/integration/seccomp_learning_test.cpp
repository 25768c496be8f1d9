// Seccomp learning mode end to end through a real trumand: a busybox workload learned with
// "seccomp": {"learn": true}; the profile GET /v1/containers/{id}/seccomp/profile makes of it
// runs the same workload without a denial and denies (and records) the one call added; a
// learning container still has the default profile's protections; what was seen survives a
// trumand SIGKILL; and each refusal of the API.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kDenyLoop = std::string(TRUMAN_BINARY_DIR) + "/bin/truman-deny-loop";
const std::string kWorkload =
    "ls / ; cat /etc/passwd; date; cat /proc/self/status; echo x > /tmp/f";

// One request per connection: a stream (and some errors) ends its connection.
HttpResponse call(const TrumandProcess& daemon, const std::string& method,
                  const std::string& target, const std::string& body = "") {
    HttpClient c(daemon.socket());
    return c.request(method, target, body);
}

std::string create(const TrumandProcess& daemon, const std::string& rootfs,
                   const std::vector<std::string>& cmd, const json& seccomp) {
    json body = {{"rootfs", rootfs}, {"cmd", cmd}, {"network", "none"}, {"seccomp", seccomp}};
    auto r = call(daemon, "POST", "/v1/containers", body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? json::parse(r.body).value("id", "") : "";
}

// Runs the container to its exit; its exit code.
int run(const TrumandProcess& daemon, const std::string& id) {
    EXPECT_EQ(call(daemon, "POST", "/v1/containers/" + id + "/start").status, 204);
    auto waited = call(daemon, "POST", "/v1/containers/" + id + "/wait");
    EXPECT_EQ(waited.status, 200) << waited.body;
    return json::parse(waited.body).value("exit_code", -1);
}

// The syscall names of the container's denials.
std::vector<std::string> denied(const TrumandProcess& daemon, const std::string& id) {
    auto r = call(daemon, "GET", "/v1/containers/" + id + "/seccomp");
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> names;
    size_t start = 0;
    for (size_t nl; (nl = r.body.find('\n', start)) != std::string::npos; start = nl + 1)
        names.push_back(json::parse(r.body.substr(start, nl - start)).value("syscall", ""));
    return names;
}

json profile_of(const TrumandProcess& daemon, const std::string& id) {
    auto r = call(daemon, "GET", "/v1/containers/" + id + "/seccomp/profile");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? json::parse(r.body) : json();
}

// The names the profile allows unconditionally.
std::set<std::string> allowed_names(const json& profile) {
    std::set<std::string> names;
    for (const auto& rule : profile.value("syscalls", json::array()))
        if (rule["action"] == "SCMP_ACT_ALLOW" && !rule.contains("args"))
            for (const auto& n : rule["names"]) names.insert(n.get<std::string>());
    return names;
}

void remove(const TrumandProcess& daemon, const std::string& id) {
    EXPECT_EQ(call(daemon, "DELETE", "/v1/containers/" + id + "?force=true").status, 204);
}

std::string command_output(const std::string& command) {
    std::string out;
    FILE* p = popen(command.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

TEST(SeccompLearning, ALearnedProfileRunsItsWorkloadWithoutDenialsAndDeniesWhatIsNew) {
    TrumandProcess daemon;
    std::vector<std::string> ids;
    std::string learner = ids.emplace_back(
        create(daemon, busybox_rootfs(), {"sh", "-c", kWorkload}, {{"learn", true}}));
    ASSERT_EQ(run(daemon, learner), 0);
    EXPECT_TRUE(denied(daemon, learner).empty());
    EXPECT_TRUE(
        fs::exists(daemon.state_dir() + "/containers/" + learner + "/seccomp-learned.json"));

    json profile = profile_of(daemon, learner);
    EXPECT_EQ(profile["defaultAction"], "SCMP_ACT_ERRNO") << profile;
    EXPECT_EQ(profile["architectures"],
              json({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
    std::set<std::string> names = allowed_names(profile);
    // Seen: ls reads directories, date the clock (or vDSO: not a syscall), the shell forks.
    EXPECT_TRUE(names.count("getdents64")) << profile;
    EXPECT_TRUE(names.count("wait4")) << profile;
    // Never seen but made by the runtime after loading the filter.
    EXPECT_TRUE(names.count("execve")) << profile;
    EXPECT_TRUE(names.count("close_range")) << profile;
    // Not made: left out.
    EXPECT_FALSE(names.count("mkdir")) << profile;
    EXPECT_FALSE(names.count("mkdirat")) << profile;
    EXPECT_FALSE(names.count("mount")) << profile;
    EXPECT_LT(names.size(), 100U) << profile;  // the default allows about 350
    // The default's argument rules are kept: clone only without namespace flags.
    bool clone_rule = false;
    for (const auto& rule : profile["syscalls"])
        if (rule["names"] == json({"clone"}) && rule.contains("args"))
            clone_rule = rule["args"][0]["op"] == "SCMP_CMP_MASKED_EQ";
    EXPECT_TRUE(clone_rule) << profile;

    // trumanctl prints the same profile.
    std::string ctl = std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl --socket " + daemon.socket();
    EXPECT_EQ(json::parse(command_output(ctl + " seccomp-profile " + learner)), profile);

    // Taken as is: the same workload, not one denial.
    std::string again =
        ids.emplace_back(create(daemon, busybox_rootfs(), {"sh", "-c", kWorkload}, profile));
    EXPECT_EQ(run(daemon, again), 0);
    EXPECT_EQ(denied(daemon, again), std::vector<std::string>{});

    // Something new: denied, and the denial names it.
    std::string more = ids.emplace_back(
        create(daemon, busybox_rootfs(), {"sh", "-c", kWorkload + "; mkdir /tmp/x"}, profile));
    EXPECT_NE(run(daemon, more), 0);
    std::vector<std::string> refused = denied(daemon, more);
    ASSERT_FALSE(refused.empty());
    EXPECT_TRUE(refused[0] == "mkdir" || refused[0] == "mkdirat") << refused[0];

    for (const auto& id : ids) remove(daemon, id);
    EXPECT_EQ(container_leaks(daemon, {ids.begin(), ids.end()}), "");
}

TEST(SeccompLearning, ALearningContainerKeepsTheDefaultProtectionsAndItsSetSurvivesATrumandKill) {
    TrumandProcess daemon;
    TempDir root("truman-learn-root");
    make_busybox_rootfs(root.path());
    fs::copy_file(kDenyLoop, root.path() + "/bin/deny_loop", fs::copy_options::overwrite_existing);
    std::string id = create(daemon, root.path(), {"/bin/deny_loop", "2"}, {{"learn", true}});
    ASSERT_EQ(run(daemon, id), 0);
    // The payload saw EPERM for each call, and each is a denial as without learning.
    auto logs = call(daemon, "GET", "/v1/containers/" + id + "/logs");
    EXPECT_NE(logs.body.find("mount EPERM unshare EPERM keyctl EPERM"), std::string::npos)
        << logs.body;
    EXPECT_EQ(denied(daemon, id), (std::vector<std::string>{"mount", "unshare", "keyctl", "mount",
                                                            "unshare", "keyctl"}));
    json profile = profile_of(daemon, id);
    std::set<std::string> names = allowed_names(profile);
    EXPECT_TRUE(names.count("write")) << profile;
    EXPECT_FALSE(names.count("mount")) << profile;
    EXPECT_FALSE(names.count("keyctl")) << profile;

    daemon.kill_hard();
    daemon.start();
    EXPECT_EQ(profile_of(daemon, id), profile);
    remove(daemon, id);
    EXPECT_EQ(container_leaks(daemon, {id}), "");
}

TEST(SeccompLearning, BadRequestsAreRefused) {
    TrumandProcess daemon;
    auto r = call(daemon, "GET", "/v1/containers/no-such-container/seccomp/profile");
    EXPECT_EQ(r.status, 404) << r.body;
    std::string plain = create(daemon, busybox_rootfs(), {"true"}, "default");
    r = call(daemon, "GET", "/v1/containers/" + plain + "/seccomp/profile");
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_NE(r.body.find("learn"), std::string::npos) << r.body;
    r = call(daemon, "GET", "/v1/containers/" + plain + "/seccomp/profile?x=1");
    EXPECT_EQ(r.status, 400) << r.body;
    remove(daemon, plain);

    // Each refused before anything is made; the error names the field.
    json base = {{"rootfs", busybox_rootfs()}, {"cmd", {"true"}}, {"network", "none"}};
    auto refused = [&](const json& seccomp, const std::string& field) {
        json body = base;
        body["seccomp"] = seccomp;
        auto answer = call(daemon, "POST", "/v1/containers", body.dump());
        EXPECT_EQ(answer.status, 400) << seccomp << " " << answer.body;
        EXPECT_NE(answer.body.find(field), std::string::npos) << answer.body;
    };
    refused({{"learn", "yes"}}, "seccomp.learn");
    refused({{"learn", true}, {"defaultAction", "SCMP_ACT_ALLOW"}}, "defaultAction");
    refused({{"defaultAction", "SCMP_ACT_NOPE"}}, "defaultAction");
    refused({{"defaultAction", "SCMP_ACT_ERRNO"}, {"architectures", {"SCMP_ARCH_Z80"}}},
            "architectures[0]");
    refused({{"defaultAction", "SCMP_ACT_ERRNO"},
             {"syscalls", {{{"names", {"no_such_call"}}, {"action", "SCMP_ACT_ALLOW"}}}}},
            "syscalls[0].names[0]");
    refused({{"defaultAction", "SCMP_ACT_ERRNO"},
             {"syscalls", {{{"names", {"read"}}, {"action", "SCMP_ACT_MAYBE"}}}}},
            "syscalls[0].action");
    EXPECT_EQ(container_leaks(daemon, {plain}), "");
}

}  // namespace
}  // namespace truman::test
