#include "truman/daemon/name_files.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "truman/error.hpp"

namespace truman::daemon {
namespace {

TEST(NameFiles, HostsListLocalhostExtraHostsItselfAndItsPeers) {
    NameRecord r{"web", "webhost", {}};
    r.options.extra_hosts = {"db:192.0.2.7", "v6:2001:db8::1"};
    std::string hosts = render_hosts(r, {{"10.89.0.2", {"www"}}}, {{"10.89.0.3", {"client"}}});
    EXPECT_EQ(hosts.find("127.0.0.1\tlocalhost\n"), 0u) << hosts;
    EXPECT_NE(hosts.find("\n192.0.2.7\tdb\n"), std::string::npos) << hosts;
    EXPECT_NE(hosts.find("\n2001:db8::1\tv6\n"), std::string::npos) << hosts;
    EXPECT_NE(hosts.find("\n10.89.0.2\twebhost\tweb\twww\n"), std::string::npos) << hosts;
    EXPECT_NE(hosts.find("\n10.89.0.3\tclient\n"), std::string::npos) << hosts;
}

TEST(NameFiles, ALoopbackOnlyContainerStillResolvesItsOwnNames) {
    std::string hosts = render_hosts({"web", "web", {}}, {}, {});
    EXPECT_NE(hosts.find("\n127.0.1.1\tweb\n"), std::string::npos) << hosts;
}

TEST(NameFiles, ResolvConfDropsTheHostsLoopbackServersAndKeepsTheRest) {
    const std::string host =
        "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\n"
        "nameserver 2001:db8::53\nsearch a.test b.test\noptions edns0 trust-ad\n";
    EXPECT_EQ(render_resolv_conf({}, host),
              "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch a.test b.test\n"
              "options edns0 trust-ad\n");
    NameOptions asked;
    asked.dns = {"198.51.100.1"};
    asked.dns_search = {"c.test"};
    asked.dns_options = {"ndots:2"};
    EXPECT_EQ(render_resolv_conf(asked, host),
              "nameserver 198.51.100.1\nsearch c.test\noptions ndots:2\n");
    EXPECT_EQ(render_resolv_conf({}, "nameserver 127.0.0.53\n"), "");
}

TEST(NameFiles, TheHostsStubResolverGivesWayToSystemdResolvedsUpstreamList) {
    char dir[] = "/tmp/tmnames.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string stub = std::string(dir) + "/resolv.conf";
    const std::string upstream = std::string(dir) + "/upstream.conf";
    std::ofstream(stub) << "nameserver 127.0.0.53\n";
    std::ofstream(upstream) << "nameserver 192.0.2.53\n";
    EXPECT_EQ(host_resolv_conf(stub, upstream), "nameserver 192.0.2.53\n");
    std::ofstream(stub) << "nameserver 192.0.2.1\n";
    EXPECT_EQ(host_resolv_conf(stub, upstream), "nameserver 192.0.2.1\n");
    unlink(stub.c_str());
    unlink(upstream.c_str());
    rmdir(dir);
}

TEST(NameFiles, WritingInPlaceKeepsTheInodeABindMountShows) {
    char dir[] = "/tmp/tmnames.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/hosts";
    std::ofstream(path) << "a much longer first version of the file\n";
    struct stat before {
    }, after{};
    ASSERT_EQ(stat(path.c_str(), &before), 0);
    write_file_in_place(path, "short\n");
    ASSERT_EQ(stat(path.c_str(), &after), 0);
    EXPECT_EQ(before.st_ino, after.st_ino);
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, "short\n");
    unlink(path.c_str());
    try {
        write_file_in_place(path, "x");
        ADD_FAILURE() << "wrote a file that was not there";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::not_found);
    }
    rmdir(dir);
}

TEST(NameFiles, BadOptionsAreRefusedNamingTheField) {
    auto field_of = [](const NameOptions& o) {
        try {
            validate_name_options(o);
        } catch (const Error& e) {
            return e.field();
        }
        return std::string("(accepted)");
    };
    EXPECT_EQ(field_of({{"192.0.2.1", "2001:db8::1"}, {"a.test"}, {"ndots:1"}, {"x:192.0.2.2"}}),
              "(accepted)");
    EXPECT_EQ(field_of({{"192.0.2.1", "x"}, {}, {}, {}}), "dns[1]");
    EXPECT_EQ(field_of({{}, {"a b"}, {}, {}}), "dns_search[0]");
    EXPECT_EQ(field_of({{}, {}, {""}, {}}), "dns_options[0]");
    EXPECT_EQ(field_of({{}, {}, {}, {"x"}}), "extra_hosts[0]");
    EXPECT_EQ(field_of({{}, {}, {}, {":192.0.2.1"}}), "extra_hosts[0]");
    EXPECT_EQ(field_of({{}, {}, {}, {"x:10.0.0"}}), "extra_hosts[0]");
}

TEST(NameFiles, TheRecordRoundTrips) {
    NameRecord r{"web", "h", {{"192.0.2.1"}, {"a.test"}, {"ndots:1"}, {"x:192.0.2.2"}}};
    NameRecord back = name_record_from_json(to_json(r));
    EXPECT_EQ(back.name, "web");
    EXPECT_EQ(back.hostname, "h");
    EXPECT_EQ(back.options, r.options);
    EXPECT_THROW(name_record_from_json(nlohmann::json::object()), Error);
}

}  // namespace
}  // namespace truman::daemon
