// Image import and export through a real trumand: an OCI layout tar imported, exported and
// imported again keeps its manifest, config and layer digests; a `docker save` archive (made
// by skopeo) imports; a corrupt blob, a layer whose diffID lies and hostile archives (names
// that leave, links out, devices, an oversized document) are refused by name, leave nothing
// in the store and trumand stays up. trumanctl import and save do the same from the CLI.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_support.hpp"
#include "truman/client/api_client.hpp"
#include "truman/daemon/images/digest.hpp"
#include "truman/daemon/images/image.hpp"
#include "truman/daemon/images/tar_writer.hpp"
#include "trumand_process.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using truman::client::ApiClient;
using truman::client::ApiError;
namespace images = truman::daemon::images;

namespace {

struct Layer {
    std::string blob, diff_id, digest;
};

Layer gzip_layer(const std::function<void(images::TarWriter&)>& fill) {
    images::TarWriter plain;
    fill(plain);
    images::TarWriter packed(images::Compression::gzip);
    fill(packed);
    Layer l{packed.finish(), images::sha256_digest(plain.finish()), ""};
    l.digest = images::sha256_digest(l.blob);
    return l;
}

// An OCI image layout, as a tar made in memory: the files its test wants, hostile ones too.
struct Image {
    std::vector<Layer> layers;
    std::string config, manifest, manifest_digest, config_digest;
};

Image make_image(const std::vector<Layer>& layers, const std::string& marker) {
    Image image;
    image.layers = layers;
    json diff_ids = json::array();
    for (const auto& l : layers) diff_ids.push_back(l.diff_id);
    image.config = json{{"architecture", "amd64"},
                        {"os", "linux"},
                        {"config", {{"Cmd", {"/bin/sh"}}, {"Labels", {{"marker", marker}}}}},
                        {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
                       .dump();
    image.config_digest = images::sha256_digest(image.config);
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", images::media::oci_manifest},
                     {"config",
                      {{"mediaType", images::media::oci_config},
                       {"digest", image.config_digest},
                       {"size", image.config.size()}}},
                     {"layers", json::array()}};
    for (const auto& l : layers)
        manifest["layers"].push_back({{"mediaType", images::media::oci_layer_gzip},
                                      {"digest", l.digest},
                                      {"size", l.blob.size()}});
    image.manifest = manifest.dump();
    image.manifest_digest = images::sha256_digest(image.manifest);
    return image;
}

std::string blob_name(const std::string& digest) {
    return "blobs/sha256/" + images::digest_hex(digest);
}

// The layout's tar; name, if given, is the index's io.containerd.image.name. extra adds
// entries (hostile ones) before index.json.
std::string layout_tar(const Image& image, const std::string& name = "",
                       const std::function<void(images::TarWriter&)>& extra = {}) {
    images::TarWriter tar;
    tar.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    for (const auto& l : image.layers) tar.file(blob_name(l.digest), l.blob);
    tar.file(blob_name(image.config_digest), image.config);
    tar.file(blob_name(image.manifest_digest), image.manifest);
    if (extra) extra(tar);
    json entry = {{"mediaType", images::media::oci_manifest},
                  {"digest", image.manifest_digest},
                  {"size", image.manifest.size()}};
    if (!name.empty()) entry["annotations"] = {{"io.containerd.image.name", name}};
    tar.file("index.json", json{{"schemaVersion", 2}, {"manifests", {entry}}}.dump());
    return tar.finish();
}

class ImageArchiveTest : public ::testing::Test {
  protected:
    ImageArchiveTest() : api_(daemon_.socket()) {}

    std::string store() const { return daemon_.state_dir() + "/images"; }

    // The answer to POST /v1/images/import with body, streamed in pieces of 64 KiB.
    json import(const std::string& body, const std::string& tag = "") {
        size_t offset = 0;
        std::string target = "/v1/images/import";
        if (!tag.empty()) target += "?tag=" + truman::client::url_encode(tag);
        std::string answer =
            api_.upload("POST", target, "application/x-tar", [&](char* buf, size_t size) {
                size_t n = std::min({size, body.size() - offset, size_t{64} << 10});
                std::memcpy(buf, body.data() + offset, n);
                offset += n;
                return n;
            });
        return json::parse(answer);
    }

    // The error an import of body gets: its status and message.
    std::pair<unsigned, std::string> refused(const std::string& body, const std::string& tag = "") {
        try {
            json answer = import(body, tag);
            ADD_FAILURE() << "imported: " << answer.dump();
            return {200, ""};
        } catch (const ApiError& e) {
            return {e.status(), e.what()};
        }
    }

    std::string export_tar(const std::string& ref) {
        std::string out;
        api_.stream("/v1/images/" + ref + "/export",
                    [&](std::string_view data) { out.append(data); });
        return out;
    }

    // Blobs, layers, short links, refs and temp files of the store: what a refused import
    // must leave as it was.
    std::string store_state() const {
        std::string state;
        for (const char* dir : {"blobs/sha256", "layers", "l", "tmp"}) {
            std::set<std::string> names;
            for (const auto& e : fs::directory_iterator(store() + "/" + dir))
                names.insert(e.path().filename().string());
            state += std::string(dir) + ":";
            for (const auto& n : names) state += " " + n;
            state += "\n";
        }
        std::ifstream refs(store() + "/refs.json");
        state += std::string(std::istreambuf_iterator<char>(refs), {});
        return state;
    }

    void expect_alive() {
        EXPECT_TRUE(daemon_.alive()) << daemon_.log();
        EXPECT_NO_THROW(api_.call_json("GET", "/v1/images"));
    }

    truman::test::TrumandProcess daemon_;
    ApiClient api_;
    std::string name_ = "127.0.0.1:5999/" + truman::test::unique_name("archive");
};

Layer file_layer(const std::string& path, const std::string& content) {
    return gzip_layer([&](images::TarWriter& w) { w.file(path, content); });
}

}  // namespace

TEST_F(ImageArchiveTest, ImportExportImportKeepsManifestConfigAndLayerDigests) {
    Layer base = gzip_layer([](images::TarWriter& w) { w.tree(truman::test::busybox_rootfs()); });
    Layer top = file_layer("etc/archive-marker", "from the archive\n");
    Image image = make_image({base, top}, name_);
    std::string ref = name_ + ":1";

    // The layout names nothing: ?tag= does.
    json first = import(layout_tar(image), ref);
    ASSERT_EQ(first["images"].size(), 1u) << first.dump();
    EXPECT_EQ(first["images"][0]["manifest_digest"], image.manifest_digest);
    EXPECT_EQ(first["images"][0]["id"], image.config_digest);
    EXPECT_EQ(first["images"][0]["tags"], json::array({ref}));
    for (const auto& l : {base, top}) {
        EXPECT_TRUE(fs::exists(store() + "/" + blob_name(l.digest))) << l.digest;
        EXPECT_TRUE(fs::exists(store() + "/layers/" + images::digest_hex(l.diff_id)));
    }

    // Export, remove the image (its layers and blobs go), import the export: the same.
    std::string exported = export_tar(ref);
    ASSERT_GT(exported.size(), base.blob.size());
    api_.call("DELETE", "/v1/images/" + ref);
    EXPECT_FALSE(fs::exists(store() + "/layers/" + images::digest_hex(top.diff_id)));
    EXPECT_FALSE(fs::exists(store() + "/" + blob_name(image.manifest_digest)));

    json again = import(exported);  // named by the export's index.json this time
    ASSERT_EQ(again["images"].size(), 1u) << again.dump();
    EXPECT_EQ(again["images"][0]["manifest_digest"], image.manifest_digest);
    EXPECT_EQ(again["images"][0]["id"], image.config_digest);
    EXPECT_EQ(again["images"][0]["tags"], json::array({ref}));
    EXPECT_EQ(truman::test::read_file(store() + "/" + blob_name(image.manifest_digest)),
              image.manifest);
    EXPECT_EQ(truman::test::read_file(store() + "/" + blob_name(image.config_digest)),
              image.config);
    for (const auto& l : {base, top})
        EXPECT_EQ(truman::test::read_file(store() + "/" + blob_name(l.digest)), l.blob);
    EXPECT_EQ(truman::test::read_file(store() + "/layers/" + images::digest_hex(top.diff_id) +
                                      "/diff/etc/archive-marker"),
              "from the archive\n");
    // And a second export is byte for byte the first.
    EXPECT_EQ(export_tar(ref), exported);
    api_.call("DELETE", "/v1/images/" + ref);
}

TEST_F(ImageArchiveTest, TrumanctlSavesAndImportsAndADockerSaveArchiveImports) {
    truman::test::TempDir dir;
    Layer base = gzip_layer([](images::TarWriter& w) { w.tree(truman::test::busybox_rootfs()); });
    Layer top = file_layer("etc/docker-marker", "docker\n");
    Image image = make_image({base, top}, name_);
    std::string ref = name_ + ":2";
    { std::ofstream(dir.path() + "/layout.tar", std::ios::binary) << layout_tar(image, ref); }
    std::string ctl =
        std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl --socket " + daemon_.socket() + " ";
    std::string out;
    ASSERT_EQ(truman::test::run_host(ctl + "import " + dir.path() + "/layout.tar", &out), 0) << out;
    EXPECT_NE(out.find("imported " + ref), std::string::npos) << out;
    ASSERT_EQ(
        truman::test::run_host(ctl + "save " + ref + " -o " + dir.path() + "/saved.tar", &out), 0)
        << out;
    EXPECT_EQ(truman::test::read_file(dir.path() + "/saved.tar"), export_tar(ref));
    // An unknown image: an error, and no file.
    EXPECT_NE(truman::test::run_host(
                  ctl + "save " + name_ + ":nope -o " + dir.path() + "/nope.tar 2>&1", &out),
              0);
    EXPECT_NE(out.find("no such image"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(dir.path() + "/nope.tar"));
    api_.call("DELETE", "/v1/images/" + ref);

    // skopeo writes what `docker save` writes: manifest.json, the config, plain layer tars.
    std::string layout = dir.path() + "/layout";
    fs::create_directories(layout);
    ASSERT_EQ(
        truman::test::run_host("tar -C " + layout + " -xf " + dir.path() + "/saved.tar", &out), 0)
        << out;
    std::string docker_ref = name_ + ":docker";
    ASSERT_EQ(truman::test::run_host("skopeo copy --quiet oci:" + layout + ":2 docker-archive:" +
                                         dir.path() + "/docker.tar:" + docker_ref + " 2>&1",
                                     &out),
              0)
        << out;
    ASSERT_EQ(truman::test::run_host("tar -tf " + dir.path() + "/docker.tar", &out), 0);
    EXPECT_NE(out.find("manifest.json"), std::string::npos) << out;
    EXPECT_EQ(out.find("index.json"), std::string::npos) << out;
    ASSERT_EQ(
        truman::test::run_host("cat " + dir.path() + "/docker.tar | " + ctl + "import -", &out), 0)
        << out;
    EXPECT_NE(out.find("imported " + docker_ref), std::string::npos) << out;
    json inspected = api_.call_json("GET", "/v1/images/" + docker_ref);
    EXPECT_EQ(inspected["layers"], 2) << inspected.dump();
    EXPECT_EQ(inspected["cmd"], json::array({"/bin/sh"})) << inspected.dump();
    // Its layers are ours, verified by their diffIDs (docker save's tars are plain).
    EXPECT_EQ(truman::test::read_file(store() + "/layers/" + images::digest_hex(top.diff_id) +
                                      "/diff/etc/docker-marker"),
              "docker\n");
    EXPECT_TRUE(fs::exists(store() + "/" + blob_name(top.diff_id)));
    api_.call("DELETE", "/v1/images/" + docker_ref);
}

TEST_F(ImageArchiveTest, ACorruptBlobOrALyingDiffIdIsRefusedAndLeavesNothing) {
    Layer base = file_layer("etc/a", "a\n");
    Layer top = file_layer("etc/b", "b\n");
    std::string before = store_state();

    // A layer blob whose bytes are not its name's.
    Image image = make_image({base, top}, name_);
    Image corrupt = image;
    corrupt.layers[1].blob[corrupt.layers[1].blob.size() / 2] ^= 0x40;
    auto [status, message] = refused(layout_tar(corrupt, name_ + ":bad"));
    EXPECT_EQ(status, 400u);
    EXPECT_NE(message.find(blob_name(top.digest)), std::string::npos) << message;
    EXPECT_NE(message.find("digest"), std::string::npos) << message;
    EXPECT_EQ(store_state(), before);

    // Honest blobs, but the config claims another diffID for the second layer: the first
    // layer is published before the second fails, and must go again.
    Layer other = file_layer("etc/c", "c\n");
    Layer liar = top;
    liar.diff_id = other.diff_id;
    Image lying = make_image({base, liar}, name_);
    std::tie(status, message) = refused(layout_tar(lying, name_ + ":liar"));
    EXPECT_EQ(status, 400u);
    EXPECT_NE(message.find("diff_id " + other.diff_id), std::string::npos) << message;
    EXPECT_EQ(store_state(), before);
    expect_alive();
}

TEST_F(ImageArchiveTest, HostileArchivesAreRefusedByEntryAndLeaveNothing) {
    truman::test::TempDir outside;
    Image image = make_image({file_layer("etc/a", "a\n")}, name_);
    std::string before = store_state();
    std::string ref = name_ + ":hostile";
    struct Case {
        const char* what;
        std::function<void(images::TarWriter&)> add;
        std::string expect;
    };
    std::string escape = outside.path() + "/escaped";
    std::vector<Case> cases = {
        {"dot-dot", [](images::TarWriter& w) { w.file("blobs/../../escaped", "x"); }, "\"..\""},
        {"absolute", [&](images::TarWriter& w) { w.file(escape, "x"); }, "absolute"},
        {"symlink out",
         [](images::TarWriter& w) { w.symlink("blobs/sha256/link", "../../../etc/passwd"); },
         "outside the archive"},
        {"absolute symlink",
         [](images::TarWriter& w) { w.symlink("blobs/sha256/abs", "/etc/passwd"); },
         "outside the archive"},
        {"device", [](images::TarWriter& w) { w.node("dev-null", 'c', 1, 3); }, "dev-null"},
        {"blob name not a digest", [](images::TarWriter& w) { w.file("blobs/sha256/zz", "x"); },
         "not a sha256 blob name"},
    };
    for (const auto& c : cases) {
        auto [status, message] = refused(layout_tar(image, ref, c.add));
        EXPECT_EQ(status, 400u) << c.what;
        EXPECT_NE(message.find(c.expect), std::string::npos) << c.what << ": " << message;
        EXPECT_NE(message.find("image archive"), std::string::npos) << c.what << ": " << message;
    }
    EXPECT_FALSE(fs::exists(escape));
    EXPECT_TRUE(fs::is_empty(outside.path()));

    // An index.json larger than any honest one (4 MiB): refused, not read into memory.
    {
        images::TarWriter tar;
        tar.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
        tar.file("index.json", std::string(size_t{5} << 20, ' '));
        auto [status, message] = refused(tar.finish(), ref);
        EXPECT_EQ(status, 400u);
        EXPECT_NE(message.find("index.json"), std::string::npos) << message;
        EXPECT_NE(message.find("larger than"), std::string::npos) << message;
    }
    // Not a tar at all; a layout that names nothing and no ?tag.
    auto [status, message] = refused(std::string(10000, 'x'));
    EXPECT_EQ(status, 400u);
    EXPECT_NE(message.find("not a readable tar"), std::string::npos) << message;
    std::tie(status, message) = refused(layout_tar(image));
    EXPECT_EQ(status, 400u);
    EXPECT_NE(message.find("give a tag"), std::string::npos) << message;
    EXPECT_EQ(store_state(), before);
    expect_alive();
}
