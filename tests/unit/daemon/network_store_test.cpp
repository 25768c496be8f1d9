// The network records and leases on disk, without bridges (manage_bridges false): what a
// restart keeps, what it drops, and the 409s that name the thing in the way.
#include "truman/daemon/network_store.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.hpp"
#include "truman/error.hpp"

using namespace truman::daemon;
using truman::Error;
using truman::ErrorKind;
using truman::test::TempDir;

namespace {

struct StoreFixture {
    TempDir dir;
    NetworkStoreOptions options;
    StoreFixture() {
        options.dir = dir.path() + "/networks";
        options.proc_net_route = dir.path() + "/route";
        options.manage_bridges = false;
        // The host already routes 10.89.0.0/24: the pool must skip it.
        std::ofstream(options.proc_net_route)
            << "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
               "eth0\t0000590A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
    }
    std::unique_ptr<NetworkStore> open(std::function<bool(const std::string&)> exists =
                                           [](const std::string&) { return true; }) {
        auto store = std::make_unique<NetworkStore>(options);
        store->open(exists);
        return store;
    }
};

NetworkCreateRequest named(const std::string& name, const std::string& subnet = "") {
    NetworkCreateRequest r;
    r.name = name;
    r.subnet = subnet;
    return r;
}

Error error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "no truman::Error thrown";
    return Error(ErrorKind::system, 0, "none");
}

const std::string id_a(64, 'a'), id_b(64, 'b'), id_c(64, 'c');

}  // namespace

TEST(NetworkStore, ChoosesSubnetsAroundHostRoutesAndOtherNetworks) {
    StoreFixture f;
    auto store = f.open();
    NetworkInfo a = store->create(named("a"));
    EXPECT_EQ(a.subnet, "10.89.1.0/24");  // 10.89.0.0/24 is the host's
    EXPECT_EQ(a.gateway, "10.89.1.1");
    EXPECT_EQ(a.bridge, "tmbr" + a.id.substr(0, 10));
    EXPECT_EQ(store->create(named("b")).subnet, "10.89.2.0/24");

    Error dup = error_of([&] { store->create(named("a", "10.99.0.0/24")); });
    EXPECT_EQ(dup.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(dup.what()).find("network a already exists"), std::string::npos);
    Error net = error_of([&] { store->create(named("c", "10.89.2.0/23")); });
    EXPECT_EQ(net.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(net.what()).find("overlaps network b"), std::string::npos) << net.what();
    Error route = error_of([&] { store->create(named("c", "10.89.0.128/25")); });
    EXPECT_NE(std::string(route.what()).find("the host's route 10.89.0.0/24 dev eth0"),
              std::string::npos)
        << route.what();
    NetworkCreateRequest gw = named("c", "192.0.2.0/24");
    gw.gateway = "192.0.3.1";
    EXPECT_EQ(error_of([&] { store->create(gw); }).field(), "gateway");
    EXPECT_EQ(error_of([&] { store->create(named("bad/name")); }).kind(), ErrorKind::invalid);
    EXPECT_EQ(store->list().size(), 2u);
}

TEST(NetworkStore, LeasesSurviveARestartAndAreNeverHandedOutTwice) {
    StoreFixture f;
    {
        auto store = f.open();
        store->create(named("small", "192.0.2.0/29"));
        auto ports = store->attach(id_a, "a", {{"small", ""}});
        ASSERT_EQ(ports.size(), 1u);
        EXPECT_EQ(ports[0].address, "192.0.2.2/29");
        EXPECT_EQ(ports[0].gateway, "192.0.2.1");
        EXPECT_EQ(ports[0].interface, "eth0");
        EXPECT_EQ(ports[0].host_interface, "tm" + id_a.substr(0, 11));
        EXPECT_EQ(store->attach(id_b, "b", {{"small", "192.0.2.5"}})[0].address, "192.0.2.5/29");
    }  // what a SIGKILL leaves: the records on disk
    auto store = f.open();
    EXPECT_EQ(store->attach(id_c, "c", {{"small", ""}})[0].address, "192.0.2.3/29");
    Error taken = error_of([&] {
        store->attach(std::string(64, 'd'), "d", {{"small", "192.0.2.5"}});
    });
    EXPECT_EQ(taken.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(taken.what()).find("192.0.2.5 is taken on network small"),
              std::string::npos);
    store->attach(std::string(64, 'd'), "d", {{"small", ""}});  // .4
    store->attach(std::string(64, 'e'), "e", {{"small", ""}});  // .6
    Error full = error_of([&] { store->attach(std::string(64, 'f'), "f", {{"small", ""}}); });
    EXPECT_EQ(full.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(full.what()).find("exhausted"), std::string::npos) << full.what();

    store->release(id_b);
    EXPECT_EQ(store->attach(std::string(64, 'f'), "f", {{"small", ""}})[0].address, "192.0.2.5/29");
    ASSERT_EQ(store->endpoints_of(id_a).size(), 1u);
    EXPECT_EQ(store->endpoints_of(id_a)[0].address, "192.0.2.2/29");
    EXPECT_TRUE(store->endpoints_of(id_b).empty());
}

