// Pulling from a real OCI registry: Debian's docker-registry (the CNCF distribution
// registry), started by the test on 127.0.0.1 with its own storage; images built with umoci
// (from busybox files the test writes, a whiteout, an opaque directory, a non-root User, an
// Entrypoint) and pushed with skopeo. The pulled image runs in a container; a corrupted
// blob in the registry's storage is refused by its digest and nothing of it is kept.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "api_test_client.hpp"
#include "local_registry.hpp"
#include "test_support.hpp"
#include "tmux.hpp"
#include "truman/daemon/images/digest.hpp"
#include "truman/daemon/images/local_images.hpp"
#include "truman/daemon/images/pull.hpp"
#include "truman/daemon/images/store.hpp"
#include "truman/daemon/images/tar_writer.hpp"
#include "truman/daemon/make_service.hpp"
#include "truman/error.hpp"
#include "trumand_process.hpp"

namespace fs = std::filesystem;
using namespace truman::daemon;
using namespace std::chrono_literals;
using nlohmann::json;
using truman::test::LocalRegistry;
using truman::test::run_host;
using truman::test::sh;

namespace {

// An image of three layers built with umoci: busybox plus users and files; then /etc/gone
// deleted (umoci writes the whiteout); then a layer of our own with an opaque /var/data.
void build_and_push(const std::string& dir, const std::string& target) {
    std::string layout = dir + "/layout", bundle = dir + "/bundle";
    sh("umoci init --layout " + layout + " && umoci new --image " + layout + ":app");
    sh("umoci unpack --image " + layout + ":app " + bundle);
    std::string root = bundle + "/rootfs";
    sh("cp -a " + truman::test::busybox_rootfs() + "/. " + root + "/");
    std::ofstream(root + "/etc/passwd")
        << "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    std::ofstream(root + "/etc/group") << "root:x:0:\napp:x:1000:\nstaff:x:50:app\n";
    std::ofstream(root + "/etc/gone") << "deleted in layer 2";
    fs::create_directories(root + "/var/data");
    std::ofstream(root + "/var/data/old") << "hidden by the opaque directory";
    sh("umoci repack --image " + layout + ":app " + bundle);
    // A repack replaces the layer its bundle was unpacked on top of: unpack again for the next.
    std::string bundle2 = dir + "/bundle2", root2 = bundle2 + "/rootfs";
    sh("umoci unpack --image " + layout + ":app " + bundle2);
    fs::remove(root2 + "/etc/gone");
    std::ofstream(root2 + "/etc/second") << "layer 2\n";
    sh("umoci repack --image " + layout + ":app " + bundle2);
    images::TarWriter w;
    w.directory("var/data", {.mode = 0755});
    w.file("var/data/.wh..wh..opq", "");
    w.file("var/data/new", "layer 3");
    std::ofstream(dir + "/layer3.tar") << w.finish();
    sh("umoci raw add-layer --image " + layout + ":app " + dir + "/layer3.tar");
    sh("umoci config --image " + layout +
       ":app --config.user app --config.workingdir /var/data --config.env FOO=image "
       "--config.entrypoint /bin/sh --config.entrypoint -c --config.entrypoint "
       "'echo args:$*; id -u; pwd; echo FOO=$FOO; ls /var/data; cat /etc/second; "
       "test -e /etc/gone && echo gone-visible || echo gone-hidden' "
       "--config.entrypoint sh --config.cmd default-cmd --config.label org.test.role=app "
       "--config.exposedports 8080/tcp --config.stopsignal SIGUSR1 "
       "--created 2024-05-06T07:08:09Z");
    sh("skopeo copy --quiet --dest-tls-verify=false oci:" + layout + ":app docker://" + target);
}

size_t count(const std::string& dir) {
    return static_cast<size_t>(
        std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}

class ImagePullTest : public ::testing::Test {
  protected:
    void SetUp() override {
        before_ = truman::test::snapshot_host();
        registry_.emplace(dir_.path() + "/registry");
        build_and_push(dir_.path() + "/build", registry_->host() + "/test/app:1");
    }
    void TearDown() override {
        registry_.reset();
        EXPECT_EQ(truman::test::leaks_since(before_), "");
    }

    std::vector<std::string> run_in_service(const std::string& image) {
        boost::asio::io_context io;
        auto work = boost::asio::make_work_guard(io);
        std::thread thread([&] { io.run(); });
        ServiceOptions o;
        o.state_dir = state_dir();
        o.run_dir = dir_.path() + "/run";
        o.monitor_path = std::string(TRUMAN_BINARY_DIR) + "/bin/truman-monitor";
        o.busybox_path = TRUMAN_BUSYBOX;
        std::vector<std::string> lines;
        {
            auto service = make_container_service(io, o);
            CreateRequest r;
            r.image = image;
            r.spec = truman::default_spec("", {"/bin/sh"});
            r.spec.process.env.clear();
            r.chosen = {.args = false, .cwd = false, .user = false};
            std::string id = service->create(r);
            auto done = std::make_shared<std::promise<void>>();
            auto future = done->get_future();
            LogOptions follow;
            follow.follow = true;
            auto sub = service->logs(
                id, follow, [&lines](const LogLine& l) { lines.push_back(l.text); },
                [done] { done->set_value(); });
            service->start(id);
            EXPECT_EQ(future.wait_for(20s), std::future_status::ready);
            sub.reset();
            service->remove(id, true);
        }
        work.reset();
        thread.join();
        return lines;
    }

    std::string state_dir() const { return dir_.path() + "/state"; }

    truman::test::HostSnapshot before_;
    truman::test::TempDir dir_;
    std::optional<LocalRegistry> registry_;
};

}  // namespace

TEST_F(ImagePullTest, PulledImageRunsWithItsLayersWhiteoutsUserAndEntrypoint) {
    std::string ref = registry_->host() + "/test/app:1";
    std::vector<images::PullProgress> events;
    {
        images::ImageStore store(state_dir() + "/images");
        auto image = images::pull_image(
            store, ref, {}, [&](const images::PullProgress& p) { events.push_back(p); });
        EXPECT_EQ(image.layer_links.size(), 3u);
        EXPECT_EQ(image.config.user, "app");
        EXPECT_EQ(store.find_ref(images::parse_reference(ref)), image.manifest_digest);
        for (const auto& layer : image.manifest.layers)
            EXPECT_EQ(images::sha256_digest(store.read_blob(layer.digest)), layer.digest);
        EXPECT_EQ(std::count_if(events.begin(), events.end(),
                                [](auto& e) { return e.status == "unpacked"; }),
                  3);
        // Each layer verified (both digests) before it is published.
        for (const auto& layer : image.manifest.layers) {
            auto at = [&](const std::string& status) {
                return std::find_if(events.begin(), events.end(), [&](auto& e) {
                    return e.layer == layer.digest && e.status == status;
                });
            };
            ASSERT_NE(at("verified"), events.end()) << layer.digest;
            EXPECT_LT(at("verified"), at("unpacked")) << layer.digest;
        }
        // Pulled again: every layer is there already.
        events.clear();
        images::pull_image(store, ref, {},
                           [&](const images::PullProgress& p) { events.push_back(p); });
        EXPECT_EQ(std::count_if(events.begin(), events.end(),
                                [](auto& e) { return e.status == "exists"; }),
                  3);
        EXPECT_EQ(count(store.root() + "/tmp"), 0u);
    }
    EXPECT_EQ(run_in_service(ref),
              (std::vector<std::string>{"args:default-cmd", "1000", "/var/data", "FOO=image", "new",
                                        "layer 2", "gone-hidden"}));
}

TEST_F(ImagePullTest, ACorruptedBlobIsRefusedByItsDigestAndNothingIsKept) {
    std::string ref = registry_->host() + "/test/app:1";
    // Find the top layer's blob through a pull into a scratch store, then corrupt it.
    std::string top;
    {
        images::ImageStore scratch(dir_.path() + "/scratch");
        top = images::pull_image(scratch, ref, {}).manifest.layers.back().digest;
    }
    std::string blob = truman::test::read_file(registry_->blob_path(top));
    blob[blob.size() / 2] ^= 0x55;
    std::ofstream(registry_->blob_path(top), std::ios::trunc) << blob;

    images::ImageStore store(state_dir() + "/images");
    try {
        images::pull_image(store, ref, {});
        FAIL() << "pulled a corrupted layer";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::invalid) << e.what();
        EXPECT_NE(std::string(e.what()).find(top), std::string::npos) << e.what();
    }
    EXPECT_FALSE(store.find_ref(images::parse_reference(ref)));
    EXPECT_FALSE(store.has_blob(top));
    EXPECT_EQ(count(store.root() + "/tmp"), 0u);
    EXPECT_TRUE(store.refs().empty());
}

