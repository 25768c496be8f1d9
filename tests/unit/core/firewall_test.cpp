// The nftables batch trumand applies, checked without privileges: one transaction that
// replaces table inet truman whole, one rule per need, each naming its network.
#include "truman/firewall.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_support.hpp"
#include "truman/error.hpp"

using nlohmann::json;
using namespace truman;

namespace {

std::vector<json> rules_of(const json& batch) {
    std::vector<json> out;
    for (const auto& cmd : batch["nftables"])
        if (cmd.contains("add") && cmd["add"].contains("rule")) out.push_back(cmd["add"]["rule"]);
    return out;
}

}  // namespace

TEST(Firewall, TheBatchReplacesTheWholeTableAndNamesEachRulesNetwork) {
    json batch = json::parse(firewall_batch(
        {{"web", "tmbr1", "10.89.1.0/24", false}, {"db", "tmbr2", "10.89.2.0/24", true}}));
    const auto& cmds = batch["nftables"];
    ASSERT_GE(cmds.size(), 5u);
    // add, delete, add: works with and without an existing table, leaves nothing stale.
    EXPECT_TRUE(cmds[0]["add"].contains("table"));
    EXPECT_TRUE(cmds[1]["delete"].contains("table"));
    EXPECT_EQ(cmds[1]["delete"]["table"]["name"], "truman");
    EXPECT_EQ(cmds[1]["delete"]["table"]["family"], "inet");
    EXPECT_TRUE(cmds[2]["add"].contains("table"));
    for (const auto& cmd : cmds)
        for (const auto& [verb, object] : cmd.items())
            for (const auto& [type, body] : object.items())
                EXPECT_EQ(body.at(type == "table" ? "name" : "table"), "truman") << cmd.dump();

    auto rules = rules_of(batch);
    ASSERT_EQ(rules.size(), 4u);
    EXPECT_EQ(rules[0]["chain"], "postrouting");
    EXPECT_EQ(rules[0]["comment"], "network web");
    std::string masq = rules[0]["expr"].dump();
    EXPECT_NE(masq.find(R"("addr":"10.89.1.0","len":24)"), std::string::npos) << masq;
    EXPECT_NE(masq.find("masquerade"), std::string::npos) << masq;
    EXPECT_NE(masq.find(R"("op":"!=")"), std::string::npos) << masq;  // not back into the bridge
    for (size_t i = 1; i < 3; ++i) {
        EXPECT_EQ(rules[i]["chain"], "forward");
        EXPECT_EQ(rules[i]["comment"], "network db (internal)");
        EXPECT_NE(rules[i]["expr"].dump().find("drop"), std::string::npos);
    }
    // Isolation: web's bridge is not routed into db's (db, internal, drops all of it above).
    EXPECT_EQ(rules[3]["chain"], "forward");
    EXPECT_EQ(rules[3]["comment"], "network web (isolated)");
    std::string isolated = rules[3]["expr"].dump();
    EXPECT_NE(isolated.find(R"({"set":["tmbr2"]})"), std::string::npos) << isolated;
    EXPECT_NE(isolated.find("drop"), std::string::npos) << isolated;
    EXPECT_EQ(rules_of(json::parse(firewall_batch({}))).size(), 0u);
}

TEST(Firewall, RefusesWhatIsNotASubnetOrALinkName) {
    EXPECT_THROW(firewall_batch({{"x", "tmbr1", "10.89.1.0", false}}), Error);
    EXPECT_THROW(firewall_batch({{"x", "bad name", "10.89.1.0/24", false}}), Error);
    // A quote in a (valid) link name stays a JSON string: no way into nft's own syntax.
    json batch = json::parse(firewall_batch({{"q", "br\"0", "10.89.1.0/24", false}}));
    EXPECT_EQ(rules_of(batch).size(), 1u);
}

