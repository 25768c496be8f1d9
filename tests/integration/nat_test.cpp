// Outbound NAT end to end, with all traffic inside namespaces this test makes: trumand runs in
// one (TestNetns), wired by an "uplink" veth to a second one that stands for the outside and
// holds 198.51.100.1. A container on a network reaches it, and the outside sees the uplink's
// address (masqueraded; the outside has no route back to the network's subnet, so without the
// masquerade there would be no answer at all); a container on an internal network cannot.
// After a SIGKILL and restart trumand's table holds the same rules, none twice.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_netns.hpp"
#include "test_support.hpp"
#include "truman/firewall.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;

// The outside, wired to `inside` by a veth: 198.51.100.2 there (with a default route via the
// outside), 198.51.100.1 here.
struct Outside {
    TestNetns netns{"tmout"};
    std::string server_pid_file = "/tmp/" + netns.name() + ".pid";
    explicit Outside(const TestNetns& inside) {
        std::string out;
        const std::string up = unique_name("tmu"), down = unique_name("tmd");
        EXPECT_EQ(inside.run("ip link add " + up + " type veth peer name " + down + " netns " +
                                 netns.name() + " && ip addr add 198.51.100.2/24 dev " + up +
                                 " && ip link set " + up + " up && ip link set lo up" +
                                 " && ip route add default via 198.51.100.1",
                             &out),
                  0)
            << out;
        EXPECT_EQ(netns.run("ip addr add 198.51.100.1/24 dev " + down + " && ip link set " + down +
                                " up && ip link set lo up",
                            &out),
                  0)
            << out;
    }
    // A one-shot TCP server on 198.51.100.1:8080 that answers with its own view of the
    // connection (busybox netstat in this namespace: local and peer address).
    void serve() {
        std::string out;
        EXPECT_EQ(
            netns.run("busybox nc -l -p 8080 -e busybox netstat -tn >/dev/null 2>&1 & echo $! > " +
                          server_pid_file,
                      &out),
            0)
            << out;
        for (int i = 0; i < 200; ++i) {  // until it listens
            netns.run("busybox netstat -ltn", &out);
            if (out.find(":8080") != std::string::npos) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ADD_FAILURE() << "the outside server does not listen";
    }
    ~Outside() {
        // The server we started (by its pid), if it is still waiting for a connection.
        try {
            std::string pid = read_file(server_pid_file);
            if (!pid.empty()) ::kill(std::stoi(pid), SIGKILL);
        } catch (const std::exception&) {
            // never started
        }
        ::unlink(server_pid_file.c_str());
    }
};

struct Daemon {
    TestNetns netns{"tmnat"};
    Outside outside{netns};
    TrumandProcess daemon{TrumandOptions{{"--default-network", "none"}, 0, netns.path()}};

    HttpResponse post(const std::string& target, const json& body) {
        HttpClient c(daemon.socket());
        return c.request("POST", target, body.dump());
    }
    HttpResponse call(const std::string& method, const std::string& target) {
        HttpClient c(daemon.socket());
        return c.request(method, target);
    }
    // Runs cmd on network; returns its exit code, its output in *output.
    int run_on(const std::string& network, const std::string& cmd, std::string* output) {
        auto r = post("/v1/containers",
                      {{"image", "busybox"}, {"cmd", {"sh", "-c", cmd}}, {"networks", {network}}});
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return -1;
        std::string id = json::parse(r.body)["id"];
        EXPECT_EQ(call("POST", "/v1/containers/" + id + "/start").status, 204);
        auto w = call("POST", "/v1/containers/" + id + "/wait");
        *output = call("GET", "/v1/containers/" + id + "/logs").body;
        EXPECT_EQ(call("DELETE", "/v1/containers/" + id).status, 204);
        return json::parse(w.body).value("exit_code", -1);
    }
    // table inet truman as trumand's namespace has it.
    // (A namespace switch is per thread: this one's, for the one call.)
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
};

TEST(Nat, AContainerReachesTheOutsideMasqueradedAndAnInternalNetworkCannot) {
    Daemon d;
    ASSERT_EQ(d.post("/v1/networks", {{"name", "out"}}).status, 201);
    ASSERT_EQ(d.post("/v1/networks", {{"name", "sealed"}, {"internal", true}}).status, 201);

    d.outside.serve();
    std::string output;
    EXPECT_EQ(d.run_on("out", "echo | nc -w 2 198.51.100.1 8080", &output), 0) << output;
    // The server saw the uplink's address, not the container's 10.89.x.y.
    EXPECT_NE(output.find("198.51.100.1:8080"), std::string::npos) << output;
    EXPECT_NE(output.find("198.51.100.2:"), std::string::npos) << output;
    EXPECT_EQ(output.find("10.89."), std::string::npos) << output;

    d.outside.serve();  // (the first one answered once and exited)
    EXPECT_NE(d.run_on("sealed", "echo | nc -w 1 198.51.100.1 8080", &output), 0) << output;
    EXPECT_EQ(output.find("ESTABLISHED"), std::string::npos) << output;

    // Restart after a crash: the same rules, once each.
    std::string before = d.ruleset();
    EXPECT_NE(before.find("masquerade"), std::string::npos) << before;
    EXPECT_NE(before.find("network sealed (internal)"), std::string::npos) << before;
    d.daemon.kill_hard();
    d.daemon.start();
    EXPECT_EQ(d.ruleset(), before);
    // A deleted network takes its rules along.
    EXPECT_EQ(d.call("DELETE", "/v1/networks/out").status, 204);
    EXPECT_EQ(d.ruleset().find("network out"), std::string::npos) << d.ruleset();
    EXPECT_EQ(d.call("DELETE", "/v1/networks/sealed").status, 204);
    EXPECT_EQ(d.ruleset(), "");  // no network, no table
}

}  // namespace
}  // namespace truman::test