TEST_F(ImagePullTest, UnknownImagesAndPlainHttpRules) {
    images::ImageStore store(state_dir() + "/images");
    try {
        images::pull_image(store, registry_->host() + "/test/nothing:1", {});
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::not_found) << e.what();
    }
    EXPECT_TRUE(images::is_plain_http_registry("127.0.0.1:5000", {}));
    EXPECT_TRUE(images::is_plain_http_registry("localhost", {}));
    EXPECT_TRUE(images::is_plain_http_registry("127.8.9.10", {}));
    EXPECT_FALSE(images::is_plain_http_registry("192.0.2.1:5000", {}));
    EXPECT_TRUE(images::is_plain_http_registry("192.0.2.1:5000", {"192.0.2.1:5000"}));
    EXPECT_FALSE(images::is_plain_http_registry("docker.io", {}));
}

// The whole way through a real trumand: pull over the API (JSON lines per layer, then the
// image), list and inspect it, run a container from it, and remove it: 409 while the
// container exists, then gone with its layers (only busybox's stays).
TEST_F(ImagePullTest, PullRunAndRemoveThroughTrumand) {
    std::string ref = registry_->host() + "/test/app:1";
    truman::test::TrumandProcess daemon;
    // A stream ends its connection: one connection per request.
    struct {
        const truman::test::TrumandProcess& daemon;
        truman::test::HttpResponse request(const std::string& method, const std::string& target,
                                           const std::string& body = "") {
            truman::test::HttpClient client(daemon.socket());
            return client.request(method, target, body);
        }
    } c{daemon};
    truman::test::HttpResponse pulled;
    try {
        pulled = c.request("POST", "/v1/images/pull?ref=" + ref);
    } catch (const std::exception& e) {
        FAIL() << e.what() << "\ntrumand log:\n" << daemon.log();
    }
    ASSERT_EQ(pulled.status, 200) << pulled.body << daemon.log();
    std::vector<json> lines;
    std::istringstream in(pulled.body);
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.back()["status"], "pulled") << pulled.body;
    EXPECT_EQ(lines.back()["image"]["layers"], 3);
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                            [](const json& l) { return l["status"] == "unpacked"; }),
              3);
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                            [](const json& l) { return l["status"] == "verified"; }),
              3);
    std::string id = lines.back()["image"]["id"];

    try {
        auto list = json::parse(c.request("GET", "/v1/images").body);
        ASSERT_EQ(list.size(), 2u);  // busybox and ours
        auto inspect = c.request("GET", "/v1/images/" + ref);
        ASSERT_EQ(inspect.status, 200) << inspect.body;
        EXPECT_EQ(json::parse(inspect.body)["user"], "app");
        EXPECT_EQ(json::parse(inspect.body)["id"], id);

        auto created = c.request("POST", "/v1/containers", json{{"image", ref}}.dump());
        ASSERT_EQ(created.status, 201) << created.body;
        std::string cid = json::parse(created.body)["id"];
        ASSERT_EQ(c.request("POST", "/v1/containers/" + cid + "/start").status, 204);
        ASSERT_EQ(c.request("POST", "/v1/containers/" + cid + "/wait").status, 200);
        auto logs = c.request("GET", "/v1/containers/" + cid + "/logs");
        EXPECT_EQ(logs.body,
                  "args:default-cmd\n1000\n/var/data\nFOO=image\nnew\nlayer 2\ngone-hidden\n");

        auto in_use = c.request("DELETE", "/v1/images/" + ref);
        EXPECT_EQ(in_use.status, 409) << in_use.body;
        ASSERT_EQ(c.request("DELETE", "/v1/containers/" + cid + "?force=true").status, 204);
        EXPECT_EQ(c.request("DELETE", "/v1/images/" + ref).status, 204);
        EXPECT_EQ(c.request("GET", "/v1/images/" + ref).status, 404);
        EXPECT_EQ(count(daemon.state_dir() + "/images/layers"), 1u);
        EXPECT_EQ(count(daemon.state_dir() + "/images/l"), 1u);
        // A bad reference is refused before anything streams.
        EXPECT_EQ(c.request("POST", "/v1/images/pull?ref=Bad..Ref").status, 400);
        auto missing =
            c.request("POST", "/v1/images/pull?ref=" + registry_->host() + "/test/none:1");
        EXPECT_NE(missing.body.find("\"failed\""), std::string::npos) << missing.body;
    } catch (const std::exception& e) {
        FAIL() << e.what() << "\ntrumand log:\n" << daemon.log();
    }
    // And the same through trumanctl: pull (plain lines when not on a terminal), images, rmi.
    std::string ctl = std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl --socket " + daemon.socket();
    std::string out;
    ASSERT_EQ(run_host(ctl + " pull " + ref, &out), 0) << out;
    EXPECT_NE(out.find(": unpacked"), std::string::npos) << out;
    EXPECT_NE(out.find("pulled sha256:"), std::string::npos) << out;
    ASSERT_EQ(run_host(ctl + " images", &out), 0) << out;
    EXPECT_NE(out.find(ref), std::string::npos) << out;
    ASSERT_EQ(run_host(ctl + " rmi " + ref, &out), 0) << out;
    EXPECT_NE(run_host(ctl + " pull " + registry_->host() + "/test/none:1", &out), 0) << out;
    // run pulls what trumand lacks first (progress on stderr), like docker run.
    ASSERT_EQ(run_host("{ " + ctl + " run --rm " + ref + " 2>" + dir_.path() + "/run.err; }", &out),
              0)
        << out;
    EXPECT_EQ(out, "args:default-cmd\n1000\n/var/data\nFOO=image\nnew\nlayer 2\ngone-hidden\n");
    std::string err = truman::test::read_file(dir_.path() + "/run.err");
    EXPECT_NE(err.find("Unable to find image"), std::string::npos) << err;
    EXPECT_NE(err.find("pulled sha256:"), std::string::npos) << err;
    // tag: a second name for the same image.
    ASSERT_EQ(run_host(ctl + " tag " + ref + " truman.test/renamed:2", &out), 0) << out;
    auto renamed = c.request("GET", "/v1/images/truman.test/renamed:2");
    ASSERT_EQ(renamed.status, 200) << renamed.body;
    EXPECT_EQ(json::parse(renamed.body)["id"], id);
    EXPECT_EQ(json::parse(renamed.body)["tags"].size(), 2u) << renamed.body;
    EXPECT_NE(run_host(ctl + " tag " + registry_->host() + "/test/none:1 x:1", &out), 0) << out;
    // image inspect: what `docker image inspect` shows, from the config and the store.
    ASSERT_EQ(run_host(ctl + " image inspect truman.test/renamed:2", &out), 0) << out;
    json shown = json::parse(out);
    std::string manifest = shown["manifest_digest"];
    EXPECT_EQ(shown["id"], id);
    EXPECT_EQ(shown["repo_digests"], json::array({registry_->host() + "/test/app@" + manifest,
                                                  "truman.test/renamed@" + manifest}))
        << out;
    EXPECT_EQ(shown["created"], "2024-05-06T07:08:09Z") << out;
    EXPECT_EQ(shown["os"], "linux");
    EXPECT_EQ(shown["architecture"], "amd64");
    EXPECT_EQ(shown["diff_ids"].size(), 3u) << out;
    EXPECT_EQ(shown["entrypoint"][0], "/bin/sh");
    EXPECT_EQ(shown["cmd"], json::array({"default-cmd"}));
    EXPECT_EQ(shown["working_dir"], "/var/data");
    EXPECT_EQ(shown["user"], "app");
    EXPECT_NE(std::find(shown["env"].begin(), shown["env"].end(), "FOO=image"), shown["env"].end())
        << out;
    EXPECT_EQ(shown["stop_signal"], "SIGUSR1");
    EXPECT_EQ(shown["exposed_ports"], json::array({"8080/tcp"}));
    EXPECT_EQ(shown["labels"], json({{"org.test.role", "app"}}));
    ASSERT_EQ(run_host(ctl + " image inspect truman.test/renamed:2 busybox", &out), 0) << out;
    EXPECT_EQ(json::parse(out).size(), 2u) << out;
    EXPECT_NE(run_host(ctl + " image inspect truman.test/none:1 2>&1", &out), 0) << out;
    EXPECT_NE(out.find("no such image"), std::string::npos) << out;
    EXPECT_TRUE(daemon.alive());
}

