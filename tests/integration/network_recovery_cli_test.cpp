// Two end-to-end checks of networks, inside namespaces this test makes (TestNetns for
// trumand, TestOutside for the upstream side): a lease a power loss took from a network
// record is rebuilt from the container's own config.json at start-up, so its address is not
// handed out twice; and the CLI's published ports (`run -d -p`, `port`, `ps`) work and reach
// the container from the outside.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_netns.hpp"
#include "test_outside.hpp"
#include "test_support.hpp"
#include "truman/firewall.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;

const std::string kTrumanctl = std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl";

struct Daemon {
    TestNetns netns{"tmrec"};
    TestOutside outside{netns};
    TrumandProcess daemon{TrumandOptions{{"--default-network", "none"}, 0, netns.path()}};

    HttpResponse call(const std::string& method, const std::string& target,
                      const std::string& body = "") {
        HttpClient c(daemon.socket());
        return c.request(method, target, body);
    }
    // table inet truman in trumand's namespace, "" for none (libnftables: no nft binary here).
    std::string ruleset() {
        std::string out, error;
        std::thread([&] {
            int fd = open(netns.path().c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
                error = "setns " + netns.path();
            } else {
                try {
                    out = list_firewall();
                } catch (const std::exception& e) {
                    error = e.what();
                }
            }
            if (fd >= 0) close(fd);
        }).join();
        EXPECT_EQ(error, "");
        return out;
    }
    // trumanctl against this daemon; its exit status, stdout and stderr in *output.
    int ctl(const std::string& args, std::string* output) {
        return run_host(kTrumanctl + " --socket " + daemon.socket() + " " + args, output);
    }
};

TEST(LeaseRebuild, ALeaseLostFromTheNetworkRecordIsRebuiltFromTheRunningContainer) {
    Daemon d;
    ASSERT_EQ(d.call("POST", "/v1/networks", json{{"name", "keep"}}.dump()).status, 201);
    auto r = d.call("POST", "/v1/containers",
                    json{{"image", "busybox"},
                         {"name", "holder"},
                         {"cmd", {"sleep", "1000"}},
                         {"networks", {"keep"}}}
                        .dump());
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string holder = json::parse(r.body)["id"];
    ASSERT_EQ(d.call("POST", "/v1/containers/" + holder + "/start").status, 204);
    const std::string held =
        json::parse(d.call("GET", "/v1/containers/" + holder).body)["networks"][0]["address"];

    // What a power loss before the record's fsync leaves: the record without the newest
    // lease (trumand down, as after the reboot that would follow).
    d.daemon.kill_hard();
    const std::string record = d.daemon.state_dir() + "/networks/keep.json";
    json doc = json::parse(read_file(record));
    ASSERT_EQ(doc["leases"].size(), 1u) << doc.dump();
    doc["leases"] = json::array();
    std::ofstream(record) << doc.dump(2);
    d.daemon.start();

    auto n = json::parse(d.call("GET", "/v1/networks/keep").body);
    ASSERT_EQ(n["containers"].size(), 1u) << n.dump();
    EXPECT_EQ(n["containers"][0]["name"], "holder");
    r = d.call("POST", "/v1/containers",
               json{{"image", "busybox"}, {"cmd", {"true"}}, {"networks", {"keep"}}}.dump());
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string next = json::parse(r.body)["id"];
    const std::string given =
        json::parse(d.call("GET", "/v1/containers/" + next).body)["networks"][0]["address"];
    EXPECT_NE(given, held);
    // Asking for the held address by name is a conflict again.
    r = d.call("POST", "/v1/containers",
               json{{"image", "busybox"},
                    {"cmd", {"true"}},
                    {"networks", {{{"name", "keep"}, {"ip", held.substr(0, held.find('/'))}}}}}
                   .dump());
    EXPECT_EQ(r.status, 409) << r.body;

    // A container disconnected from a network gets no lease back there: its veth is gone.
    EXPECT_EQ(
        d.call("POST", "/v1/networks/keep/disconnect", json{{"container", "holder"}}.dump()).status,
        204);
    d.daemon.kill_hard();
    d.daemon.start();
    n = json::parse(d.call("GET", "/v1/networks/keep").body);
    for (const auto& c : n["containers"]) EXPECT_NE(c["name"], "holder") << n.dump();
    for (const auto& id : {holder, next})
        EXPECT_EQ(d.call("DELETE", "/v1/containers/" + id + "?force=true").status, 204);
    EXPECT_EQ(container_leaks(d.daemon, {holder, next}), "");
}

TEST(PortsCli, RunPublishesAPortThatPortAndPsShowAndTheOutsideReaches) {
    Daemon d;
    std::string output;
    ASSERT_EQ(d.ctl("network create pcli", &output), 0) << output;
    const std::string name = unique_name("pweb");
    ASSERT_EQ(d.ctl("run -d --name " + name +
                        " --network pcli -p 8080:80 busybox sh -c "
                        "'mkdir -p /tmp/w && echo hello-cli > /tmp/w/index.html && "
                        "exec httpd -f -p 80 -h /tmp/w'",
                    &output),
              0)
        << output;
    EXPECT_EQ(d.ctl("port " + name, &output), 0) << output;
    EXPECT_EQ(output, "80/tcp -> 0.0.0.0:8080\n");
    EXPECT_EQ(d.ctl("ps", &output), 0) << output;
    EXPECT_NE(output.find("PORTS"), std::string::npos) << output;
    EXPECT_NE(output.find("0.0.0.0:8080->80/tcp"), std::string::npos) << output;
    // From the upstream namespace, to the address it knows trumand's namespace by.
    EXPECT_EQ(d.outside.netns().run("for i in $(seq 100); do timeout 5 busybox wget -qO- "
                                    "http://198.51.100.2:8080/ && exit 0; sleep 0.1; done; exit 1",
                                    &output),
              0)
        << output;
    EXPECT_NE(output.find("hello-cli"), std::string::npos) << output;
    EXPECT_NE(d.ruleset().find("8080"), std::string::npos) << d.ruleset();
    EXPECT_EQ(d.ctl("rm -f " + name, &output), 0) << output;
    EXPECT_EQ(d.ctl("network rm pcli", &output), 0) << output;
    // The port is free again: nothing holds it, no rule forwards it.
    EXPECT_EQ(d.ruleset().find("8080"), std::string::npos) << d.ruleset();
}

}  // namespace
}  // namespace truman::test
