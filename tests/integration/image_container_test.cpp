// Containers from store images, through the real service: the overlay stacks the image's
// layers (whiteouts and opaque directories take effect), and the image config's Entrypoint,
// Cmd, Env, WorkingDir and User are the defaults under Docker's override rules.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "test_support.hpp"
#include "truman/daemon/images/digest.hpp"
#include "truman/daemon/images/image.hpp"
#include "truman/daemon/images/store.hpp"
#include "truman/daemon/images/tar_writer.hpp"
#include "truman/daemon/make_service.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;
using namespace truman::daemon;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr auto patience = 20s;

struct TestLayer {
    std::string blob, diff_id;
};

TestLayer gzip_layer(const std::function<void(images::TarWriter&)>& fill) {
    images::TarWriter plain;
    fill(plain);
    images::TarWriter packed(images::Compression::gzip);
    fill(packed);
    return {packed.finish(), images::sha256_digest(plain.finish())};
}

images::ByteSource bytes_of(const std::string& data) {
    auto offset = std::make_shared<size_t>(0);
    auto copy = std::make_shared<std::string>(data);
    return [copy, offset](void* buf, size_t size) {
        size_t n = std::min(size, copy->size() - *offset);
        std::memcpy(buf, copy->data() + *offset, n);
        *offset += n;
        return n;
    };
}

// Puts an image into the store as a pull would: layers verified, config, manifest, tag.
std::string add_image(images::ImageStore& store, const std::string& ref,
                      const std::vector<TestLayer>& layers, const json& config) {
    json manifest = {{"schemaVersion", 2}, {"mediaType", images::media::oci_manifest}};
    json diff_ids = json::array();
    for (const auto& l : layers) {
        store.ensure_layer(l.diff_id, images::sha256_digest(l.blob),
                           [&] { return bytes_of(l.blob); });
        diff_ids.push_back(l.diff_id);
        manifest["layers"].push_back({{"mediaType", images::media::oci_layer_gzip},
                                      {"digest", images::sha256_digest(l.blob)},
                                      {"size", l.blob.size()}});
    }
    json full = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"config", config},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
    std::string config_text = full.dump();
    manifest["config"] = {{"mediaType", images::media::oci_config},
                          {"digest", store.put_blob(config_text)},
                          {"size", config_text.size()}};
    std::string digest = store.put_blob(manifest.dump());
    store.set_ref(images::parse_reference(ref), digest);
    return digest;
}

class ImageContainerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        before_ = truman::test::snapshot_host();
        make_app_image();
        io_.emplace();
        work_.emplace(io_->get_executor());
        thread_ = std::thread([this] { io_->run(); });
        ServiceOptions& o = options_;
        o.state_dir = dir_.path() + "/state";
        o.run_dir = dir_.path() + "/run";
        o.monitor_path = std::string(TRUMAN_BINARY_DIR) + "/bin/truman-monitor";
        o.busybox_path = TRUMAN_BUSYBOX;
        service_ = make_container_service(*io_, o);
    }

    void TearDown() override {
        for (const auto& c : service_->list(std::nullopt)) service_->remove(c.id, true);
        service_.reset();
        work_.reset();
        io_->stop();
        thread_.join();
        io_.reset();
        EXPECT_EQ(truman::test::leaks_since(before_), "");
    }

    // Two layers over busybox: the top one deletes /etc/gone (whiteout) and replaces what is
    // in /var/data (opaque); a user "app" (1000:1000, also in staff) and an Entrypoint.
    void make_app_image() {
        images::ImageStore store(dir_.path() + "/state/images");
        TestLayer base = gzip_layer([](images::TarWriter& w) {
            w.tree(truman::test::busybox_rootfs());
            w.file("etc/passwd",
                   "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
            w.file("etc/group", "root:x:0:\napp:x:1000:\nstaff:x:50:app\n");
            w.file("etc/gone", "deleted by the layer above");
            w.directory("var/data");
            w.file("var/data/old", "hidden by the opaque directory above");
        });
        TestLayer top = gzip_layer([](images::TarWriter& w) {
            w.file("etc/.wh.gone", "");
            w.directory("var/data", {.mode = 0777});
            w.file("var/data/.wh..wh..opq", "");
            w.file("var/data/new", "from the top layer");
        });
        add_image(store, "127.0.0.1:5000/test/app:1", {base, top},
                  {{"Entrypoint",
                    {"/bin/sh", "-c",
                     "echo args:$*; id -u; id -G; pwd; echo FOO=$FOO; ls /var/data; "
                     "test -e /etc/gone && echo gone-visible || echo gone-hidden",
                     "sh"}},
                   {"Cmd", {"default-cmd"}},
                   {"Env", {"FOO=image", "PATH=/bin"}},
                   {"WorkingDir", "/var/data"},
                   {"User", "app"}});
    }

    std::vector<std::string> run(CreateRequest request) {
        std::string id = service_->create(request);
        auto lines = std::make_shared<std::vector<std::string>>();
        auto done = std::make_shared<std::promise<void>>();
        auto future = done->get_future();
        LogOptions follow;
        follow.follow = true;
        auto sub = service_->logs(
            id, follow, [lines](const LogLine& l) { lines->push_back(l.text); },
            [done] { done->set_value(); });
        service_->start(id);
        if (future.wait_for(patience) != std::future_status::ready)
            throw std::runtime_error("container did not finish");
        return *lines;
    }

    static CreateRequest app(std::optional<std::vector<std::string>> cmd = std::nullopt) {
        CreateRequest r;
        r.image = "127.0.0.1:5000/test/app:1";
        r.spec = truman::default_spec("", cmd.value_or(std::vector<std::string>{"/bin/sh"}));
        r.spec.process.env.clear();
        r.spec.process.cwd.clear();
        r.chosen = {.args = cmd.has_value(), .cwd = false, .user = false};
        return r;
    }

    truman::test::HostSnapshot before_;
    truman::test::TempDir dir_;
    std::optional<boost::asio::io_context> io_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::thread thread_;
    ServiceOptions options_;
    std::unique_ptr<ContainerService> service_;
};

}  // namespace