namespace {

// The names in a store directory (layers/, l/, blobs/sha256/).
std::set<std::string> names_in(const std::string& dir) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
    return names;
}

// A private trumand for the garbage tests, and what its image store held when it came up.
struct StoreDaemon {
    truman::test::TrumandProcess daemon;
    std::string images_dir = daemon.state_dir() + "/images";
    std::set<std::string> layers_before = names_in(images_dir + "/layers");
    std::set<std::string> links_before = names_in(images_dir + "/l");
    std::set<std::string> blobs_before = names_in(images_dir + "/blobs/sha256");

    truman::test::HttpResponse request(const std::string& method, const std::string& target,
                                       const std::string& body = "") {
        return truman::test::HttpClient(daemon.socket()).request(method, target, body);
    }
};

}  // namespace

// A forced rmi of an image a running container uses only untags it: the container runs on,
// its layers stay. Once the container is deleted its layers go with it, and the store holds
// exactly what it held before the pull (busybox's layer and blobs, still usable).
TEST_F(ImagePullTest, AForceRemovedImagesLayersGoWithItsLastContainer) {
    std::string ref = registry_->host() + "/test/app:1";
    StoreDaemon store;
    try {
        auto pulled = store.request("POST", "/v1/images/pull?ref=" + ref);
        ASSERT_EQ(pulled.status, 200) << pulled.body;
        ASSERT_NE(pulled.body.find("\"pulled\""), std::string::npos) << pulled.body;
        ASSERT_EQ(names_in(store.images_dir + "/layers").size(), store.layers_before.size() + 3);

        auto created = store.request(
            "POST", "/v1/containers",
            json{{"image", ref}, {"entrypoint", {"/bin/sleep"}}, {"cmd", {"1000"}}}.dump());
        ASSERT_EQ(created.status, 201) << created.body;
        std::string cid = json::parse(created.body)["id"];
        ASSERT_EQ(store.request("POST", "/v1/containers/" + cid + "/start").status, 204);

        EXPECT_EQ(store.request("DELETE", "/v1/images/" + ref).status, 409);
        ASSERT_EQ(store.request("DELETE", "/v1/images/" + ref + "?force=true").status, 204);
        EXPECT_EQ(store.request("GET", "/v1/images/" + ref).status, 404);
        auto list = json::parse(store.request("GET", "/v1/images").body);
        EXPECT_EQ(list.size(), 1u) << list.dump();  // busybox alone
        auto running = json::parse(store.request("GET", "/v1/containers/" + cid).body);
        EXPECT_EQ(running["state"]["status"], "running") << running.dump();
        // Its layers are still under the container's overlay.
        EXPECT_EQ(names_in(store.images_dir + "/layers").size(), store.layers_before.size() + 3);
        EXPECT_EQ(names_in(store.images_dir + "/l").size(), store.links_before.size() + 3);

        ASSERT_EQ(store.request("DELETE", "/v1/containers/" + cid + "?force=true").status, 204);
        EXPECT_EQ(names_in(store.images_dir + "/layers"), store.layers_before);
        EXPECT_EQ(names_in(store.images_dir + "/l"), store.links_before);
        EXPECT_EQ(names_in(store.images_dir + "/blobs/sha256"), store.blobs_before);
        EXPECT_EQ(count(store.images_dir + "/tmp"), 0u);

        // What stayed is whole: busybox still runs.
        auto other =
            store.request("POST", "/v1/containers",
                          json{{"image", "busybox"}, {"cmd", {"/bin/echo", "still-here"}}}.dump());
        ASSERT_EQ(other.status, 201) << other.body;
        std::string oid = json::parse(other.body)["id"];
        ASSERT_EQ(store.request("POST", "/v1/containers/" + oid + "/start").status, 204);
        ASSERT_EQ(store.request("POST", "/v1/containers/" + oid + "/wait").status, 200);
        EXPECT_EQ(store.request("GET", "/v1/containers/" + oid + "/logs").body, "still-here\n");
        ASSERT_EQ(store.request("DELETE", "/v1/containers/" + oid).status, 204);
        EXPECT_EQ(names_in(store.images_dir + "/layers"), store.layers_before);
    } catch (const std::exception& e) {
        FAIL() << e.what() << "\ntrumand log:\n" << store.daemon.log();
    }
    EXPECT_TRUE(store.daemon.alive());
}

