// Bridge networks end to end: a real trumand, run inside a network namespace this test makes
// (TestNetns), so its bridges, veths and routes never appear in the host's namespace. Proves
// that containers on one network reach each other by address, that addresses are recorded
// and released across a SIGKILL of trumand, that each conflict is a 409 naming the thing in
// the way, and that nothing (link, address, lease) is left once containers and networks go.
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>

#include "test_netns.hpp"
#include "test_support.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;

// trumand in a namespace of its own; the namespace outlives the daemon (declared first).
struct NetworkedDaemon {
    TestNetns netns{"tmnet"};
    std::set<std::string> links_before = netns.links();
    std::set<std::string> addresses_before = netns.addresses();
    TrumandProcess daemon;

    explicit NetworkedDaemon(std::vector<std::string> args = {"--default-network", "none"},
                             bool own_default_network = false)
        : daemon(TrumandOptions{std::move(args), 0, netns.path(), own_default_network}) {}
    // The links once they match `expected`, or after 5 s. A dead container's netns is freed by
    // the kernel's cleanup_net work after the last process in it is reaped, so the host end of
    // its veth goes a little after the delete returns: waiting for it is not hiding a leak, a
    // link still there after 5 s is one.
    std::set<std::string> links_settled(const std::set<std::string>& expected) const {
        auto now = netns.links();
        for (int i = 0; i < 100 && now != expected; ++i) {
            usleep(50'000);
            now = netns.links();
        }
        return now;
    }
    HttpResponse post(const std::string& target, const json& body) {
        HttpClient c(daemon.socket());
        return c.request("POST", target, body.dump());
    }
    HttpResponse call(const std::string& method, const std::string& target) {
        HttpClient c(daemon.socket());
        return c.request(method, target);
    }
    // Creates (and optionally starts) a busybox container; returns its id.
    std::string container(json body, bool start = true) {
        body["image"] = "busybox";
        auto r = post("/v1/containers", body);
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return "";
        std::string id = json::parse(r.body)["id"];
        if (start) {
            EXPECT_EQ(call("POST", "/v1/containers/" + id + "/start").status, 204);
        }
        return id;
    }
    // Waits for it to exit; returns its exit code and its output.
    int run_to_end(const std::string& id, std::string* output) {
        auto w = call("POST", "/v1/containers/" + id + "/wait");
        EXPECT_EQ(w.status, 200) << w.body;
        *output = call("GET", "/v1/containers/" + id + "/logs").body;
        return w.status == 200 ? json::parse(w.body)["exit_code"].get<int>() : -1;
    }
    json inspect(const std::string& what) {
        auto r = call("GET", what);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.status == 200 ? json::parse(r.body) : json();
    }
    void remove(const std::string& id) {
        EXPECT_EQ(call("DELETE", "/v1/containers/" + id + "?force=true").status, 204) << id;
    }
};

std::string error_message(const HttpResponse& r) {
    json body = json::parse(r.body, nullptr, false);
    return body.is_object() ? body["error"].value("message", "") : r.body;
}

std::string address_of(const json& container, size_t index = 0) {
    std::string cidr = container["networks"][index]["address"];
    return cidr.substr(0, cidr.find('/'));
}

TEST(Networks, TwoContainersOnOneNetworkReachEachOtherAndLeaveNothingBehind) {
    NetworkedDaemon d;
    auto made = d.post("/v1/networks", {{"name", "front"}, {"labels", {{"tier", "web"}}}});
    ASSERT_EQ(made.status, 201) << made.body;
    json network = json::parse(made.body);
    const std::string bridge = network["bridge"];
    EXPECT_TRUE(d.netns.links().count(bridge)) << "no bridge " << bridge;
    EXPECT_TRUE(d.netns.addresses().count(bridge + " " + std::string(network["gateway"]) + "/24"));

    // A serves a page; B fetches it by A's address (retrying only until A listens).
    std::string server = d.container(
        {{"cmd",
          {"sh", "-c",
           "mkdir /w && echo hello-from-a > /w/index.html && exec httpd -f -p 8080 -h /w"}},
         {"networks", {"front"}}});
    json a = d.inspect("/v1/containers/" + server);
    ASSERT_EQ(a["networks"].size(), 1u) << a.dump();
    EXPECT_EQ(a["networks"][0]["network"], "front");
    EXPECT_EQ(a["networks"][0]["interface"], "eth0");
    EXPECT_EQ(a["networks"][0]["gateway"], network["gateway"]);
    // (busybox nc: the static busybox's wget crashes in glibc's NSS.)
    const std::string fetch = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc " + address_of(a) + " 8080";
    std::string client =
        d.container({{"cmd",
                      {"sh", "-c",
                       "for i in $(seq 100); do " + fetch +
                           " | grep hello && exit 0; sleep 0.05; done; exit 1"}},
                     {"networks", {json{{"name", "front"}, {"ip", "10.89.0.77"}}}}});
    std::string output;
    EXPECT_EQ(d.run_to_end(client, &output), 0) << output;
    EXPECT_NE(output.find("hello-from-a"), std::string::npos) << output;
    json b = d.inspect("/v1/containers/" + client);
    EXPECT_EQ(b["networks"][0]["address"], "10.89.0.77/24");
    // The list shows each container's networks as inspect does (one pass over all leases).
    std::map<std::string, json> listed_networks;
    for (const auto& c : d.inspect("/v1/containers")) listed_networks[c["id"]] = c["networks"];
    EXPECT_EQ(listed_networks[server], a["networks"]);
    EXPECT_EQ(listed_networks[client], b["networks"]);

    // The network lists both; in use, it cannot go.
    json listed = d.inspect("/v1/networks/front");
    EXPECT_EQ(listed["containers"].size(), 2u) << listed.dump();
    EXPECT_EQ(listed["labels"]["tier"], "web");
    auto busy = d.call("DELETE", "/v1/networks/front");
    EXPECT_EQ(busy.status, 409);
    EXPECT_NE(error_message(busy).find("network front is in use by container(s)"),
              std::string::npos)
        << busy.body;

    d.remove(server);
    d.remove(client);
    EXPECT_TRUE(d.inspect("/v1/networks/front")["containers"].empty());
    EXPECT_EQ(d.call("DELETE", "/v1/networks/front").status, 204);
    EXPECT_EQ(d.call("GET", "/v1/networks/front").status, 404);
    // Nothing of either container or of the network is left in trumand's namespace.
    EXPECT_EQ(d.links_settled(d.links_before), d.links_before);
    EXPECT_EQ(d.netns.addresses(), d.addresses_before);
    EXPECT_EQ(container_leaks(d.daemon, {server, client}), "");
}

TEST(Networks, AddressesAreNeverHandedOutTwiceAcrossASigkillAndAreFreedOnDelete) {
    NetworkedDaemon d;
    // Room for five containers: .2-.6 (.1 is the gateway).
    ASSERT_EQ(d.post("/v1/networks", {{"name", "small"}, {"subnet", "192.0.2.0/29"}}).status, 201);
    std::vector<std::string> ids;
    for (int i = 0; i < 2; ++i)
        ids.push_back(d.container({{"cmd", {"sleep", "600"}}, {"networks", {"small"}}}));
    d.daemon.kill_hard();
    d.daemon.start();  // same state: the leases come back from disk
    for (int i = 0; i < 3; ++i)
        ids.push_back(d.container({{"cmd", {"sleep", "600"}}, {"networks", {"small"}}}, false));
    std::set<std::string> addresses;
    for (const auto& id : ids) addresses.insert(address_of(d.inspect("/v1/containers/" + id)));
    EXPECT_EQ(addresses, (std::set<std::string>{"192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5",
                                                "192.0.2.6"}));

    auto full = d.post("/v1/containers",
                       {{"image", "busybox"}, {"cmd", {"true"}}, {"networks", {"small"}}});
    EXPECT_EQ(full.status, 409) << full.body;
    EXPECT_NE(error_message(full).find("network small: subnet 192.0.2.0/29 is exhausted"),
              std::string::npos)
        << full.body;
    // The first container's address is free once it is deleted, and only then.
    std::string first = address_of(d.inspect("/v1/containers/" + ids[0]));
    auto taken = d.post("/v1/containers", {{"image", "busybox"},
                                           {"cmd", {"true"}},
                                           {"networks", {json{{"name", "small"}, {"ip", first}}}}});
    EXPECT_EQ(taken.status, 409) << taken.body;
    EXPECT_NE(error_message(taken).find("address " + first + " is taken on network small"),
              std::string::npos)
        << taken.body;
    d.remove(ids[0]);
    ids[0] = d.container(
        {{"cmd", {"true"}}, {"networks", {json{{"name", "small"}, {"ip", first}}}}}, false);
    EXPECT_EQ(address_of(d.inspect("/v1/containers/" + ids[0])), first);

    for (const auto& id : ids) d.remove(id);
    EXPECT_EQ(d.call("DELETE", "/v1/networks/small").status, 204);
    EXPECT_EQ(d.links_settled(d.links_before), d.links_before);
    EXPECT_EQ(container_leaks(d.daemon, {ids.begin(), ids.end()}), "");
}

TEST(Networks, BadRequestsAreRefusedNamingTheThing) {
    NetworkedDaemon d;
    struct Case {
        json body;
        int status;
        std::string message;
    };
    ASSERT_EQ(d.post("/v1/networks", {{"name", "taken"}, {"subnet", "198.51.100.0/24"}}).status,
              201);
    const Case cases[] = {
        {{{"name", "n1"}, {"subnet", "10.1.2.3"}}, 400, "subnet: \"10.1.2.3\" is not an IPv4 CIDR"},
        {{{"name", "n1"}, {"subnet", "10.1.2.1/24"}}, 400, "did you mean 10.1.2.0/24"},
        {{{"name", "n1"}, {"subnet", "10.1.2.0/24"}, {"gateway", "10.1.3.1"}},
         400,
         "gateway: 10.1.3.1 is not a host address of 10.1.2.0/24"},
        {{{"name", "n1"}, {"subnet", "198.51.100.128/25"}},
         409,
         "subnet 198.51.100.128/25 overlaps network taken (198.51.100.0/24)"},
        {{{"name", "taken"}, {"subnet", "10.1.2.0/24"}}, 409, "network taken already exists"},
        {{{"name", "bad name"}}, 400, "must match [a-zA-Z0-9]"},
        {{{"name", "n1"}, {"bogus", 1}}, 400, "bogus: unknown field"},
        {{{"name", "n1"}, {"bridge", "lo"}}, 409, "a link named lo already exists"},
    };
    for (const auto& c : cases) {
        auto r = d.post("/v1/networks", c.body);
        EXPECT_EQ(r.status, c.status) << c.body.dump() << " -> " << r.body;
        EXPECT_NE(error_message(r).find(c.message), std::string::npos)
            << c.body.dump() << " -> " << r.body;
    }
    auto unknown =
        d.post("/v1/containers", {{"image", "busybox"}, {"cmd", {"true"}}, {"networks", {"nope"}}});
    EXPECT_EQ(unknown.status, 404) << unknown.body;
    EXPECT_NE(error_message(unknown).find("no such network: nope"), std::string::npos);
    auto both = d.post("/v1/containers", {{"image", "busybox"},
                                          {"cmd", {"true"}},
                                          {"network", "loopback"},
                                          {"networks", {"taken"}}});
    EXPECT_EQ(both.status, 400) << both.body;
    auto outside =
        d.post("/v1/containers", {{"image", "busybox"},
                                  {"cmd", {"true"}},
                                  {"networks", {json{{"name", "taken"}, {"ip", "192.0.2.9"}}}}});
    EXPECT_EQ(outside.status, 400) << outside.body;
    EXPECT_NE(error_message(outside).find("networks[0].ip"), std::string::npos) << outside.body;
    EXPECT_EQ(d.call("DELETE", "/v1/networks/nope").status, 404);
    // None of these left a lease, a container or a link.
    EXPECT_TRUE(d.inspect("/v1/networks/taken")["containers"].empty());
    EXPECT_TRUE(d.inspect("/v1/containers").empty());
    EXPECT_EQ(d.call("DELETE", "/v1/networks/taken").status, 204);
    EXPECT_EQ(d.links_settled(d.links_before), d.links_before);
}

TEST(Networks, ContainersJoinTheDefaultNetworkUnlessTheyAskOtherwise) {
    // No --default-network at all: trumand's own default, the `truman` network, as docker0.
    NetworkedDaemon d({}, true);
    json truman = d.inspect("/v1/networks/truman");
    EXPECT_EQ(truman["bridge"], "truman0");
    std::string joined = d.container({{"cmd", {"ip", "-o", "-4", "addr"}}});
    std::string output;
    EXPECT_EQ(d.run_to_end(joined, &output), 0);
    json info = d.inspect("/v1/containers/" + joined);
    ASSERT_EQ(info["networks"].size(), 1u) << info.dump();
    EXPECT_EQ(info["networks"][0]["network"], "truman");
    EXPECT_NE(output.find("eth0"), std::string::npos) << output;
    EXPECT_NE(output.find(std::string(info["networks"][0]["address"])), std::string::npos)
        << output;

    std::string loopback =
        d.container({{"cmd", {"ip", "-o", "-4", "addr"}}, {"network", "loopback"}});
    EXPECT_EQ(d.run_to_end(loopback, &output), 0);
    EXPECT_EQ(output.find("eth0"), std::string::npos) << output;
    EXPECT_TRUE(d.inspect("/v1/containers/" + loopback)["networks"].empty());

    // "host": trumand's own namespace, where the bridge is.
    std::string host = d.container({{"cmd", {"ip", "-o", "link"}}, {"network", "host"}});
    EXPECT_EQ(d.run_to_end(host, &output), 0);
    EXPECT_NE(output.find("truman0"), std::string::npos) << output;

    for (const auto& id : {joined, loopback, host}) d.remove(id);
    EXPECT_TRUE(d.inspect("/v1/networks/truman")["containers"].empty());
    // The default network stays (like docker0) and holds only its bridge.
    std::set<std::string> expected = d.links_before;
    expected.insert("truman0");
    EXPECT_EQ(d.links_settled(expected), expected);
}

TEST(Networks, DefaultNetworkNoneMakesNoBridgeAndContainersGetLoopbackOnly) {
    NetworkedDaemon d({"--default-network", "none"});
    EXPECT_EQ(d.call("GET", "/v1/networks/truman").status, 404);
    std::string id = d.container({{"cmd", {"ip", "-o", "link"}}});
    std::string output;
    EXPECT_EQ(d.run_to_end(id, &output), 0);
    EXPECT_EQ(output.find("eth0"), std::string::npos) << output;
    EXPECT_NE(output.find("lo:"), std::string::npos) << output;
    EXPECT_TRUE(d.inspect("/v1/containers/" + id)["networks"].empty());
    d.remove(id);
    EXPECT_EQ(d.links_settled(d.links_before), d.links_before);
}

TEST(Networks, ManyContainersReuseTheAddressesOfDeletedOnesAndLeaveNothing) {
    NetworkedDaemon d;
    // The 200 containers, on 13 addresses in rounds of 13 (the last one of 5): only
    // reuse makes that fit.
    ASSERT_EQ(d.post("/v1/networks", {{"name", "reuse"}, {"subnet", "192.0.2.0/28"}}).status, 201);
    std::set<std::string> all_ids, addresses;
    for (size_t made = 0; made < 200;) {
        std::vector<std::string> ids;
        for (size_t i = 0; i < 13 && made < 200; ++i, ++made)
            ids.push_back(d.container({{"cmd", {"true"}}, {"networks", {"reuse"}}}, false));
        for (const auto& id : ids) {
            addresses.insert(address_of(d.inspect("/v1/containers/" + id)));
            all_ids.insert(id);
        }
        if (ids.size() == 13) {
            EXPECT_EQ(d.post("/v1/containers",
                             {{"image", "busybox"}, {"cmd", {"true"}}, {"networks", {"reuse"}}})
                          .status,
                      409);
        }
        for (const auto& id : ids) d.remove(id);
        if (::testing::Test::HasFailure()) break;  // one failure, not 200 of them
    }
    EXPECT_EQ(all_ids.size(), 200u);
    EXPECT_EQ(addresses.size(), 13u);
    EXPECT_TRUE(d.inspect("/v1/networks/reuse")["containers"].empty());
    EXPECT_EQ(d.call("DELETE", "/v1/networks/reuse").status, 204);
    // The host ends go with their netns, which the kernel cleans up asynchronously.
    EXPECT_EQ(d.links_settled(d.links_before), d.links_before);
    EXPECT_EQ(d.netns.addresses(), d.addresses_before);
    EXPECT_EQ(container_leaks(d.daemon, all_ids), "");
}

TEST(Networks, TrumanctlManagesNetworksAndRunsAContainerOnOne) {
    NetworkedDaemon d;
    auto ctl = [&](const std::string& args, std::string* out) {
        return run_host(std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl --socket " +
                            d.daemon.socket() + " " + args,
                        out);
    };
    std::string out;
    ASSERT_EQ(ctl("network create web --subnet 192.0.2.0/28 --label tier=front", &out), 0) << out;
    EXPECT_EQ(out.size(), 65u) << out;  // the id and a newline
    EXPECT_EQ(ctl("network ls", &out), 0);
    EXPECT_NE(out.find("web"), std::string::npos) << out;
    EXPECT_NE(out.find("192.0.2.0/28"), std::string::npos) << out;
    EXPECT_EQ(ctl("run --rm --network web --ip 192.0.2.9 busybox ip -o -4 addr show eth0", &out), 0)
        << out;
    EXPECT_NE(out.find("192.0.2.9/28"), std::string::npos) << out;
    EXPECT_EQ(ctl("run --rm --network nope busybox true", &out), 126) << out;
    EXPECT_NE(out.find("no such network: nope"), std::string::npos) << out;
    EXPECT_EQ(ctl("network inspect web", &out), 0);
    json shown = json::parse(out, nullptr, false);
    EXPECT_EQ(shown.value("subnet", ""), "192.0.2.0/28") << out;
    EXPECT_TRUE(shown["containers"].empty()) << out;  // --rm freed the address
    EXPECT_EQ(ctl("network create bad --label novalue", &out), 125) << out;
    EXPECT_EQ(ctl("network rm web", &out), 0) << out;
    EXPECT_EQ(ctl("network rm web", &out), 126) << out;
    EXPECT_EQ(d.links_settled(d.links_before), d.links_before);
}

}  // namespace
}  // namespace truman::test
