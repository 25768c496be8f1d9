// The files of a network's DNS server (dns_server.hpp), checked without privileges; the
// server itself is tested as root in integration/dns_test.cpp.
#include "truman/daemon/dns_server.hpp"

#include <gtest/gtest.h>

using namespace truman::daemon;

TEST(DnsServerFiles, TheConfigurationListensOnTheGatewayOnlyAndForwardsToTheUpstreams) {
    DnsServerPaths paths{"/run/truman/dns/web"};
    std::string conf =
        render_dnsmasq_conf({"web", "10.89.1.1", {"198.51.100.1", "2001:db8::53"}}, paths);
    for (const char* line :
         {"\nlisten-address=10.89.1.1\n", "\nbind-interfaces\n", "\nno-resolv\n", "\nno-hosts\n",
          "\nhostsdir=/run/truman/dns/web/hosts\n", "\npid-file=/run/truman/dns/web/dnsmasq.pid\n",
          "\nserver=198.51.100.1\n", "\nserver=2001:db8::53\n", "\ndomain-needed\n"})
        EXPECT_NE(conf.find(line), std::string::npos) << line << " in\n" << conf;
    // Nothing that would make it listen elsewhere, or serve DHCP.
    EXPECT_EQ(conf.find("interface="), std::string::npos) << conf;
    EXPECT_EQ(conf.find("dhcp"), std::string::npos) << conf;
    // An internal network's: local names only.
    EXPECT_EQ(render_dnsmasq_conf({"web", "10.89.1.1", {}}, paths).find("server="),
              std::string::npos);
}

TEST(DnsServerFiles, TheServerDropsToTheAccountItIsGiven) {
    DnsServerPaths paths{"/run/truman/dns/web"};
    std::string conf =
        render_dnsmasq_conf({"web", "10.89.1.1", {}}, paths, {"dnsmasq", "nogroup", 999, 65534});
    EXPECT_NE(conf.find("\nuser=dnsmasq\ngroup=nogroup\n"), std::string::npos) << conf;
    EXPECT_EQ(conf.find("user=root"), std::string::npos) << conf;
}

TEST(DnsServerFiles, ADualStackNetworksServerListensOnBothGateways) {
    DnsServerPaths paths{"/run/truman/dns/dual"};
    std::string conf = render_dnsmasq_conf({"dual", "10.89.1.1", {}, "fd00:1::1"}, paths);
    for (const char* line :
         {"\nlisten-address=10.89.1.1\n", "\nlisten-address=fd00:1::1\n", "\nbind-interfaces\n"})
        EXPECT_NE(conf.find(line), std::string::npos) << line << " in\n" << conf;
    EXPECT_EQ(render_dnsmasq_conf({"v4", "10.89.1.1", {}}, paths).find("fd00"), std::string::npos);
}

TEST(DnsServerFiles, TheNamesAreOneLinePerAddressAndUpstreamsSkipLoopbackStubs) {
    EXPECT_EQ(render_dns_hosts({{"10.89.1.2", {"web", "www"}}, {"10.89.1.3", {"db"}}, {"x", {}}}),
              "10.89.1.2\tweb www\n10.89.1.3\tdb\n");
    EXPECT_EQ(upstream_servers("# c\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver "
                               "::1\nnameserver 2001:db8::1\nsearch x\n"),
              (std::vector<std::string>{"192.0.2.1", "2001:db8::1"}));
    EXPECT_TRUE(upstream_servers("").empty());
}