// A tag moved to another image leaves the old image's layers to nobody: a container's
// removal collects them then (a removal collects only after such a change, or a forced rmi:
// with nothing of the kind since the last collection there is nothing to find).
TEST_F(ImagePullTest, ARetaggedImagesLayersGoAtTheNextRemoval) {
    std::string ref = registry_->host() + "/test/app:1";
    StoreDaemon store;
    try {
        auto on_busybox = [&] {
            auto created = store.request("POST", "/v1/containers",
                                         json{{"image", "busybox"}, {"cmd", {"true"}}}.dump());
            EXPECT_EQ(created.status, 201) << created.body;
            return json::parse(created.body).value("id", "");
        };
        // Removals that find nothing to collect (the first one after the start looks for
        // what a crash may have left), before and after a pull: nothing goes.
        ASSERT_EQ(store.request("DELETE", "/v1/containers/" + on_busybox()).status, 204);
        ASSERT_EQ(store.request("POST", "/v1/images/pull?ref=" + ref).status, 200);
        ASSERT_EQ(store.request("DELETE", "/v1/containers/" + on_busybox()).status, 204);
        EXPECT_EQ(names_in(store.images_dir + "/layers").size(), store.layers_before.size() + 3);

        std::string id = on_busybox();
        auto tagged = store.request("POST", "/v1/images/busybox/tag?tag=" + ref);
        ASSERT_EQ(tagged.status, 201) << tagged.body;
        EXPECT_EQ(names_in(store.images_dir + "/layers").size(), store.layers_before.size() + 3);
        ASSERT_EQ(store.request("DELETE", "/v1/containers/" + id).status, 204);
        EXPECT_EQ(names_in(store.images_dir + "/layers"), store.layers_before);
        EXPECT_TRUE(truman::test::wait_settled(store.daemon));
    } catch (const std::exception& e) {
        FAIL() << e.what() << "\ntrumand log:\n" << store.daemon.log();
    }
    EXPECT_TRUE(store.daemon.alive());
}

