// The pure parts of network setup: input checks that must fail before any kernel request.
#include "truman/network.hpp"

#include <gtest/gtest.h>

#include <string>

#include "truman/error.hpp"

namespace truman {
namespace {

template <typename F>
Error error_of(F f) {
    try {
        f();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "no truman::Error thrown";
    return Error(ErrorKind::system, 0, "none");
}

TEST(NetworkCidr, ParsesAddressAndPrefix) {
    Ipv4Cidr c = parse_ipv4_cidr("10.88.0.2/16", "network.address");
    EXPECT_EQ(c.address, (std::array<std::uint8_t, 4>{10, 88, 0, 2}));
    EXPECT_EQ(c.prefix_length, 16u);
    EXPECT_EQ(parse_ipv4_cidr("10.0.0.1/1", "f").prefix_length, 1u);
    EXPECT_EQ(parse_ipv4_cidr("255.255.255.255/32", "f").address[3], 255);
}

TEST(NetworkCidr, RejectsMalformedAddressesNamingTheField) {
    // A /0 address gets no on-link route from the kernel: it reaches nothing, and a default
    // route through any gateway is refused ("Nexthop has invalid gateway").
    for (const char* bad :
         {"", "10.88.0.2", "10.88.0.2/", "10.88.0.2/33", "10.88.0.2/-1", "0.0.0.0/0", "10.88.0.2/0",
          "10.88.0.2/1a", "10.88.0.256/24", "10.88.0/24", "10.88.0.2/16/2", "fd00::1/64",
          " 10.88.0.2/16", "10.88.0.2/016", "a.b.c.d/8"}) {
        Error e = error_of([&] { parse_ipv4_cidr(bad, "network.address"); });
        EXPECT_EQ(e.kind(), ErrorKind::invalid) << bad;
        EXPECT_EQ(e.err(), EINVAL) << bad;
        EXPECT_EQ(std::string(e.what()).rfind("network.address: ", 0), 0u) << e.what();
    }
}

TEST(NetworkCidr, ParsesPlainGatewayAddress) {
    EXPECT_EQ(parse_ipv4("10.88.0.1", "network.gateway"),
              (std::array<std::uint8_t, 4>{10, 88, 0, 1}));
    for (const char* bad : {"", "10.88.0.1/16", "10.88.1", "010.88.0.1", "host"}) {
        Error e = error_of([&] { parse_ipv4(bad, "network.gateway"); });
        EXPECT_EQ(e.kind(), ErrorKind::invalid) << bad;
        EXPECT_NE(std::string(e.what()).find("network.gateway"), std::string::npos);
    }
}

TEST(NetworkNames, HostLinkNameIsTmPlusElevenCharactersOfTheId) {
    EXPECT_EQ(host_link_name("0123456789abcdef0123"), "tm0123456789a");
    EXPECT_EQ(host_link_name("0123456789abcdef0123").size(), 13u);
    EXPECT_EQ(host_link_name("web"), "tmweb");
    EXPECT_EQ(error_of([] { host_link_name(""); }).kind(), ErrorKind::invalid);
    // An id the kernel would refuse as an interface name is refused here, with the field.
    EXPECT_EQ(error_of([] { host_link_name("a/b"); }).kind(), ErrorKind::invalid);
}

TEST(NetworkNames, LinkNamesFollowTheKernelRules) {
    validate_link_name("eth0", "f");
    validate_link_name("123456789012345", "f");  // 15 characters: the maximum
    for (const char* bad : {"", "1234567890123456", ".", "..", "a/b", "a:b", "a b", "a\tb"}) {
        Error e = error_of([&] { validate_link_name(bad, "network.host_interface"); });
        EXPECT_EQ(e.kind(), ErrorKind::invalid) << bad;
        EXPECT_EQ(std::string(e.what()).rfind("network.host_interface: ", 0), 0u) << e.what();
    }
}

TEST(NetworkNames, NetnsNamesCannotEscapeTheDirectory) {
    validate_netns_name("test-1", "f");
    for (const char* bad : {"", ".", "..", "a/b", "../etc"})
        EXPECT_EQ(error_of([&] { validate_netns_name(bad, "netns name"); }).kind(),
                  ErrorKind::invalid)
            << bad;
    EXPECT_EQ(error_of([] { validate_netns_name(std::string(256, 'x'), "f"); }).kind(),
              ErrorKind::invalid);
}

TEST(NetworkSetup, ModeNoneTouchesNothing) {
    Network net;
    net.mode = Network::Mode::none;
    // pid 0 would be an error for any mode that touches a namespace.
    EXPECT_EQ(setup_network(0, net, "abc"), "");
}

TEST(NetworkSetup, BadInputFailsBeforeAnyKernelRequest) {
    Network net;
    net.mode = Network::Mode::veth;
    net.address = "10.88.0.300/16";
    // pid 1 and a valid host name: the address is what must be refused, before RTM_NEWLINK.
    Error e = error_of([&] { setup_network(1, net, "abc"); });
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("network.address"), std::string::npos) << e.what();

    net.address = "";
    net.gateway = "10.88.0.1";
    e = error_of([&] { setup_network(1, net, "abc"); });
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("network.gateway"), std::string::npos) << e.what();

    net.gateway = "";
    net.host_interface = "much-too-long-name";
    e = error_of([&] { setup_network(1, net, "abc"); });
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("network.host_interface"), std::string::npos);

    e = error_of([] { configure_container_network(1, "eth0", "10.1.2.3", ""); });
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
}

}  // namespace
}  // namespace truman
