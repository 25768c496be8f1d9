// Pulls that need more of a registry than the anonymous one of image_pull_test.cpp: an image
// of 120 layers, HTTP basic auth (htpasswd), the bearer-token flow (the registry's own
// `auth: token`, verifying JWTs from a token issuer the test runs), TLS trusted only through
// a certs.d directory, and a multi-platform index. The images are OCI layouts the test writes
// (layers made with TarWriter), pushed with skopeo to an anonymous registry whose storage a
// second registry then serves with auth or TLS.
#include <gtest/gtest.h>
#include <strings.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "local_registry.hpp"
#include "test_netns.hpp"
#include "test_support.hpp"
#include "truman/daemon/images/archive.hpp"
#include "truman/daemon/images/digest.hpp"
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
using truman::test::RegistryOptions;
using truman::test::sh;

namespace {

struct Layer {
    std::string blob, diff_id;
    std::string media_type = images::media::oci_layer_gzip;
};

// The token issuer's answer to r: a JWT for the scope r asks for (none for a log-in's GET
// /v2/), signed with key (its certificate cert), as the registries of these tests expect.
std::string token_answer(const truman::test::HttpRequestSeen& r, const std::string& key,
                         const std::string& cert) {
    std::string scope;
    if (size_t at = r.target.find("scope="); at != std::string::npos) {
        scope = r.target.substr(at + 6, r.target.find('&', at) - at - 6);
        for (size_t i; (i = scope.find("%3A")) != std::string::npos;) scope.replace(i, 3, ":");
        for (size_t i; (i = scope.find("%2F")) != std::string::npos;) scope.replace(i, 3, "/");
    }
    std::string body =
        json{{"token", truman::test::make_registry_token(key, cert, "truman-test-issuer",
                                                         "truman-test-registry", scope)}}
            .dump();
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A layer of what fill writes, compressed as asked (and typed as OCI types it).
Layer compressed_layer(images::Compression compression,
                       const std::function<void(images::TarWriter&)>& fill) {
    images::TarWriter plain;
    fill(plain);
    std::string diff_id = images::sha256_digest(plain.finish());
    if (compression == images::Compression::none) {
        images::TarWriter again;
        fill(again);
        return {again.finish(), diff_id, images::media::oci_layer};
    }
    images::TarWriter packed(compression);
    fill(packed);
    return {packed.finish(), diff_id,
            compression == images::Compression::gzip ? images::media::oci_layer_gzip
                                                     : images::media::oci_layer_zstd};
}

Layer gzip_layer(const std::function<void(images::TarWriter&)>& fill) {
    return compressed_layer(images::Compression::gzip, fill);
}

// An OCI image layout in a directory, written blob by blob.
class OciLayout {
  public:
    explicit OciLayout(std::string dir) : dir_(std::move(dir)) {
        fs::create_directories(dir_ + "/blobs/sha256");
        std::ofstream(dir_ + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
    }
    json blob(const std::string& media_type, const std::string& content) {
        std::string digest = images::sha256_digest(content);
        std::ofstream(dir_ + "/blobs/sha256/" + images::digest_hex(digest), std::ios::binary)
            << content;
        return {{"mediaType", media_type}, {"digest", digest}, {"size", content.size()}};
    }
    // The manifest of an image: its layers, bottom first, and the config's "config" part.
    json image(const std::vector<Layer>& layers, const json& config,
               const std::string& architecture = "amd64") {
        json manifest = {{"schemaVersion", 2},
                         {"mediaType", images::media::oci_manifest},
                         {"layers", json::array()}};
        json diff_ids = json::array();
        for (const auto& l : layers) {
            manifest["layers"].push_back(blob(l.media_type, l.blob));
            diff_ids.push_back(l.diff_id);
        }
        json full = {{"architecture", architecture},
                     {"os", "linux"},
                     {"config", config},
                     {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
        manifest["config"] = blob(images::media::oci_config, full.dump());
        return blob(images::media::oci_manifest, manifest.dump());
    }
    json index(const std::vector<std::pair<json, std::string>>& manifests_and_arch) {
        json index = {{"schemaVersion", 2},
                      {"mediaType", images::media::oci_index},
                      {"manifests", json::array()}};
        for (auto [descriptor, arch] : manifests_and_arch) {
            descriptor["platform"] = {{"os", "linux"}, {"architecture", arch}};
            index["manifests"].push_back(descriptor);
        }
        return blob(images::media::oci_index, index.dump());
    }
    // index.json names descriptor as tag.
    void tag(json descriptor, const std::string& tag) {
        descriptor["annotations"] = {{"org.opencontainers.image.ref.name", tag}};
        tags_.push_back(descriptor);
        std::ofstream(dir_ + "/index.json")
            << json{{"schemaVersion", 2}, {"manifests", tags_}}.dump();
    }
    void push(const std::string& tag, const std::string& target, bool all = false) {
        sh("skopeo copy --quiet " + std::string(all ? "--all " : "") +
           "--dest-tls-verify=false oci:" + dir_ + ":" + tag + " docker://" + target);
    }

    // The image of manifest (a descriptor image() returned) pushed byte for byte, through
    // the registry's upload API: skopeo would compress an uncompressed layer on its way.
    void push_as_written(const json& manifest, const std::string& host,
                         const std::string& repository, const std::string& tag) const {
        auto file_of = [&](const std::string& digest) {
            return dir_ + "/blobs/sha256/" + images::digest_hex(digest);
        };
        json doc = json::parse(truman::test::read_file(file_of(manifest["digest"])));
        std::vector<std::string> blobs = {doc["config"]["digest"]};
        for (const auto& l : doc["layers"]) blobs.push_back(l["digest"]);
        std::string base = "http://" + host + "/v2/" + repository;
        for (const auto& digest : blobs) {
            std::string headers;
            ASSERT_EQ(
                truman::test::run_host(
                    "curl -sS -D - -o /dev/null -X POST " + base + "/blobs/uploads/", &headers),
                0)
                << headers;
            std::string location;
            std::istringstream in(headers);
            for (std::string line; std::getline(in, line);)
                if (line.size() > 9 && strncasecmp(line.c_str(), "location:", 9) == 0)
                    location = line.substr(line.find_first_not_of(' ', 9));
            while (!location.empty() && (location.back() == '\r' || location.back() == ' '))
                location.pop_back();
            ASSERT_FALSE(location.empty()) << headers;
            if (location[0] == '/') location.insert(0, "http://" + host);
            location += location.find('?') == std::string::npos ? '?' : '&';
            location += "digest=" + digest;
            std::string put = "curl -sSf -X PUT -H 'Content-Type: application/octet-stream' ";
            put += "--data-binary @" + file_of(digest) + " '" + location + "'";
            sh(put);
        }
        sh("curl -sSf -X PUT -H 'Content-Type: " + manifest["mediaType"].get<std::string>() +
           "' --data-binary @" + file_of(manifest["digest"]) + " " + base + "/manifests/" + tag);
    }

  private:
    std::string dir_;
    json tags_ = json::array();
};

Layer busybox_layer() {
    return gzip_layer([](images::TarWriter& w) { w.tree(truman::test::busybox_rootfs()); });
}

size_t count(const std::string& dir) {
    return static_cast<size_t>(
        std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}

std::string auth_file(const std::string& path, const std::string& host,
                      const std::string& user_password) {
    std::string encoded;
    truman::test::run_host("printf %s '" + user_password + "' | base64 -w0", &encoded);
    std::ofstream(path) << json{{"auths", {{host, {{"auth", encoded}}}}}}.dump();
    return path;
}

class ImageRegistryTest : public ::testing::Test {
  protected:
    void SetUp() override { before_ = truman::test::snapshot_host(); }
    void TearDown() override { EXPECT_EQ(truman::test::leaks_since(before_), ""); }

    // A small image (busybox, Cmd echoing a word) pushed as test/app:1 into storage().
    void push_app(const std::string& word = "hello") {
        OciLayout layout(dir_.path() + "/layout");
        layout.tag(layout.image({busybox_layer()}, {{"Cmd", {"/bin/echo", word}}}), "app");
        LocalRegistry plain(dir_.path() + "/push", {}, storage());
        layout.push("app", plain.host() + "/test/app:1");
    }
    std::string storage() const { return dir_.path() + "/storage"; }
    std::string store_dir() const { return dir_.path() + "/images"; }
    // htpasswd basic auth with one user, tester:s3cret.
    RegistryOptions basic_auth() const {
        return truman::test::htpasswd_auth(dir_.path(), "tester", "s3cret");
    }

    // Runs image in a container of a service on state_dir and returns its output lines, and
    // (if mount_data) the length of the overlay's mount data.
    std::vector<std::string> run_in_service(const std::string& image,
                                            size_t* mount_data = nullptr) {
        boost::asio::io_context io;
        auto work = boost::asio::make_work_guard(io);
        std::thread thread([&] { io.run(); });
        ServiceOptions o;
        o.state_dir = dir_.path() + "/state";
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
            if (mount_data) {
                json spec = json::parse(
                    truman::test::read_file(o.state_dir + "/containers/" + id + "/config.json"));
                const json& overlay = spec["root"]["overlay"];
                std::string data = "lowerdir=" + overlay["lowerdir"].get<std::string>() +
                                   ",upperdir=" + overlay["upperdir"].get<std::string>() +
                                   ",workdir=" + overlay["workdir"].get<std::string>();
                *mount_data = data.size();
            }
            auto done = std::make_shared<std::promise<void>>();
            auto future = done->get_future();
            LogOptions follow;
            follow.follow = true;
            auto sub = service->logs(
                id, follow, [&lines](const LogLine& l) { lines.push_back(l.text); },
                [done] { done->set_value(); });
            service->start(id);
            EXPECT_EQ(future.wait_for(60s), std::future_status::ready);
            sub.reset();
            service->remove(id, true);
        }
        work.reset();
        thread.join();
        return lines;
    }

    truman::test::HostSnapshot before_;
    truman::test::TempDir dir_;
};

}  // namespace

// 120 layers: busybox and 119 layers of one file each. The container's overlay stacks all of
// them (each file visible, with the content its layer gave it), and its mount data, with the
// store's 6-character short names, stays far below the page mount(2) copies.
TEST_F(ImageRegistryTest, AnImageOf120LayersPullsAndRuns) {
    constexpr int kLayers = 120;
    OciLayout layout(dir_.path() + "/layout");
    std::vector<Layer> layers{busybox_layer()};
    for (int i = 1; i < kLayers; ++i)
        layers.push_back(gzip_layer([i](images::TarWriter& w) {
            w.directory("layers");
            w.file("layers/" + std::to_string(i), std::to_string(i) + "\n");
        }));
    layout.tag(layout.image(layers, {{"Cmd",
                                      {"/bin/sh", "-c",
                                       "n=0; for f in /layers/*; do read x < $f; "
                                       "[ \"$x\" = \"${f##*/}\" ] && n=$((n+1)); done; echo $n"}}}),
               "many");
    LocalRegistry registry(dir_.path() + "/registry");
    layout.push("many", registry.host() + "/test/many:1");

    std::string ref = registry.host() + "/test/many:1";
    auto started = std::chrono::steady_clock::now();
    {
        images::ImageStore store(dir_.path() + "/state/images");
        auto image = images::pull_image(store, ref, {});
        EXPECT_EQ(image.layer_links.size(), static_cast<size_t>(kLayers));
    }
    auto pulled = std::chrono::steady_clock::now();
    size_t mount_data = 0;
    EXPECT_EQ(run_in_service(ref, &mount_data), std::vector<std::string>{"119"});
    std::printf(
        "[ measure ] pull+unpack of %d layers: %lld ms; overlay mount data: %zu bytes\n", kLayers,
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(pulled - started).count()),
        mount_data);
    // mount(2) copies one page: every kernel's, 6.1's included, is at least 4096 bytes.
    EXPECT_LT(mount_data, 4096u);
    EXPECT_GT(mount_data, static_cast<size_t>(kLayers) * images::kShortNameLength);
}

// htpasswd basic auth: the auth file's credentials get the image; wrong ones are a 401 that
// says whose credentials were refused; none at all, a 401 that says there were none. The
// flag of trumand names the file.
TEST_F(ImageRegistryTest, BasicAuthWithCredentialsFromTheAuthFile) {
    push_app("basic");
    LocalRegistry registry(dir_.path() + "/registry", basic_auth(), storage());
    std::string ref = registry.host() + "/test/app:1";
    images::ImageStore store(store_dir());

    images::PullOptions wrong;
    wrong.auth_file = auth_file(dir_.path() + "/wrong.json", registry.host(), "tester:nope");
    try {
        images::pull_image(store, ref, wrong);
        FAIL() << "pulled with wrong credentials";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.err(), EACCES) << e.what();
        EXPECT_NE(std::string(e.what()).find("401"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("\"tester\""), std::string::npos) << e.what();
    }
    try {
        images::pull_image(store, ref, {});
        FAIL() << "pulled without credentials";
    } catch (const truman::Error& e) {
        EXPECT_NE(std::string(e.what()).find("401"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("no credentials"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(store.refs().empty());

    std::string good = auth_file(dir_.path() + "/auth.json", registry.host(), "tester:s3cret");
    truman::test::TrumandOptions flags;
    flags.extra_args = {"--registry-auth", good};
    truman::test::TrumandProcess daemon(flags);
    truman::test::HttpClient client(daemon.socket());
    auto pulled = client.request("POST", "/v1/images/pull?ref=" + ref);
    ASSERT_EQ(pulled.status, 200) << pulled.body;
    EXPECT_NE(pulled.body.find("\"pulled\""), std::string::npos) << pulled.body << daemon.log();
}

// trumanctl login / logout against the htpasswd registry: trumand checks the credentials
// with the registry before it keeps them (a wrong password leaves the file as it was), writes
// them to its auth file (created with its directory, mode 0600, other registries' entries
// kept, no temp file left), pulls with them, and forgets them at logout.
TEST_F(ImageRegistryTest, LoginAndLogoutThroughTrumanctl) {
    push_app("login");
    LocalRegistry registry(dir_.path() + "/registry", basic_auth(), storage());
    std::string ref = registry.host() + "/test/app:1";
    std::string auth_dir = dir_.path() + "/etc-truman", auth = auth_dir + "/auth.json";
    truman::test::TrumandOptions flags;
    flags.extra_args = {"--registry-auth", auth};
    truman::test::TrumandProcess daemon(flags);
    std::string ctl = std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl --socket " + daemon.socket();
    std::string out;

    EXPECT_NE(truman::test::run_host(ctl + " pull " + ref + " 2>&1", &out), 0) << out;
    EXPECT_NE(out.find("no credentials"), std::string::npos) << out;
    EXPECT_NE(truman::test::run_host("echo nope | " + ctl + " login -u tester --password-stdin " +
                                         registry.host() + " 2>&1",
                                     &out),
              0)
        << out;
    EXPECT_NE(out.find("refused"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(auth)) << "a refused login was kept";
    EXPECT_NE(truman::test::run_host(ctl + " login -u tester -p x Bad/Registry 2>&1", &out), 0)
        << out;
    EXPECT_NE(out.find("registry"), std::string::npos) << out;

    // Another registry's entry, which login and logout must keep.
    fs::create_directories(auth_dir);
    std::ofstream(auth) << R"({"auths": {"other.test:5000": {"auth": "b3RoZXI6cHc="}}})";
    ASSERT_EQ(
        truman::test::run_host(
            "echo s3cret | " + ctl + " login -u tester --password-stdin " + registry.host(), &out),
        0)
        << out << daemon.log();
    EXPECT_NE(out.find("Login Succeeded"), std::string::npos) << out;
    struct stat st {};
    ASSERT_EQ(stat(auth.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    json kept = json::parse(truman::test::read_file(auth));
    std::string encoded;
    truman::test::run_host("printf %s tester:s3cret | base64 -w0", &encoded);
    EXPECT_EQ(kept["auths"][registry.host()]["auth"], encoded) << kept.dump();
    EXPECT_EQ(kept["auths"]["other.test:5000"]["auth"], "b3RoZXI6cHc=") << kept.dump();
    size_t files = 0;
    for (const auto& entry : fs::directory_iterator(auth_dir)) {
        (void)entry;
        ++files;
    }
    EXPECT_EQ(files, 1u) << "a temp file was left in " << auth_dir;

    ASSERT_EQ(truman::test::run_host(ctl + " pull " + ref, &out), 0) << out << daemon.log();
    EXPECT_NE(out.find("pulled sha256:"), std::string::npos) << out;
    ASSERT_EQ(truman::test::run_host(ctl + " rmi " + ref, &out), 0) << out;

    ASSERT_EQ(truman::test::run_host(ctl + " logout " + registry.host(), &out), 0) << out;
    kept = json::parse(truman::test::read_file(auth));
    EXPECT_FALSE(kept["auths"].contains(registry.host())) << kept.dump();
    EXPECT_TRUE(kept["auths"].contains("other.test:5000")) << kept.dump();
    ASSERT_EQ(stat(auth.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_NE(truman::test::run_host(ctl + " pull " + ref + " 2>&1", &out), 0) << out;
    EXPECT_NE(out.find("no credentials"), std::string::npos) << out;
    EXPECT_NE(truman::test::run_host(ctl + " logout " + registry.host() + " 2>&1", &out), 0) << out;
    EXPECT_NE(out.find("not logged in"), std::string::npos) << out;
    EXPECT_TRUE(daemon.alive());
}

// The bearer-token flow against the registry's own token auth: a 401 names the realm, the
// token issuer (here, in the test) checks the auth file's credentials and signs a JWT the
// registry verifies; refused credentials are a 401-derived error.
TEST_F(ImageRegistryTest, BearerTokenFlowWithTheRegistrysTokenAuth) {
    push_app("bearer");
    truman::test::make_certificate(dir_.path(), "issuer");
    std::string key = dir_.path() + "/issuer.key", cert = dir_.path() + "/issuer.crt";
    std::string expected = "Basic ";
    {
        std::string encoded;
        truman::test::run_host("printf %s tester:s3cret | base64 -w0", &encoded);
        expected += encoded;
    }
    std::atomic<int> tokens{0}, refused{0};
    truman::test::TinyHttpServer issuer([&](const truman::test::HttpRequestSeen& r) {
        if (r.authorization != expected) {
            ++refused;
            return std::string("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
        }
        ++tokens;
        return token_answer(r, key, cert);
    });
    RegistryOptions token;
    token.token_realm = "http://127.0.0.1:" + std::to_string(issuer.port()) + "/token";
    token.token_service = "truman-test-registry";
    token.token_issuer = "truman-test-issuer";
    token.token_cert_bundle = cert;
    LocalRegistry registry(dir_.path() + "/registry", token, storage());
    std::string ref = registry.host() + "/test/app:1";
    images::ImageStore store(store_dir());

    images::PullOptions wrong;
    wrong.auth_file = auth_file(dir_.path() + "/wrong.json", registry.host(), "tester:nope");
    try {
        images::pull_image(store, ref, wrong);
        FAIL() << "pulled with wrong credentials";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.err(), EACCES) << e.what();
        EXPECT_NE(std::string(e.what()).find("401"), std::string::npos) << e.what();
    }
    EXPECT_EQ(refused, 1);
    EXPECT_TRUE(store.refs().empty());

    images::PullOptions right;
    right.auth_file = auth_file(dir_.path() + "/auth.json", registry.host(), "tester:s3cret");
    auto image = images::pull_image(store, ref, right);
    EXPECT_EQ(image.config.cmd, (std::vector<std::string>{"/bin/echo", "bearer"}));
    // One token for the whole pull: manifest, config and layer.
    EXPECT_EQ(tokens, 1);
}

// Registries send blob downloads elsewhere with a redirect (S3, a CDN): the pull follows
// it, shows the registry's credentials only to the registry (never to the storage's host),
// and checks what storage sends against the digest, as it does for the registry's own.
// The registry is a server of the test's that asks for basic auth, serves the manifest and
// answers every blob with a 307 to a second server, the "storage", which serves the blobs.
TEST_F(ImageRegistryTest, BlobsFollowARedirectToStorageWithoutTheCredentials) {
    OciLayout layout(dir_.path() + "/layout");
    json manifest = layout.image({busybox_layer()}, {{"Cmd", {"/bin/echo", "redirected"}}});
    auto blob_of = [&](const std::string& digest) {
        return truman::test::read_file(dir_.path() + "/layout/blobs/sha256/" +
                                       images::digest_hex(digest));
    };
    std::string manifest_text = blob_of(manifest["digest"]);
    std::string layer_digest = json::parse(manifest_text)["layers"][0]["digest"];

    std::mutex mutex;
    std::vector<truman::test::HttpRequestSeen> at_storage;
    std::atomic<bool> tamper{false};
    truman::test::TinyHttpServer blob_storage([&](const truman::test::HttpRequestSeen& r) {
        {
            std::lock_guard lock(mutex);
            at_storage.push_back(r);
        }
        std::string digest = r.target.substr(r.target.rfind('/') + 1);
        std::string bytes = blob_of(digest);
        if (tamper && digest == layer_digest) bytes.back() ^= 1;
        return "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
               std::to_string(bytes.size()) + "\r\n\r\n" + bytes;
    });
    std::string expected = "Basic ";
    {
        std::string encoded;
        truman::test::run_host("printf %s tester:s3cret | base64 -w0", &encoded);
        expected += encoded;
    }
    std::atomic<int> redirected{0};
    truman::test::TinyHttpServer registry([&](const truman::test::HttpRequestSeen& r) {
        if (r.authorization != expected)
            return std::string(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\n"
                "Content-Length: 0\r\n\r\n");
        if (r.target == "/v2/" || r.target == "/v2")
            return std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        if (r.target == "/v2/test/app/manifests/1")
            return "HTTP/1.1 200 OK\r\nContent-Type: " + std::string(images::media::oci_manifest) +
                   "\r\nDocker-Content-Digest: " + manifest["digest"].get<std::string>() +
                   "\r\nContent-Length: " + std::to_string(manifest_text.size()) + "\r\n\r\n" +
                   (r.method == "HEAD" ? "" : manifest_text);
        std::string prefix = "/v2/test/app/blobs/";
        if (r.target.rfind(prefix, 0) == 0) {
            ++redirected;
            return "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:" +
                   std::to_string(blob_storage.port()) + "/storage/" +
                   r.target.substr(prefix.size()) + "\r\nContent-Length: 0\r\n\r\n";
        }
        return std::string("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    });
    std::string host = "127.0.0.1:" + std::to_string(registry.port());
    std::string ref = host + "/test/app:1";
    images::PullOptions options;
    options.auth_file = auth_file(dir_.path() + "/auth.json", host, "tester:s3cret");

    {
        images::ImageStore store(store_dir());
        auto image = images::pull_image(store, ref, options);
        EXPECT_EQ(image.config.cmd, (std::vector<std::string>{"/bin/echo", "redirected"}));
        EXPECT_TRUE(store.has_blob(layer_digest));
    }
    EXPECT_EQ(redirected, 2);  // the config and the layer
    {
        std::lock_guard lock(mutex);
        ASSERT_EQ(at_storage.size(), 2u);
        for (const auto& r : at_storage) {
            EXPECT_EQ(r.method, "GET");
            EXPECT_EQ(r.authorization, "") << r.target << ": the registry's credentials leaked";
        }
    }

    // Storage that sends other bytes than the digest names: refused, nothing kept.
    tamper = true;
    images::ImageStore fresh(dir_.path() + "/images-tampered");
    try {
        images::pull_image(fresh, ref, options);
        ADD_FAILURE() << "a layer whose bytes do not match its digest was accepted";
    } catch (const truman::Error& e) {
        EXPECT_NE(std::string(e.what()).find(layer_digest), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fresh.refs().empty());
    EXPECT_FALSE(fresh.has_blob(layer_digest));
}

// TLS with a certificate the test made: refused (naming the TLS error) until the registry's
// CA is in certs.d/<host:port>/ca.crt. The registry listens on 192.0.2.1 in a network
// namespace of the test's, so that it is no local registry that plain HTTP would be tried
// for; a plain-HTTP registry there is refused unless named insecure.
TEST_F(ImageRegistryTest, TlsTrustedThroughCertsDirAndPlainHttpOnlyWhenInsecure) {
    push_app("tls");
    truman::test::TestNetns ns;
    ASSERT_EQ(ns.run("ip link set lo up && ip addr add 192.0.2.1/32 dev lo"), 0);
    truman::test::make_certificate(dir_.path(), "registry", "192.0.2.1");
    std::string ref = "192.0.2.1:5000/test/app:1";
    images::ImageStore store(store_dir());
    {
        RegistryOptions tls;
        tls.tls_cert = dir_.path() + "/registry.crt";
        tls.tls_key = dir_.path() + "/registry.key";
        tls.netns = ns.path();
        tls.address = "192.0.2.1";
        LocalRegistry registry(dir_.path() + "/registry", tls, storage());
        truman::test::in_netns(ns.path(), [&] {
            try {
                images::pull_image(store, ref, {});
                ADD_FAILURE() << "pulled from an untrusted registry";
            } catch (const truman::Error& e) {
                EXPECT_NE(std::string(e.what()).find("certificate"), std::string::npos) << e.what();
                EXPECT_NE(std::string(e.what()).find("certs.d"), std::string::npos) << e.what();
            }
            fs::create_directories(dir_.path() + "/certs.d/192.0.2.1:5000");
            fs::copy_file(dir_.path() + "/registry.crt",
                          dir_.path() + "/certs.d/192.0.2.1:5000/ca.crt");
            images::PullOptions trusted;
            trusted.certs_dir = dir_.path() + "/certs.d";
            auto image = images::pull_image(store, ref, trusted);
            EXPECT_EQ(image.config.cmd, (std::vector<std::string>{"/bin/echo", "tls"}));
        });
    }
    ASSERT_TRUE(store.remove_ref(images::parse_reference(ref)));
    RegistryOptions in_ns;
    in_ns.netns = ns.path();
    in_ns.address = "192.0.2.1";
    LocalRegistry plain(dir_.path() + "/plain", in_ns, storage());
    truman::test::in_netns(ns.path(), [&] {
        try {
            images::pull_image(store, ref, {});
            ADD_FAILURE() << "spoke plain HTTP to a registry not named insecure";
        } catch (const truman::Error& e) {
            EXPECT_EQ(e.kind(), truman::ErrorKind::system) << e.what();
        }
        images::PullOptions insecure;
        insecure.insecure_registries = {"192.0.2.1:5000"};
        EXPECT_EQ(images::pull_image(store, ref, insecure).config.cmd,
                  (std::vector<std::string>{"/bin/echo", "tls"}));
    });
}

// A private CA (dir/<ca>.crt, .key) and a certificate it signs for ip (dir/<name>.crt, .key).
static void make_ca(const std::string& dir, const std::string& ca) {
    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=truman-test-" + ca +
       " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign -keyout " +
       dir + "/" + ca + ".key -out " + dir + "/" + ca + ".crt 2>&1");
}
static void sign_certificate(const std::string& dir, const std::string& ca, const std::string& name,
                             const std::string& ip) {
    std::string base = dir + "/" + name;
    std::ofstream(base + ".ext") << "subjectAltName=IP:" << ip << "\n";
    sh("openssl req -newkey rsa:2048 -nodes -subj /CN=" + ip + " -keyout " + base + ".key -out " +
       base + ".csr 2>&1 && openssl x509 -req -in " + base + ".csr -CA " + dir + "/" + ca +
       ".crt -CAkey " + dir + "/" + ca + ".key -CAcreateserial -days 2 -extfile " + base +
       ".ext -out " + base + ".crt 2>&1");
}

// The bearer flow with both servers on HTTPS, their certificates from one private CA that
// only certs.d trusts: the registry's certs.d entry is enough for the token server too
// (08cd2e4: it was verified with the system CAs only before); a token server whose own
// certs.d entry holds another CA is refused with a TLS error naming it; without the CA in
// certs.d nothing is trusted. The registry is on 192.0.2.1 in a network namespace of the
// test's (no local registry, so HTTPS is required), the token server on its 127.0.0.1.
TEST_F(ImageRegistryTest, BearerRealmOverHttpsIsTrustedThroughCertsDir) {
    push_app("realm-tls");
    truman::test::TestNetns ns;
    ASSERT_EQ(ns.run("ip link set lo up && ip addr add 192.0.2.1/32 dev lo"), 0);
    std::string d = dir_.path();
    make_ca(d, "ca");
    make_ca(d, "stranger");
    sign_certificate(d, "ca", "registry", "192.0.2.1");
    sign_certificate(d, "ca", "realm", "127.0.0.1");
    truman::test::make_certificate(d, "issuer");  // signs the JWTs
    std::atomic<int> tokens{0};
    std::optional<truman::test::TinyHttpServer> realm;
    truman::test::in_netns(ns.path(), [&] {
        realm.emplace(
            [&](const truman::test::HttpRequestSeen& r) {
                ++tokens;
                return token_answer(r, d + "/issuer.key", d + "/issuer.crt");
            },
            d + "/realm.crt", d + "/realm.key");
    });
    std::string realm_host = "127.0.0.1:" + std::to_string(realm->port());
    RegistryOptions options;
    options.token_realm = "https://" + realm_host + "/token";
    options.token_service = "truman-test-registry";
    options.token_issuer = "truman-test-issuer";
    options.token_cert_bundle = d + "/issuer.crt";
    options.tls_cert = d + "/registry.crt";
    options.tls_key = d + "/registry.key";
    options.netns = ns.path();
    options.address = "192.0.2.1";
    LocalRegistry registry(d + "/registry", options, storage());
    std::string ref = "192.0.2.1:5000/test/app:1";
    images::ImageStore store(store_dir());
    images::PullOptions trusted;
    trusted.certs_dir = d + "/certs.d";
    fs::create_directories(trusted.certs_dir + "/192.0.2.1:5000");
    fs::copy_file(d + "/ca.crt", trusted.certs_dir + "/192.0.2.1:5000/ca.crt");
    truman::test::in_netns(ns.path(), [&] {
        auto image = images::pull_image(store, ref, trusted);
        EXPECT_EQ(image.config.cmd, (std::vector<std::string>{"/bin/echo", "realm-tls"}));
        EXPECT_EQ(tokens, 1);
        ASSERT_TRUE(store.remove_ref(images::parse_reference(ref)));

        // The token server's own entry wins, and it holds a CA that did not sign its
        // certificate: refused, naming the token server and the TLS failure.
        fs::create_directories(trusted.certs_dir + "/" + realm_host);
        fs::copy_file(d + "/stranger.crt", trusted.certs_dir + "/" + realm_host + "/ca.crt");
        try {
            images::pull_image(store, ref, trusted);
            ADD_FAILURE() << "took a token from a server whose certificate is not trusted";
        } catch (const truman::Error& e) {
            std::string what = e.what();
            EXPECT_NE(what.find("https://" + realm_host + "/token"), std::string::npos) << what;
            EXPECT_NE(what.find("certificate"), std::string::npos) << what;
            EXPECT_NE(what.find("certs.d>/" + realm_host + "/ca.crt"), std::string::npos) << what;
        }
        EXPECT_EQ(tokens, 1) << "a token was fetched over an untrusted connection";
        fs::remove_all(trusted.certs_dir + "/" + realm_host);

        // No CA at all: the registry itself is refused first.
        fs::remove(trusted.certs_dir + "/192.0.2.1:5000/ca.crt");
        try {
            images::pull_image(store, ref, trusted);
            ADD_FAILURE() << "pulled with the private CA trusted nowhere";
        } catch (const truman::Error& e) {
            EXPECT_NE(std::string(e.what()).find("certificate"), std::string::npos) << e.what();
        }
    });
    EXPECT_TRUE(store.refs().empty());
    realm.reset();
}

// An index of linux/amd64 and linux/arm64: amd64 by default, arm64 when asked, and a
// platform the index lacks is not_found naming the ones it has.
TEST_F(ImageRegistryTest, MultiPlatformIndexPicksThePlatform) {
    OciLayout layout(dir_.path() + "/layout");
    Layer base = busybox_layer();
    json amd64 = layout.image({base}, {{"Cmd", {"/bin/echo", "amd64"}}}, "amd64");
    json arm64 =
        layout.image({base, gzip_layer([](images::TarWriter& w) { w.file("arch", "arm64"); })},
                     {{"Cmd", {"/bin/echo", "arm64"}}}, "arm64");
    layout.tag(layout.index({{amd64, "amd64"}, {arm64, "arm64"}}), "multi");
    LocalRegistry registry(dir_.path() + "/registry");
    layout.push("multi", registry.host() + "/test/multi:1", true);
    std::string ref = registry.host() + "/test/multi:1";

    images::ImageStore store(store_dir());
    auto picked = images::pull_image(store, ref, {});
    EXPECT_EQ(picked.manifest_digest, amd64["digest"]);
    EXPECT_EQ(picked.config.architecture, "amd64");
    images::PullOptions arm;
    arm.platform = images::parse_platform("linux/arm64");
    images::ImageStore arm_store(store_dir() + "-arm");
    auto other = images::pull_image(arm_store, ref, arm);
    EXPECT_EQ(other.manifest_digest, arm64["digest"]);
    EXPECT_EQ(other.config.architecture, "arm64");
    EXPECT_EQ(other.layer_links.size(), 2u);
    images::PullOptions none;
    none.platform = images::parse_platform("linux/s390x");
    try {
        images::pull_image(store, ref, none);
        FAIL() << "pulled a platform the index lacks";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::not_found) << e.what();
        EXPECT_NE(std::string(e.what()).find("linux/arm64"), std::string::npos) << e.what();
    }
    // And through the API's platform parameter.
    truman::test::TrumandProcess daemon;
    truman::test::HttpClient client(daemon.socket());
    auto pulled = client.request("POST", "/v1/images/pull?ref=" + ref + "&platform=linux/arm64");
    ASSERT_EQ(pulled.status, 200) << pulled.body;
    EXPECT_NE(pulled.body.find("\"architecture\":\"arm64\""), std::string::npos) << pulled.body;
    // And trumanctl pull --platform: the arm64 image under the same reference; a platform
    // the index lacks fails naming those it has; a malformed one is refused by the daemon.
    std::string ctl = std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl --socket " + daemon.socket();
    std::string out;
    ASSERT_EQ(truman::test::run_host(ctl + " rmi " + ref, &out), 0) << out;
    ASSERT_EQ(truman::test::run_host(ctl + " pull --platform linux/arm64 " + ref, &out), 0)
        << out << daemon.log();
    auto inspect = truman::test::HttpClient(daemon.socket()).request("GET", "/v1/images/" + ref);
    ASSERT_EQ(inspect.status, 200) << inspect.body;
    EXPECT_EQ(json::parse(inspect.body)["manifest_digest"], arm64["digest"]) << inspect.body;
    EXPECT_NE(truman::test::run_host(ctl + " pull --platform linux/s390x " + ref + " 2>&1", &out),
              0)
        << out;
    EXPECT_NE(out.find("linux/amd64"), std::string::npos) << out;
    EXPECT_NE(truman::test::run_host(ctl + " pull --platform 'linux//' " + ref + " 2>&1", &out), 0)
        << out;
    EXPECT_NE(out.find("platform"), std::string::npos) << out;
    EXPECT_TRUE(daemon.alive());
}

namespace {

// An image with one large layer of incompressible bytes, pushed as test/big:1.
std::string push_big(const std::string& dir, const std::string& registry_host, size_t bytes) {
    std::string random(bytes, '\0');
    std::ifstream("/dev/urandom", std::ios::binary).read(random.data(), static_cast<long>(bytes));
    OciLayout layout(dir + "/big-layout");
    json manifest = layout.image(
        {busybox_layer(), gzip_layer([&](images::TarWriter& w) { w.file("big", random); })},
        {{"Cmd", {"/bin/ls", "-l", "/big"}}});
    layout.tag(manifest, "big");
    layout.push("big", registry_host + "/test/big:1");
    return registry_host + "/test/big:1";
}

}  // namespace

// The registry dies while a large layer streams: the pull fails (naming the transfer's
// error), and nothing of the image, the layer or its blob is kept; the next pull from a
// registry that stays up finishes.
TEST_F(ImageRegistryTest, ARegistryDyingMidPullLeavesNothing) {
    LocalRegistry registry(dir_.path() + "/registry", {}, storage());
    push_big(dir_.path(), registry.host(), size_t{8} << 20);
    truman::test::RegistryProxy proxy(registry.port(), size_t{1} << 20);
    std::string ref = proxy.host() + "/test/big:1";
    images::ImageStore store(store_dir());
    auto streaming = std::make_shared<std::promise<void>>();
    std::atomic<bool> told{false};
    auto pulling = std::async(std::launch::async, [&] {
        images::PullOptions one_layer_at_a_time;
        one_layer_at_a_time.parallel_layers = 1;
        images::pull_image(store, ref, one_layer_at_a_time, [&](const images::PullProgress& p) {
            if (p.status == "downloading" && p.done >= (size_t{1} << 20) && !told.exchange(true))
                streaming->set_value();
        });
    });
    ASSERT_EQ(streaming->get_future().wait_for(120s), std::future_status::ready);
    registry.kill_now();
    proxy.cut();
    try {
        pulling.get();
        FAIL() << "the pull survived its registry";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::system) << e.what();
        EXPECT_NE(std::string(e.what()).find("layer sha256:"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(store.refs().empty());
    EXPECT_EQ(count(store.root() + "/tmp"), 0u);
    // busybox's layer may have come in whole; the big one did not.
    EXPECT_LE(count(store.root() + "/layers"), 1u);
    EXPECT_LE(count(store.root() + "/blobs/sha256"), 1u);

    LocalRegistry again(dir_.path() + "/registry2", {}, storage());
    auto image = images::pull_image(store, again.host() + "/test/big:1", {});
    EXPECT_EQ(image.layer_links.size(), 2u);
    EXPECT_EQ(count(store.root() + "/tmp"), 0u);
}

// trumand SIGKILLed while it unpacks a slowly arriving layer: no image, no half layer is
// visible afterwards, the restarted trumand clears what the pull left in tmp/, and the next
// pull finishes cleanly.
TEST_F(ImageRegistryTest, TrumandKilledMidPullRestartsCleanAndPullsAgain) {
    LocalRegistry registry(dir_.path() + "/registry", {}, storage());
    push_big(dir_.path(), registry.host(), size_t{8} << 20);
    truman::test::RegistryProxy proxy(registry.port(), size_t{1} << 20);
    std::string ref = proxy.host() + "/test/big:1";
    truman::test::TrumandProcess daemon;
    std::string images_dir = daemon.state_dir() + "/images";
    auto pulling = std::async(std::launch::async, [&] {
        try {
            truman::test::HttpClient client(daemon.socket());
            client.request("POST", "/v1/images/pull?ref=" + ref);
        } catch (const std::exception&) {
            // The daemon dies under it: expected.
        }
    });
    // Wait until a layer is being unpacked (its partial blob in tmp/ past 1 MiB).
    auto partial = [&] {
        std::error_code ec;
        for (const auto& e : fs::recursive_directory_iterator(images_dir + "/tmp", ec))
            if (e.path().filename() == "blob" && fs::file_size(e.path(), ec) > (size_t{1} << 20))
                return true;
        return false;
    };
    for (int i = 0; i < 1200 && !partial(); ++i) std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(partial()) << daemon.log();
    daemon.kill_hard();
    pulling.get();
    // Nothing visible: the ref is not there, no layer but busybox's is published.
    std::string refs = truman::test::read_file(images_dir + "/refs.json");
    EXPECT_EQ(refs.find("test/big"), std::string::npos) << refs;
    EXPECT_LE(count(images_dir + "/layers"), 2u);  // busybox's own, perhaps the image's base

    proxy.set_rate(0);
    daemon.start();
    EXPECT_EQ(count(images_dir + "/tmp"), 0u);
    truman::test::HttpClient client(daemon.socket());
    EXPECT_EQ(truman::test::HttpClient(daemon.socket()).request("GET", "/v1/images/" + ref).status,
              404);
    auto pulled = client.request("POST", "/v1/images/pull?ref=" + ref);
    ASSERT_EQ(pulled.status, 200);
    EXPECT_NE(pulled.body.find("\"pulled\""), std::string::npos) << pulled.body << daemon.log();
    EXPECT_EQ(count(images_dir + "/tmp"), 0u);
    // busybox's own and the image's two; the image's base is busybox_layer(), which is
    // byte-identical to trumand's (and so the same layer) when both were made in one second.
    EXPECT_GE(count(images_dir + "/layers"), 2u);
    EXPECT_LE(count(images_dir + "/layers"), 3u);
    EXPECT_EQ(truman::test::HttpClient(daemon.socket()).request("GET", "/v1/images/" + ref).status,
              200);
}

// Two pulls of one image at once: every blob (config and layers) crosses the wire once.
TEST_F(ImageRegistryTest, TwoConcurrentPullsDownloadEachBlobOnce) {
    LocalRegistry registry(dir_.path() + "/registry", {}, storage());
    push_big(dir_.path(), registry.host(), size_t{2} << 20);
    truman::test::RegistryProxy proxy(registry.port(), size_t{4} << 20);
    std::string ref = proxy.host() + "/test/big:1";
    images::ImageStore store(store_dir());
    auto first = std::async(std::launch::async, [&] { return images::pull_image(store, ref, {}); });
    auto second =
        std::async(std::launch::async, [&] { return images::pull_image(store, ref, {}); });
    auto a = first.get();
    auto b = second.get();
    EXPECT_EQ(a.manifest_digest, b.manifest_digest);
    int blob_gets = 0;
    for (const auto& [request, times] : proxy.requests()) {
        if (request.find("/blobs/") == std::string::npos) continue;
        ++blob_gets;
        EXPECT_EQ(times, 1) << request;
    }
    EXPECT_EQ(blob_gets, 3);  // the config and two layers
}

namespace {

// The manifest, config and layer digests of the one image an archive holds, imported into a
// store of its own.
std::vector<std::string> digests_after_import(const std::string& archive,
                                              const std::string& store_dir,
                                              const std::string& tag) {
    images::ImageStore store(store_dir);
    size_t offset = 0;
    images::ImportOptions options;
    options.tag = tag;
    auto imported = images::import_archive(
        store,
        [&](void* buf, size_t size) {
            size_t n = std::min(size, archive.size() - offset);
            std::memcpy(buf, archive.data() + offset, n);
            offset += n;
            return n;
        },
        options);
    EXPECT_EQ(imported.size(), 1u);
    if (imported.empty()) return {};
    const images::StoredImage& image = imported[0].image;
    std::vector<std::string> digests = {image.manifest_digest, image.manifest.config.digest};
    for (const auto& l : image.manifest.layers) digests.push_back(l.digest);
    return digests;
}

}  // namespace

// Two images whose base is one layer (one diffID) under two compressions, gzip and zstd, and
// a third that ships it uncompressed: the store unpacks the layer once, yet each image keeps
// its own compressed blob, so each exports and imports again with its own digests. A blob
// that claims the stored layer's diffID but decompresses to other bytes is refused.
TEST_F(ImageRegistryTest, ImagesSharingALayerUnderOtherCompressionsEachKeepTheirOwnBlob) {
    auto busybox = [](images::TarWriter& w) { w.tree(truman::test::busybox_rootfs()); };
    OciLayout layout(dir_.path() + "/layout");
    std::vector<Layer> bases;
    std::vector<json> manifests;
    int n = 0;
    for (auto c :
         {images::Compression::gzip, images::Compression::zstd, images::Compression::none}) {
        bases.push_back(compressed_layer(c, busybox));
        std::string word = "image" + std::to_string(n);
        manifests.push_back(layout.image(
            {bases.back(), gzip_layer([&](images::TarWriter& w) { w.file("which", word); })},
            {{"Cmd", {"/bin/cat", "/which"}}}));
        ++n;
    }
    ASSERT_EQ(bases[0].diff_id, bases[1].diff_id);
    ASSERT_NE(bases[0].blob, bases[1].blob);
    // A liar: the busybox diffID claimed for a blob of something else.
    Layer liar = gzip_layer([](images::TarWriter& w) { w.file("bin/sh", "planted"); });
    liar.diff_id = bases[0].diff_id;
    manifests.push_back(layout.image({liar}, {{"Cmd", {"/bin/sh"}}}));
    LocalRegistry registry(dir_.path() + "/registry");
    int i = 0;
    for (const auto* name : {"image0", "image1", "image2", "liar"})
        layout.push_as_written(manifests[i++], registry.host(), std::string("test/") + name, "1");

    images::ImageStore store(store_dir());
    std::vector<std::string> exports;
    std::vector<std::vector<std::string>> pulled;
    for (int i = 0; i < 3; ++i) {
        std::string ref = registry.host() + "/test/image" + std::to_string(i) + ":1";
        std::vector<images::PullProgress> events;
        auto image = images::pull_image(
            store, ref, {}, [&](const images::PullProgress& p) { events.push_back(p); });
        for (const auto& l : image.manifest.layers) {
            ASSERT_TRUE(store.has_blob(l.digest)) << ref << " " << l.digest;
            EXPECT_EQ(images::sha256_digest(store.read_blob(l.digest)), l.digest);
        }
        EXPECT_EQ(image.manifest.layers[0].digest, images::sha256_digest(bases[i].blob)) << ref;
        std::vector<std::string> digests = {image.manifest_digest, image.id};
        for (const auto& l : image.manifest.layers) digests.push_back(l.digest);
        pulled.push_back(digests);
        // Every layer ends verified: the shared one's blob was fetched, not unpacked again.
        EXPECT_EQ(std::count_if(events.begin(), events.end(),
                                [](auto& e) { return e.status == "unpacked"; }),
                  2)
            << ref;
        EXPECT_EQ(std::count_if(events.begin(), events.end(),
                                [](auto& e) { return e.status == "verified"; }),
                  2)
            << ref;
        std::string archive;
        images::export_archive(store, image, {ref}, [&](const void* data, size_t size) {
            archive.append(static_cast<const char*>(data), size);
        });
        exports.push_back(archive);
    }
    // One unpacked busybox for the three, and its three blobs plus one layer each on top.
    EXPECT_EQ(count(store.root() + "/layers"), 4u);
    EXPECT_EQ(count(store.root() + "/tmp"), 0u);

    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(digests_after_import(exports[i], dir_.path() + "/again" + std::to_string(i),
                                       "truman.test/again:" + std::to_string(i)),
                  pulled[i])
            << "image" << i;

    size_t blobs_before = count(store.root() + "/blobs/sha256");
    try {
        images::pull_image(store, registry.host() + "/test/liar:1", {});
        FAIL() << "kept a blob that is not the layer it claims";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::invalid) << e.what();
        EXPECT_NE(std::string(e.what()).find("is not the config's diff_id"), std::string::npos)
            << e.what();
    }
    EXPECT_FALSE(store.has_blob(images::sha256_digest(liar.blob)));
    EXPECT_EQ(count(store.root() + "/blobs/sha256"), blobs_before);
    EXPECT_EQ(count(store.root() + "/tmp"), 0u);
    EXPECT_EQ(store.refs().size(), 3u);
}

namespace {

// The manifest the registry serves for ref (host/repo:tag), as skopeo reads it.
json registry_manifest(const std::string& ref) {
    std::string out;
    EXPECT_EQ(truman::test::run_host(
                  "skopeo inspect --raw --tls-verify=false docker://" + ref + " 2>&1", &out),
              0)
        << out;
    return json::parse(out, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

// Layers compressed with zstd and a layer with no compression at all, as the registry holds
// them (pushed byte for byte: skopeo would gzip the plain one): pulled, each verified
// against its digest, and run.
TEST_F(ImageRegistryTest, ZstdAndUncompressedLayersPullAndRun) {
    OciLayout layout(dir_.path() + "/layout");
    Layer base = compressed_layer(images::Compression::zstd, [](images::TarWriter& w) {
        w.tree(truman::test::busybox_rootfs());
    });
    Layer plain = compressed_layer(images::Compression::none,
                                   [](images::TarWriter& w) { w.file("etc/plain", "tar\n"); });
    Layer zstd = compressed_layer(images::Compression::zstd,
                                  [](images::TarWriter& w) { w.file("etc/zstd", "zstd\n"); });
    json manifest =
        layout.image({base, plain, zstd}, {{"Cmd", {"/bin/cat", "/etc/plain", "/etc/zstd"}}});
    LocalRegistry registry(dir_.path() + "/registry");
    std::string ref = registry.host() + "/test/mixed:1";
    layout.push_as_written(manifest, registry.host(), "test/mixed", "1");
    json served = registry_manifest(ref);
    ASSERT_EQ(served["layers"].size(), 3u) << served.dump();
    EXPECT_EQ(served["layers"][0]["mediaType"], images::media::oci_layer_zstd) << served.dump();
    EXPECT_EQ(served["layers"][1]["mediaType"], images::media::oci_layer) << served.dump();
    EXPECT_EQ(served["layers"][2]["mediaType"], images::media::oci_layer_zstd) << served.dump();
    EXPECT_EQ(served["layers"][1]["digest"], plain.diff_id);  // its blob is its tar

    {
        images::ImageStore store(dir_.path() + "/state/images");
        auto image = images::pull_image(store, ref, {});
        ASSERT_EQ(image.layer_links.size(), 3u);
        for (const auto& l : {base, plain, zstd}) {
            EXPECT_EQ(store.read_blob(images::sha256_digest(l.blob)), l.blob);
            EXPECT_TRUE(store.has_layer(l.diff_id));
        }
    }
    EXPECT_EQ(run_in_service(ref), (std::vector<std::string>{"tar", "zstd"}));
}

// The Docker formats: a schema 2 manifest list of two platforms, each a schema 2 manifest
// (skopeo --format v2s2 converts the OCI layout): linux/amd64 picked and run, arm64 when
// asked.
TEST_F(ImageRegistryTest, DockerSchema2ManifestAndManifestListPullAndRun) {
    OciLayout layout(dir_.path() + "/layout");
    Layer base = busybox_layer();
    json amd64 = layout.image({base}, {{"Cmd", {"/bin/echo", "docker-amd64"}}}, "amd64");
    json arm64 = layout.image({base}, {{"Cmd", {"/bin/echo", "docker-arm64"}}}, "arm64");
    layout.tag(layout.index({{amd64, "amd64"}, {arm64, "arm64"}}), "multi");
    layout.tag(amd64, "single");
    LocalRegistry registry(dir_.path() + "/registry");
    std::string list_ref = registry.host() + "/test/list:1";
    std::string single_ref = registry.host() + "/test/single:1";
    sh("skopeo copy --quiet --all --format v2s2 --dest-tls-verify=false oci:" + dir_.path() +
       "/layout:multi docker://" + list_ref);
    sh("skopeo copy --quiet --format v2s2 --dest-tls-verify=false oci:" + dir_.path() +
       "/layout:single docker://" + single_ref);
    json list = registry_manifest(list_ref);
    ASSERT_EQ(list["mediaType"], images::media::docker_list) << list.dump();
    json single = registry_manifest(single_ref);
    ASSERT_EQ(single["mediaType"], images::media::docker_manifest) << single.dump();
    EXPECT_EQ(single["config"]["mediaType"], images::media::docker_config) << single.dump();
    EXPECT_EQ(single["layers"][0]["mediaType"], images::media::docker_layer) << single.dump();

    {
        images::ImageStore store(dir_.path() + "/state/images");
        auto picked = images::pull_image(store, list_ref, {});
        EXPECT_EQ(picked.config.architecture, "amd64");
        EXPECT_EQ(picked.manifest.media_type, images::media::docker_manifest);
        auto plain = images::pull_image(store, single_ref, {});
        EXPECT_EQ(plain.manifest.media_type, images::media::docker_manifest);
        EXPECT_EQ(plain.config.cmd, (std::vector<std::string>{"/bin/echo", "docker-amd64"}));
        images::PullOptions arm;
        arm.platform = images::parse_platform("linux/arm64");
        images::ImageStore arm_store(dir_.path() + "/arm");
        EXPECT_EQ(images::pull_image(arm_store, list_ref, arm).config.architecture, "arm64");
    }
    EXPECT_EQ(run_in_service(list_ref), (std::vector<std::string>{"docker-amd64"}));
    EXPECT_EQ(run_in_service(single_ref), (std::vector<std::string>{"docker-amd64"}));
}

// A hostile layer in a registry: it makes a symlink to a directory outside and then writes
// through it. trumand's pull fails naming the entry; nothing is written outside; trumand
// lives; no part of the image is left (no name, no layer, nothing in tmp/).
TEST_F(ImageRegistryTest, AHostileLayerPulledThroughTrumandIsRefusedNamingTheEntry) {
    std::string outside = dir_.path() + "/outside";
    fs::create_directories(outside);
    OciLayout layout(dir_.path() + "/layout");
    Layer evil = gzip_layer([&](images::TarWriter& w) {
        w.symlink("escape", outside);
        w.file("escape/planted", "written outside\n");
    });
    layout.tag(layout.image({busybox_layer(), evil}, {{"Cmd", {"/bin/true"}}}), "evil");
    LocalRegistry registry(dir_.path() + "/registry");
    std::string ref = registry.host() + "/test/evil:1";
    layout.push("evil", ref);

    truman::test::TrumandProcess daemon;
    std::string images_dir = daemon.state_dir() + "/images";
    size_t layers_before = count(images_dir + "/layers");
    auto pulled =
        truman::test::HttpClient(daemon.socket()).request("POST", "/v1/images/pull?ref=" + ref);
    ASSERT_EQ(pulled.status, 200) << pulled.body;
    std::string last = pulled.body.substr(pulled.body.rfind('\n', pulled.body.size() - 2) + 1);
    json failed = json::parse(last);
    EXPECT_EQ(failed["status"], "failed") << pulled.body;
    std::string message = failed["error"]["message"];
    EXPECT_NE(message.find("escape/planted"), std::string::npos) << message;
    EXPECT_NE(message.find(images::sha256_digest(evil.blob)), std::string::npos) << message;
    EXPECT_FALSE(fs::exists(outside + "/planted"));
    EXPECT_EQ(count(outside), 0u);
    EXPECT_TRUE(daemon.alive());
    EXPECT_EQ(truman::test::HttpClient(daemon.socket()).request("GET", "/v1/images/" + ref).status,
              404);
    EXPECT_EQ(count(images_dir + "/tmp"), 0u);
    EXPECT_FALSE(fs::exists(images_dir + "/layers/" + images::digest_hex(evil.diff_id)));
    EXPECT_FALSE(fs::exists(images_dir + "/blobs/sha256/" +
                            images::digest_hex(images::sha256_digest(evil.blob))));
    // The layer that came in whole before the refusal is nobody's and went too.
    EXPECT_EQ(count(images_dir + "/layers"), layers_before);
    // And the daemon still serves: its busybox runs.
    auto created = truman::test::HttpClient(daemon.socket())
                       .request("POST", "/v1/containers",
                                json{{"image", "busybox"}, {"cmd", {"/bin/true"}}}.dump());
    EXPECT_EQ(created.status, 201) << created.body;
}