// The layers a container stacks are known from its config.json once, when trumand starts or
// creates it: after a restart a forced rmi still keeps a running container's layers, and a
// removal's garbage collection reads no other container's config (with a thousand
// containers, that was a thousand files parsed per delete). Another container's config.json
// made unreadable meanwhile therefore does not stop the collection.
TEST_F(ImagePullTest, LayersInUseAreKnownAcrossARestartWithoutReadingEveryConfig) {
    std::string ref = registry_->host() + "/test/app:1";
    StoreDaemon store;
    try {
        ASSERT_EQ(store.request("POST", "/v1/images/pull?ref=" + ref).status, 200);
        auto run = [&](const std::string& image) {
            json body = {{"image", image}, {"entrypoint", {"/bin/sleep"}}, {"cmd", {"1000"}}};
            auto created = store.request("POST", "/v1/containers", body.dump());
            EXPECT_EQ(created.status, 201) << created.body;
            std::string id = json::parse(created.body).value("id", "");
            EXPECT_EQ(store.request("POST", "/v1/containers/" + id + "/start").status, 204);
            return id;
        };
        std::string on_app = run(ref);
        std::string other = run("busybox");
        ASSERT_FALSE(HasFailure());

        store.daemon.kill_hard();
        store.daemon.start();
        ASSERT_EQ(store.request("DELETE", "/v1/images/" + ref + "?force=true").status, 204);
        EXPECT_EQ(names_in(store.images_dir + "/layers").size(), store.layers_before.size() + 3);
        EXPECT_EQ(names_in(store.images_dir + "/l").size(), store.links_before.size() + 3);

        std::ofstream(store.daemon.state_dir() + "/containers/" + other + "/config.json",
                      std::ios::trunc)
            << "not a config";
        ASSERT_EQ(store.request("DELETE", "/v1/containers/" + on_app + "?force=true").status, 204);
        EXPECT_EQ(names_in(store.images_dir + "/layers"), store.layers_before);
        EXPECT_EQ(names_in(store.images_dir + "/l"), store.links_before);
        ASSERT_EQ(store.request("DELETE", "/v1/containers/" + other + "?force=true").status, 204);
        EXPECT_TRUE(truman::test::wait_settled(store.daemon));
    } catch (const std::exception& e) {
        FAIL() << e.what() << "\ntrumand log:\n" << store.daemon.log();
    }
    EXPECT_TRUE(store.daemon.alive());
}