TEST(Firewall, FindsUplinksAndSetsForwardingOnlyOnTheDevicesNamed) {
    test::TempDir dir;
    std::ofstream(dir.path() + "/route")
        << "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
           "eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\n"
           "eth1\t0000000A\t00000000\t0001\t0\t0\t0\t0000FFFF\n";
    EXPECT_EQ(ipv4_uplinks(dir.path() + "/route"), (std::set<std::string>{"eth0"}));

    for (const char* dev : {"tmbr1", "eth0", "all"}) {
        std::string d = dir.path() + "/net/ipv4/conf/" + dev;
        std::filesystem::create_directories(d);
        std::ofstream(d + "/forwarding") << "0\n";
    }
    enable_ipv4_forwarding({"tmbr1", "eth0", "gone0"}, dir.path());
    EXPECT_EQ(test::read_file(dir.path() + "/net/ipv4/conf/tmbr1/forwarding"), "1\n");
    EXPECT_EQ(test::read_file(dir.path() + "/net/ipv4/conf/eth0/forwarding"), "1\n");
    EXPECT_EQ(test::read_file(dir.path() + "/net/ipv4/conf/all/forwarding"), "0\n");
}

TEST(Firewall, APublishedPortIsDnatFromOutsideAndLocalhostWithMasqueradeForHairpins) {
    PortForward p{"container web", "tmbr1", "10.89.1.0/24", "", 8080, "10.89.1.2", 80, "tcp"};
    json batch = json::parse(firewall_batch({{"web", "tmbr1", "10.89.1.0/24", false}}, {p}));
    auto rules = rules_of(batch);
    std::map<std::string, std::vector<std::string>> by_chain;
    for (const auto& r : rules) by_chain[r["chain"]].push_back(r["expr"].dump());
    ASSERT_EQ(by_chain["prerouting"].size(), 1u);
    ASSERT_EQ(by_chain["output"].size(), 1u);
    ASSERT_EQ(by_chain["postrouting"].size(), 2u);  // the network's masquerade and the hairpin
    ASSERT_EQ(by_chain["guard"].size(), 1u);
    for (const auto& chain : {"prerouting", "output"}) {
        const std::string& dnat = by_chain[chain][0];
        EXPECT_NE(dnat.find(R"("dnat":{"addr":"10.89.1.2","family":"ip","port":80})"),
                  std::string::npos)
            << dnat;
        EXPECT_NE(dnat.find(R"("right":"local")"), std::string::npos) << dnat;  // every address
        EXPECT_NE(dnat.find(R"("right":8080)"), std::string::npos) << dnat;
    }
    const std::string& hairpin = by_chain["postrouting"][1];
    EXPECT_NE(hairpin.find("127.0.0.0"), std::string::npos) << hairpin;
    EXPECT_NE(hairpin.find("10.89.1.0"), std::string::npos) << hairpin;
    EXPECT_NE(hairpin.find("masquerade"), std::string::npos) << hairpin;
    EXPECT_NE(by_chain["guard"][0].find("drop"), std::string::npos);
    EXPECT_EQ(rules.back()["comment"], "bridge tmbr1 (route_localnet)");
    // A given host address instead of every local one; a bad proto or address is refused.
    p.host_ip = "192.0.2.5";
    std::string one = firewall_batch({}, {p});
    EXPECT_NE(one.find(R"("right":"192.0.2.5")"), std::string::npos) << one;
    EXPECT_EQ(one.find(R"("right":"local")"), std::string::npos) << one;
    p.proto = "sctp";
    EXPECT_THROW(firewall_batch({}, {p}), Error);
    p.proto = "udp";
    p.container_address = "10.89.1.2\"";
    EXPECT_THROW(firewall_batch({}, {p}), Error);
}

