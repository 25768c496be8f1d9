// IPAM's rules without privileges: subnets, overlap, the pool, the next free address, and the
// host's routes as /proc/net/route prints them.
#include "truman/daemon/ipam.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.hpp"
#include "truman/error.hpp"

using namespace truman::daemon::ipam;
using truman::Error;
using truman::ErrorKind;

namespace {

template <typename Fn>
Error error_of(Fn fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "no truman::Error thrown";
    return Error(ErrorKind::system, 0, "none");
}

Subnet subnet(const std::string& text) {
    return parse_subnet(text, "subnet");
}

}  // namespace

TEST(Ipam, ParsesSubnetsAndRefusesHostBitsAndOddPrefixes) {
    Subnet s = subnet("10.89.3.0/24");
    EXPECT_EQ(format_subnet(s), "10.89.3.0/24");
    EXPECT_EQ(format_address(s.broadcast()), "10.89.3.255");
    EXPECT_EQ(format_address(default_gateway(s)), "10.89.3.1");

    Error e = error_of([] { subnet("10.89.3.1/24"); });
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("did you mean 10.89.3.0/24"), std::string::npos)
        << e.what();
    for (const char* bad : {"10.89.3.0/31", "10.89.3.0/32", "10.89.3.0/0", "10.89.3.0", "x/24",
                            "10.89.3.0/33", "::1/64"}) {
        Error b = error_of([&] { subnet(bad); });
        EXPECT_EQ(b.kind(), ErrorKind::invalid) << bad;
        EXPECT_EQ(std::string(b.what()).rfind("subnet: ", 0), 0u) << b.what();
    }
}

TEST(Ipam, OverlapIsContainmentEitherWay) {
    EXPECT_TRUE(overlaps(subnet("10.0.0.0/8"), subnet("10.89.0.0/24")));
    EXPECT_TRUE(overlaps(subnet("10.89.0.0/24"), subnet("10.0.0.0/8")));
    EXPECT_TRUE(overlaps(subnet("10.89.0.0/24"), subnet("10.89.0.0/24")));
    EXPECT_FALSE(overlaps(subnet("10.89.0.0/24"), subnet("10.89.1.0/24")));
    EXPECT_FALSE(overlaps(subnet("10.89.0.0/25"), subnet("10.89.0.128/25")));

    std::vector<TakenSubnet> taken = {{subnet("10.89.0.0/24"), "network front"}};
    EXPECT_NO_THROW(check_no_overlap(subnet("10.89.1.0/24"), taken));
    Error e = error_of([&] { check_no_overlap(subnet("10.89.0.0/16"), taken); });
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(e.what()).find("overlaps network front (10.89.0.0/24)"),
              std::string::npos)
        << e.what();
}

TEST(Ipam, ChoosesTheFirstFreeSubnetOfThePool) {
    Subnet pool = subnet("10.89.0.0/16");
    EXPECT_EQ(format_subnet(choose_subnet(pool, 24, {})), "10.89.0.0/24");
    std::vector<TakenSubnet> taken = {{subnet("10.89.0.0/24"), "network a"},
                                      {subnet("10.89.1.128/25"), "the host's route"},
                                      {subnet("10.89.2.0/23"), "network b"}};
    EXPECT_EQ(format_subnet(choose_subnet(pool, 24, taken)), "10.89.4.0/24");
    // A route covering the whole pool leaves nothing.
    Error e = error_of([&] {
        choose_subnet(pool, 24, {{subnet("10.0.0.0/8"), "the host's route 10.0.0.0/8 dev eth0"}});
    });
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(e.what()).find("no free /24"), std::string::npos) << e.what();
    // The last subnet of the pool is handed out too (no overflow past its end).
    std::vector<TakenSubnet> all_but_last;
    for (unsigned i = 0; i < 3; ++i)
        all_but_last.push_back({subnet("10.90.0." + std::to_string(i * 64) + "/26"), "n"});
    EXPECT_EQ(format_subnet(choose_subnet(subnet("10.90.0.0/24"), 26, all_but_last)),
              "10.90.0.192/26");
    EXPECT_THROW(choose_subnet(pool, 12, {}), Error);  // larger than the pool
}

TEST(Ipam, HandsOutTheLowestFreeHostAddressAndSaysWhenTheSubnetIsExhausted) {
    Subnet s = subnet("192.0.2.0/29");  // .1 gateway, .2-.6 containers
    uint32_t gw = default_gateway(s);
    std::set<uint32_t> used;
    std::vector<std::string> got;
    for (int i = 0; i < 5; ++i) {
        uint32_t a = next_free_address(s, gw, used, "small");
        used.insert(a);
        got.push_back(format_address(a));
    }
    EXPECT_EQ(got, (std::vector<std::string>{"192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5",
                                             "192.0.2.6"}));
    Error e = error_of([&] { next_free_address(s, gw, used, "small"); });
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(e.what()).find("network small: subnet 192.0.2.0/29 is exhausted"),
              std::string::npos)
        << e.what();
    used.erase(parse_address("192.0.2.4", "ip"));
    EXPECT_EQ(format_address(next_free_address(s, gw, used, "small")), "192.0.2.4");
}