// On a terminal (a tmux pane of the test's own tmux server) trumanctl pull draws docker's
// board: one row per layer, redrawn in place, each ending "Pull complete", and then the
// image; none of the plain lines a pipe gets.
TEST_F(ImagePullTest, TrumanctlPullDrawsALineOfProgressPerLayerOnATerminal) {
    std::string ref = registry_->host() + "/test/app:1";
    truman::test::TrumandProcess daemon;
    truman::test::Tmux tmux;
    std::string ctl = std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl --socket " + daemon.socket();
    std::string rc = dir_.path() + "/pull.rc";
    tmux.start("pull", ctl + " pull " + ref, rc, 120, 40);
    int exit_code = truman::test::Tmux::exit_code(rc, std::chrono::seconds(120));
    std::string screen = tmux.screen("pull");
    ASSERT_EQ(exit_code, 0) << screen << daemon.log();
    EXPECT_NE(screen.find("pulled sha256:"), std::string::npos) << screen;
    EXPECT_EQ(screen.find(": unpacked"), std::string::npos) << screen;
    EXPECT_EQ(screen.find(": waiting"), std::string::npos) << screen;

    auto inspect = truman::test::HttpClient(daemon.socket()).request("GET", "/v1/images/" + ref);
    ASSERT_EQ(inspect.status, 200) << inspect.body;
    std::string manifest_digest = json::parse(inspect.body)["manifest_digest"];
    json manifest = json::parse(truman::test::read_file(
        daemon.state_dir() + "/images/blobs/sha256/" + images::digest_hex(manifest_digest)));
    ASSERT_EQ(manifest["layers"].size(), 3u);
    std::vector<std::string> rows;
    std::istringstream in(screen);
    for (std::string row; std::getline(in, row);)
        if (row.find(": ") == 12) rows.push_back(row);
    ASSERT_EQ(rows.size(), 3u) << screen;  // one row per layer, each drawn over in place
    // The rows in the manifest's order, as docker draws them: a row is made when its layer's
    // first line arrives, and the daemon sends every layer's "waiting" first, in order.
    std::vector<std::string> expected;
    for (const auto& layer : manifest["layers"])
        expected.push_back(std::string(layer["digest"]).substr(7, 12) + ": Pull complete");
    EXPECT_EQ(rows, expected) << screen;
}
