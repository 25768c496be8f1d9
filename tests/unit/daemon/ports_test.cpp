// The rules for a create's "ports" (ports.hpp), without privileges: defaults, ranges, and
// the 400s that name the field; and the records that keep them across a restart.
#include "truman/daemon/ports.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.hpp"
#include "truman/daemon/network_store.hpp"
#include "truman/error.hpp"

using namespace truman::daemon;
using truman::Error;
using truman::ErrorKind;

namespace {

PortMapping mapping(uint32_t host, uint32_t container, const std::string& proto = "") {
    PortMapping p;
    p.host_port = host;
    p.container_port = container;
    p.proto = proto;
    return p;
}

std::string field_of(std::vector<PortMapping> ports) {
    try {
        ports::normalise(ports);
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
        return e.field();
    }
    return "(accepted)";
}

}  // namespace

TEST(Ports, NormaliseFillsInTheDefaultsAndTheEndsOfSinglePortsAndRanges) {
    PortMapping range = mapping(9000, 80, "udp");
    range.host_port_end = 9002;
    range.container_port_end = 82;
    std::vector<PortMapping> ports = {mapping(8080, 80), range, mapping(0, 53)};
    ports[2].host_ip = "192.0.2.7";
    ports::normalise(ports);
    EXPECT_EQ(ports[0], (PortMapping{"0.0.0.0", 8080, 8080, 80, 80, "tcp"}));
    EXPECT_EQ(ports[1], (PortMapping{"0.0.0.0", 9000, 9002, 80, 82, "udp"}));
    EXPECT_EQ(ports[2], (PortMapping{"192.0.2.7", 0, 0, 53, 53, "tcp"}));
    auto b = ports::bindings_of(ports[1]);
    ASSERT_EQ(b.size(), 3u);
    EXPECT_EQ(ports::describe(b[2]), "0.0.0.0:9002/udp");
}

TEST(Ports, RefusesWhatIsNotAPortAProtoOrAnIpv4AddressNamingTheField) {
    EXPECT_EQ(field_of({mapping(8080, 0)}), "ports[0].container_port");
    EXPECT_EQ(field_of({mapping(70000, 80)}), "ports[0].host_port");
    EXPECT_EQ(field_of({mapping(8080, 70000)}), "ports[0].container_port");
    EXPECT_EQ(field_of({mapping(8080, 80, "sctp")}), "ports[0].proto");
    PortMapping p = mapping(8080, 80);
    p.host_ip = "::1";
    EXPECT_EQ(field_of({p}), "ports[0].host_ip");
    p.host_ip = "localhost";
    EXPECT_EQ(field_of({p}), "ports[0].host_ip");
    PortMapping uneven = mapping(9000, 80);
    uneven.host_port_end = 9005;
    uneven.container_port_end = 81;
    EXPECT_EQ(field_of({uneven}), "ports[0].host_port_end");
    PortMapping backwards = mapping(9000, 80);
    backwards.container_port_end = 79;
    EXPECT_EQ(field_of({backwards}), "ports[0].container_port_end");
    PortMapping zero_range = mapping(0, 80);
    zero_range.container_port_end = 81;
    EXPECT_EQ(field_of({zero_range}), "ports[0].host_port");
    // The same host port twice, also through every-address vs one address.
    PortMapping one_ip = mapping(8080, 81);
    one_ip.host_ip = "192.0.2.1";
    EXPECT_EQ(field_of({mapping(8080, 80), one_ip}), "ports[1].host_port");
    EXPECT_EQ(field_of({mapping(8080, 80), mapping(8080, 80, "udp")}), "(accepted)");
    PortMapping huge = mapping(1, 1);
    huge.host_port_end = 2000;
    huge.container_port_end = 2000;
    EXPECT_EQ(field_of({huge}), "ports");
}

TEST(Ports, TheStoreRecordsThemWithTheLeaseRefusesAnotherContainersAndKeepsThemOverARestart) {
    truman::test::TempDir dir;
    NetworkStoreOptions options;
    options.dir = dir.path() + "/networks";
    options.proc_net_route = dir.path() + "/route";
    options.manage_bridges = false;
    std::ofstream(options.proc_net_route)
        << "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n";
    const std::string a(64, 'a'), b(64, 'b');
    {
        NetworkStore store(options);
        store.open([](const std::string&) { return true; });
        NetworkCreateRequest net;
        net.name = "web";
        store.create(net);
        store.attach(a, "first", {{"web", ""}}, {mapping(8080, 80)});
        try {
            store.attach(b, "second", {{"web", ""}}, {mapping(8080, 81)});
            ADD_FAILURE() << "a published port was handed out twice";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::conflict);
            EXPECT_NE(std::string(e.what()).find("0.0.0.0:8080/tcp"), std::string::npos)
                << e.what();
            EXPECT_NE(std::string(e.what()).find("container first"), std::string::npos) << e.what();
        }
        EXPECT_TRUE(store.ports_of(b).empty());
        EXPECT_TRUE(store.endpoints_of(b).empty());  // all or nothing: no lease either
    }
    NetworkStore again(options);
    again.open([&](const std::string& id) { return id == a; });
    ASSERT_EQ(again.ports_of(a).size(), 1u);
    EXPECT_EQ(again.ports_of(a)[0], (PortMapping{"0.0.0.0", 8080, 8080, 80, 80, "tcp"}));
    again.release(a);
    EXPECT_TRUE(again.ports_of(a).empty());
    again.attach(b, "second", {{"web", ""}}, {mapping(8080, 81)});  // free again
}