TEST(Firewall, ADualStackNetworkIsMasqueradedAndPublishedOverIpv6Too) {
    NatNetwork n{"web", "tmbr1", "10.89.1.0/24", false, "fd00:1::/64"};
    PortForward p{"container web", "tmbr1", "10.89.1.0/24", "0.0.0.0",     8080,
                  "10.89.1.2",     80,      "tcp",          "fd00:1::/64", "fd00:1::2"};
    auto rules = rules_of(json::parse(firewall_batch({n}, {p})));
    std::map<std::string, std::vector<std::string>> by_chain;
    for (const auto& r : rules) by_chain[r["chain"]].push_back(r["expr"].dump());
    // Both families' DNAT in prerouting and output, the v6 ones never for ::1.
    ASSERT_EQ(by_chain["prerouting"].size(), 2u);
    ASSERT_EQ(by_chain["output"].size(), 2u);
    bool v6_dnat = false;
    for (const auto& e : by_chain["output"])
        if (e.find(R"("dnat":{"addr":"fd00:1::2","family":"ip6","port":80})") !=
            std::string::npos) {
            v6_dnat = true;
            EXPECT_NE(e.find(R"("op":"!=","right":"::1")"), std::string::npos) << e;
        }
    EXPECT_TRUE(v6_dnat);
    // Masquerade of both subnets, and the two hairpins.
    std::string post;
    for (const auto& e : by_chain["postrouting"]) post += e;
    EXPECT_EQ(by_chain["postrouting"].size(), 4u) << post;
    EXPECT_NE(post.find(R"({"addr":"fd00:1::","len":64})"), std::string::npos) << post;
    // An IPv6 host_ip: the IPv6 rules only; for a container without IPv6 it is refused.
    p.host_ip = "2001:db8::2";
    // (Plus the bridge's IPv4 127/8 guard, which every bridge with published ports has.)
    rules = rules_of(json::parse(firewall_batch({}, {p})));
    ASSERT_EQ(rules.size(), 4u);
    EXPECT_NE(rules[0]["expr"].dump().find(R"("right":"2001:db8::2")"), std::string::npos);
    EXPECT_EQ(rules[3]["chain"], "guard");
    p.container_address6 = "";
    EXPECT_THROW(firewall_batch({}, {p}), Error);
    // An IPv4 host_ip on a dual stack container: IPv4 rules only.
    p.host_ip = "192.0.2.5";
    p.container_address6 = "fd00:1::2";
    EXPECT_EQ(firewall_batch({}, {p}).find("ip6"), std::string::npos);
}

TEST(Firewall, Ipv6ForwardingKeepsRouterAdvertisementsWhereTheyWereAccepted) {
    test::TempDir dir;
    const std::string conf = dir.path() + "/net/ipv6/conf/";
    for (auto [dev, ra] :
         {std::pair{"all", "1"}, {"default", "1"}, {"eth0", "1"}, {"eth1", "0"}, {"eth2", "2"}}) {
        std::filesystem::create_directories(conf + dev);
        std::ofstream(conf + dev + "/accept_ra") << ra << "\n";
        std::ofstream(conf + dev + "/forwarding") << "0\n";
    }
    enable_ipv6_forwarding(dir.path());
    EXPECT_EQ(test::read_file(conf + "all/forwarding"), "1\n");
    EXPECT_EQ(test::read_file(conf + "eth0/accept_ra"), "2\n");
    EXPECT_EQ(test::read_file(conf + "default/accept_ra"), "2\n");
    EXPECT_EQ(test::read_file(conf + "eth1/accept_ra"), "0\n");  // did not take RAs: still not
    EXPECT_EQ(test::read_file(conf + "eth2/accept_ra"), "2\n");
    EXPECT_EQ(test::read_file(conf + "all/accept_ra"), "1\n");  // the kernel never reads it
    // Forwarding on already: nothing is touched.
    std::ofstream(conf + "eth0/accept_ra") << "1\n";
    enable_ipv6_forwarding(dir.path());
    EXPECT_EQ(test::read_file(conf + "eth0/accept_ra"), "1\n");
}