TEST(NetworkStore, ARestartDropsTheLeasesOfContainersThatAreGone) {
    StoreFixture f;
    {
        auto store = f.open();
        store->create(named("n", "192.0.2.0/24"));
        store->attach(id_a, "a", {{"n", ""}});
        store->attach(id_b, "b", {{"n", ""}});
    }
    auto store = f.open([](const std::string& id) { return id == id_a; });
    NetworkInfo n = store->get("n");
    ASSERT_EQ(n.containers.size(), 1u);
    EXPECT_EQ(n.containers[0].container_id, id_a);
    EXPECT_EQ(store->attach(id_c, "c", {{"n", ""}})[0].address, "192.0.2.3/24");
}

TEST(NetworkStore, AttachIsAllOrNothingAndRemoveRefusesANetworkInUse) {
    StoreFixture f;
    auto store = f.open();
    store->create(named("one", "192.0.2.0/24"));
    store->create(named("two", "198.51.100.0/24"));
    EXPECT_EQ(error_of([&] {
                  store->attach(id_a, "a", {{"one", ""}, {"nope", ""}});
              }).kind(),
              ErrorKind::not_found);
    EXPECT_EQ(error_of([&] {
                  store->attach(id_a, "a", {{"one", ""}, {"one", ""}});
              }).field(),
              "networks[1]");
    EXPECT_TRUE(store->get("one").containers.empty());

    auto ports = store->attach(id_a, "alpha", {{"one", ""}, {"two", ""}});
    ASSERT_EQ(ports.size(), 2u);
    EXPECT_EQ(ports[1].interface, "eth1");
    EXPECT_EQ(ports[1].host_interface, "tm" + id_a.substr(0, 11) + "-1");
    EXPECT_EQ(ports[1].gateway, "");  // the default route is the first network's
    Error busy = error_of([&] { store->remove("two"); });
    EXPECT_EQ(busy.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(busy.what()).find("in use by container(s) alpha"), std::string::npos);
    store->release(id_a);
    store->remove("two");
    EXPECT_EQ(error_of([&] { store->get("two"); }).kind(), ErrorKind::not_found);
    EXPECT_EQ(f.open()->list().size(), 1u);  // the record is gone from disk too
}

TEST(NetworkStore, HostsViewListsPeersOnSharedNetworksOnlyAndPeersHearOfChanges) {
    StoreFixture f;
    auto store = f.open();
    store->create(named("front", "10.90.1.0/24"));
    store->create(named("back", "10.90.2.0/24"));
    std::vector<std::set<std::string>> heard;
    store->on_peers_changed([&](const std::set<std::string>& ids) { heard.push_back(ids); });
    NetworkAttachRequest front{"front", "", {"www"}};
    store->attach(id_a, "web", {front});
    EXPECT_TRUE(heard.empty());  // nobody to tell
    store->attach(id_b, "client", {{"front", ""}});
    store->attach(id_c, "other", {{"back", ""}});
    ASSERT_EQ(heard.size(), 1u);
    EXPECT_EQ(heard[0], std::set<std::string>{id_a});

    auto view = store->hosts_view(id_b);
    ASSERT_EQ(view.own.size(), 1u);
    EXPECT_EQ(view.own[0].address, "10.90.1.3");
    ASSERT_EQ(view.peers.size(), 1u);  // not "other", on back
    EXPECT_EQ(view.peers[0], (HostsEntry{"10.90.1.2", {"web", "www"}}));
    // The aliases are kept across a restart.
    store = f.open();
    store->on_peers_changed([&](const std::set<std::string>& ids) { heard.push_back(ids); });
    EXPECT_EQ(store->hosts_view(id_b).peers, view.peers);
    store->release(id_a);
    ASSERT_EQ(heard.size(), 2u);
    EXPECT_EQ(heard[1], std::set<std::string>{id_b});
    EXPECT_TRUE(store->hosts_view(id_b).peers.empty());
}

TEST(NetworkStore, ABadAliasIsRefusedBeforeAnythingIsLeased) {
    StoreFixture f;
    auto store = f.open();
    store->create(named("front", "10.90.1.0/24"));
    Error e = error_of([&] { store->attach(id_a, "web", {{"front", "", {"ok", "not ok"}}}); });
    EXPECT_EQ(e.field(), "networks[0].aliases[1]");
    EXPECT_TRUE(store->get("front").containers.empty());
}