TEST_F(ImageContainerTest, LayersWhiteoutsAndTheConfigsDefaultsApply) {
    EXPECT_EQ(run(app()),
              (std::vector<std::string>{"args:default-cmd", "1000", "1000 50", "/var/data",
                                        "FOO=image", "new", "gone-hidden"}));
}

TEST_F(ImageContainerTest, DockersOverrideRules) {
    // A cmd replaces Cmd, the Entrypoint stays; env goes over the image's by name.
    CreateRequest given = app(std::vector<std::string>{"given", "two"});
    given.spec.process.env = {"FOO=request"};
    given.user = "root";
    given.chosen.user = true;
    given.spec.process.cwd = "/tmp";
    given.chosen.cwd = true;
    EXPECT_EQ(run(given), (std::vector<std::string>{"args:given two", "0", "0", "/tmp",
                                                    "FOO=request", "new", "gone-hidden"}));
    // A new entrypoint replaces the Entrypoint and clears Cmd.
    CreateRequest entry = app();
    entry.entrypoint = std::vector<std::string>{"/bin/echo", "only"};
    EXPECT_EQ(run(entry), std::vector<std::string>{"only"});
    // Named users and groups resolve in the image.
    CreateRequest group = app(std::vector<std::string>{"x"});
    group.user = "app:staff";
    EXPECT_EQ(run(group)[2], "50");
}