TEST(Firewall, ANetworksDnsServerIsGuardedAgainstEveryDeviceButItsBridgeAndLo) {
    json batch =
        json::parse(firewall_batch({{"web", "tmbr1", "10.89.1.0/24", false, "", "10.89.1.1"},
                                    {"db", "tmbr2", "10.89.2.0/24", false}}));
    bool input_chain = false;
    for (const auto& cmd : batch["nftables"])
        if (cmd.contains("add") && cmd["add"].contains("chain") &&
            cmd["add"]["chain"]["name"] == "input")
            input_chain = cmd["add"]["chain"]["hook"] == "input";
    EXPECT_TRUE(input_chain);
    std::vector<json> guards;
    for (const auto& r : rules_of(batch))
        if (r["chain"] == "input") guards.push_back(r);
    ASSERT_EQ(guards.size(), 2u);  // udp and tcp, for web only
    for (const auto& g : guards) {
        EXPECT_EQ(g["comment"], "network web (dns)");
        std::string expr = g["expr"].dump();
        EXPECT_NE(expr.find(R"("right":"10.89.1.1")"), std::string::npos) << expr;
        EXPECT_NE(expr.find(R"("right":53)"), std::string::npos) << expr;
        EXPECT_NE(expr.find(R"("op":"!=","right":{"set":["tmbr1","lo"]})"), std::string::npos)
            << expr;
        EXPECT_NE(expr.find("drop"), std::string::npos) << expr;
    }
    // No DNS server: no input chain at all.
    EXPECT_EQ(firewall_batch({{"db", "tmbr2", "10.89.2.0/24", false}}).find("\"input\""),
              std::string::npos);
    EXPECT_THROW(firewall_batch({{"web", "tmbr1", "10.89.1.0/24", false, "", "not-an-ip"}}), Error);
}

TEST(Firewall, TheIpv6ForwardingGuardComesLastAndAcceptsOnlyTrumansBridgesAndReplies) {
    NatNetwork web{"web", "tmbr1", "10.89.1.0/24", false, "fd00:1::/64"};
    NatNetwork db{"db", "tmbr2", "10.89.2.0/24", true};
    // Without it, no IPv6 drop at all: the host's other forwarding is not truman's business.
    for (const auto& r : rules_of(json::parse(firewall_batch({web, db}))))
        EXPECT_NE(r["comment"], ipv6_forwarding_guard) << r.dump();
    auto rules = rules_of(json::parse(firewall_batch({web, db}, {}, true)));
    ASSERT_GE(rules.size(), 4u);
    // The last four: established/related, from the bridges, to the bridges, then drop; after
    // the internal and isolation drops, which an accept would otherwise bypass.
    std::vector<json> guard(rules.end() - 4, rules.end());
    for (const auto& r : guard) {
        EXPECT_EQ(r["chain"], "forward");
        EXPECT_EQ(r["comment"], ipv6_forwarding_guard);
        EXPECT_EQ(r["expr"][0]["match"]["right"], "ipv6") << r.dump();  // IPv6 only
    }
    for (auto it = rules.begin(); it != rules.end() - 4; ++it)
        EXPECT_NE((*it)["comment"], ipv6_forwarding_guard) << it->dump();
    EXPECT_EQ(guard[0]["expr"][1]["match"]["left"]["ct"]["key"], "state");
    EXPECT_EQ(guard[0]["expr"][2], json({{"accept", nullptr}}));
    EXPECT_EQ(guard[1]["expr"][1]["match"]["left"]["meta"]["key"], "iifname");
    EXPECT_EQ(guard[1]["expr"][1]["match"]["right"]["set"], json::array({"tmbr1", "tmbr2"}));
    EXPECT_EQ(guard[2]["expr"][1]["match"]["left"]["meta"]["key"], "oifname");
    EXPECT_EQ(guard[3]["expr"][1], json({{"drop", nullptr}}));
    // With no network left: replies still pass, everything else forwarded over IPv6 is dropped.
    auto alone = rules_of(json::parse(firewall_batch({}, {}, true)));
    ASSERT_EQ(alone.size(), 2u);
    EXPECT_EQ(alone[0]["expr"][2], json({{"accept", nullptr}}));
    EXPECT_EQ(alone[1]["expr"][1], json({{"drop", nullptr}}));
}