TEST(Ipam, ChecksARequestedAddressAndGateway) {
    Subnet s = subnet("192.0.2.0/24");
    uint32_t gw = parse_address("192.0.2.1", "gateway");
    std::set<uint32_t> used = {parse_address("192.0.2.7", "ip")};
    auto check = [&](const char* ip) {
        check_requested_address(s, gw, parse_address(ip, "ip"), used, "front", "networks[0].ip");
    };
    EXPECT_NO_THROW(check("192.0.2.8"));
    Error taken = error_of([&] { check("192.0.2.7"); });
    EXPECT_EQ(taken.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(taken.what()).find("192.0.2.7 is taken on network front"),
              std::string::npos);
    for (const char* bad : {"192.0.2.1", "192.0.2.0", "192.0.2.255", "198.51.100.2"}) {
        Error e = error_of([&] { check(bad); });
        EXPECT_EQ(e.kind(), ErrorKind::invalid) << bad;
        EXPECT_EQ(e.field(), "networks[0].ip") << bad;
    }
    EXPECT_NO_THROW(check_gateway(s, parse_address("192.0.2.254", "g"), "gateway"));
    EXPECT_EQ(
        error_of([&] { check_gateway(s, parse_address("192.0.3.1", "g"), "gateway"); }).field(),
        "gateway");
    EXPECT_THROW(check_gateway(s, s.broadcast(), "gateway"), Error);
}

TEST(Ipam, ReadsTheHostsRoutesWithoutDefaultRoutesAndOurBridges) {
    truman::test::TempDir dir;
    const std::string path = dir.path() + "/route";
    std::ofstream(path)
        << "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
           "eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
           "eth0\t0000000A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
           "truman0\t0000590A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
           "up0\t006433C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
    auto routes = host_routes(path, {"truman0"});
    ASSERT_EQ(routes.size(), 2u);
    EXPECT_EQ(format_subnet(routes[0].subnet), "10.0.0.0/16");
    EXPECT_EQ(routes[0].holder, "the host's route 10.0.0.0/16 dev eth0");
    EXPECT_EQ(format_subnet(routes[1].subnet), "198.51.100.0/24");
    EXPECT_THROW(host_routes(dir.path() + "/missing", {}), Error);
}

TEST(Ipam, Ipv6SubnetsAddressesAndThePoolFollowTheIpv4Rules) {
    Subnet6 s = parse_subnet6("fd00:89::/64", "subnet6");
    EXPECT_EQ(format_subnet6(s), "fd00:89::/64");
    EXPECT_EQ(format_address6(default_gateway(s)), "fd00:89::1");
    EXPECT_NE(std::string(error_of([] { parse_subnet6("fd00:89::1/64", "subnet6"); }).what())
                  .find("did you mean fd00:89::/64?"),
              std::string::npos);
    for (const char* bad : {"fd00::/127", "fd00::/0", "fd00::", "10.0.0.0/8", "ff02::/16",
                            "fe80::/64", "::/0", "::ffff:0:0/96", "fd00::/64x"})
        EXPECT_EQ(error_of([&] { parse_subnet6(bad, "subnet6"); }).kind(), ErrorKind::invalid)
            << bad;

    // The pool: the first free /64, around networks and host routes of any size.
    Subnet6 pool = parse_subnet6("fd00::/8", "pool6");
    std::vector<TakenSubnet6> taken;
    EXPECT_EQ(format_subnet6(choose_subnet(pool, 64, taken)), "fd00::/64");
    taken.push_back({parse_subnet6("fd00::/48", "t"), "network a"});
    EXPECT_EQ(format_subnet6(choose_subnet(pool, 64, taken)), "fd00:0:1::/64");  // past the /48
    EXPECT_EQ(error_of([&] { check_no_overlap(parse_subnet6("fd00::/56", "s"), taken); }).kind(),
              ErrorKind::conflict);
    taken.push_back({parse_subnet6("fd00::/8", "t"), "the host's route fd00::/8 dev eth0"});
    EXPECT_EQ(error_of([&] { choose_subnet(pool, 64, taken); }).kind(), ErrorKind::conflict);

    // Addresses: lowest free, never the gateway or base; the last one is a host address.
    Address6 gw = default_gateway(s);
    std::set<Address6> used{gw + 1};
    EXPECT_EQ(format_address6(next_free_address(s, gw, used, "n")), "fd00:89::3");
    EXPECT_EQ(error_of([&] { check_requested_address(s, gw, gw + 1, used, "n", "ip6"); }).kind(),
              ErrorKind::conflict);
    EXPECT_EQ(error_of([&] { check_requested_address(s, gw, gw, used, "n", "ip6"); }).kind(),
              ErrorKind::invalid);
    EXPECT_EQ(error_of([&] { check_requested_address(s, gw, s.base, used, "n", "ip6"); }).kind(),
              ErrorKind::invalid);
    check_requested_address(s, gw, s.last(), used, "n", "ip6");
    Subnet6 tiny = parse_subnet6("fd00::/126", "s");  // ::1 gateway, ::2 and ::3 hosts
    std::set<Address6> full{tiny.base + 2, tiny.base + 3};
    EXPECT_EQ(error_of([&] { next_free_address(tiny, tiny.base + 1, full, "n"); }).kind(),
              ErrorKind::conflict);
}

TEST(Ipam, ReadsTheHostsIpv6RoutesWithoutDefaultHostLinkLocalAndMulticastRoutes) {
    truman::test::TempDir dir;
    std::ofstream(dir.path() + "/ipv6_route")
        << "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 "
           "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
           "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
           "00000000000000000000000000000000 00000100 00000001 00000000 00000001   tmbr1\n"
           "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
           "20010db8000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n"
           "20010db8000000000000000000000002 80 00000000000000000000000000000000 00 "
           "00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth0\n"
           "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
           "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
           "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 "
           "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n";
    auto routes = host_routes6(dir.path() + "/ipv6_route", {"tmbr1"});
    ASSERT_EQ(routes.size(), 1u);
    EXPECT_EQ(format_subnet6(routes[0].subnet), "2001:db8::/64");
    EXPECT_EQ(routes[0].holder, "the host's route 2001:db8::/64 dev eth0");
    EXPECT_TRUE(host_routes6(dir.path() + "/missing", {}).empty());
}