TEST_F(ImageContainerTest, UnknownUsersAndImagesAreRefused) {
    CreateRequest nobody = app();
    nobody.user = "nobody-here";
    try {
        service_->create(nobody);
        FAIL() << "created a container for an unknown user";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::invalid);
        EXPECT_EQ(e.field(), "user");
        EXPECT_NE(std::string(e.what()).find("nobody-here"), std::string::npos);
    }
    CreateRequest missing = app();
    missing.image = "127.0.0.1:5000/test/app:2";
    try {
        service_->create(missing);
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::not_found);
        EXPECT_NE(std::string(e.what()).find("pull"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(service_->list(std::nullopt).empty());
}

TEST_F(ImageContainerTest, BusyboxIsAnOrdinaryStoreImage) {
    images::ImageStore store(dir_.path() + "/state/images");
    auto refs = store.refs();
    ASSERT_EQ(refs.count("docker.io/library/busybox:latest"), 1u);
    std::string manifest = store.read_blob(refs["docker.io/library/busybox:latest"]);
    EXPECT_EQ(images::sha256_digest(manifest), refs["docker.io/library/busybox:latest"]);
    auto m = images::parse_manifest(manifest);
    ASSERT_EQ(m.layers.size(), 1u);
    auto config = images::parse_image_config(store.read_blob(m.config.digest));
    EXPECT_EQ(config.cmd, std::vector<std::string>{"/bin/sh"});
    EXPECT_TRUE(store.has_layer(config.diff_ids[0]));
    CreateRequest r;
    r.image = "busybox";
    r.spec = truman::default_spec("", {"/bin/sh", "-c", "id -u; cat /etc/hostname"});
    EXPECT_EQ(run(r), (std::vector<std::string>{"0", "truman"}));
}

// The image config's StopSignal is what stop sends unless the request names one; its Labels
// (under the request's) and ExposedPorts show in inspect and survive in meta.json.
TEST_F(ImageContainerTest, StopSignalLabelsAndExposedPortsComeFromTheImage) {
    {
        images::ImageStore store(dir_.path() + "/state/images");
        TestLayer base =
            gzip_layer([](images::TarWriter& w) { w.tree(truman::test::busybox_rootfs()); });
        add_image(store, "127.0.0.1:5000/test/stoppable:1", {base},
                  {{"Cmd",
                    {"/bin/sh", "-c",
                     "trap 'exit 42' USR1; trap 'exit 43' INT; echo ready; "
                     "while true; do sleep 0.1; done"}},
                   {"StopSignal", "SIGUSR1"},
                   {"Labels", {{"tier", "image"}, {"owner", "image"}}},
                   {"ExposedPorts", {{"80/tcp", json::object()}, {"53/udp", json::object()}}}});
    }
    auto started = [&](CreateRequest r) {
        std::string id = service_->create(r);
        auto ready = std::make_shared<std::promise<void>>();
        auto future = ready->get_future();
        LogOptions follow;
        follow.follow = true;
        auto sub = service_->logs(
            id, follow,
            [ready](const LogLine& l) {
                if (l.text == "ready") ready->set_value();
            },
            [] {});
        service_->start(id);
        EXPECT_EQ(future.wait_for(patience), std::future_status::ready);
        return id;
    };
    auto stop = [&](const std::string& id, int signal) {
        auto stopped = std::make_shared<std::promise<void>>();
        auto future = stopped->get_future();
        service_->async_stop(id, 30s, signal, [stopped](std::exception_ptr e) {
            if (e)
                stopped->set_exception(e);
            else
                stopped->set_value();
        });
        EXPECT_EQ(future.wait_for(patience), std::future_status::ready);
        future.get();
        return service_->inspect(id).state.exit_code;
    };

    CreateRequest r;
    r.image = "127.0.0.1:5000/test/stoppable:1";
    r.spec = truman::default_spec("", {"/bin/sh"});
    r.spec.process.env.clear();
    r.chosen = {.args = false, .cwd = false, .user = false};
    r.labels = {{"owner", "request"}, {"extra", "yes"}};
    std::string id = started(r);
    ContainerInfo info = service_->inspect(id);
    EXPECT_EQ(info.stop_signal, SIGUSR1);
    EXPECT_EQ(info.labels, (std::map<std::string, std::string>{
                               {"tier", "image"}, {"owner", "request"}, {"extra", "yes"}}));
    EXPECT_EQ(info.exposed_ports, (std::vector<std::string>{"53/udp", "80/tcp"}));
    // Kept on disk: a restarted service knows them.
    service_.reset();
    service_ = make_container_service(*io_, options_);
    EXPECT_EQ(service_->inspect(id).labels, info.labels);
    EXPECT_EQ(service_->inspect(id).stop_signal, SIGUSR1);
    // The trap for USR1 answers: stop sent the image's StopSignal, not SIGTERM (which the
    // container's init would ignore until SIGKILL, exit 137).
    EXPECT_EQ(stop(id, 0), 42);
    // A signal the request names goes first instead.
    std::string second = started(r);
    EXPECT_EQ(stop(second, SIGINT), 43);

    // A container from a rootfs (or an image without them) has none, and SIGTERM.
    CreateRequest plain;
    plain.image = "busybox";
    plain.spec = truman::default_spec("", {"/bin/true"});
    ContainerInfo bare = service_->inspect(service_->create(plain));
    EXPECT_EQ(bare.stop_signal, SIGTERM);
    EXPECT_TRUE(bare.labels.empty());
    EXPECT_TRUE(bare.exposed_ports.empty());

    CreateRequest nameless = r;
    nameless.labels = {{"", "x"}};
    try {
        service_->create(nameless);
        FAIL() << "created a container with a nameless label";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.field(), "labels");
    }
}
