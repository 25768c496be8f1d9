// The content-addressed image store on the real filesystem: a layer is published under its
// diffID only when both digests match, once, with a short link that resolves to it; a bad
// layer or a crash leaves nothing visible; references map to manifests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "test_support.hpp"
#include "truman/daemon/images/digest.hpp"
#include "truman/daemon/images/store.hpp"
#include "truman/daemon/images/tar_writer.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;
using namespace truman::daemon::images;
using truman::test::TempDir;

namespace {

ByteSource bytes_of(std::string data) {
    auto state = std::make_shared<std::pair<std::string, size_t>>(std::move(data), 0);
    return [state](void* buf, size_t size) {
        size_t n = std::min(size, state->first.size() - state->second);
        std::memcpy(buf, state->first.data() + state->second, n);
        state->second += n;
        return n;
    };
}

struct Layer {
    std::string tar, blob, diff_id, digest;
};

Layer make_layer(const std::string& content) {
    TarWriter plain;
    plain.file("etc/file", content);
    TarWriter packed(Compression::gzip);
    packed.file("etc/file", content);
    Layer l{plain.finish(), packed.finish(), "", ""};
    l.diff_id = sha256_digest(l.tar);
    l.digest = sha256_digest(l.blob);
    return l;
}

size_t count(const std::string& dir) {
    return static_cast<size_t>(
        std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}

}  // namespace

TEST(LayerStore, LayerIsPublishedOnceUnderItsDiffIdWithAShortLink) {
    TempDir dir;
    ImageStore store(dir.path() + "/images");
    Layer l = make_layer("hello");
    int opened = 0;
    std::string link = store.ensure_layer(l.diff_id, l.digest, [&] {
        ++opened;
        return bytes_of(l.blob);
    });
    EXPECT_EQ(link.size(), kShortNameLength);
    EXPECT_TRUE(store.has_layer(l.diff_id));
    EXPECT_EQ(store.layer_link(l.diff_id), link);
    EXPECT_EQ(truman::test::read_file(store.links_dir() + "/" + link + "/etc/file"), "hello");
    EXPECT_EQ(fs::canonical(store.links_dir() + "/" + link),
              fs::canonical(store.layer_dir(l.diff_id)));
    // The compressed blob is kept, by its digest.
    EXPECT_EQ(store.read_blob(l.digest), l.blob);
    // Asked again: the store has it, nothing is read.
    EXPECT_EQ(store.ensure_layer(l.diff_id, l.digest,
                                 [&] {
                                     ++opened;
                                     return bytes_of(l.blob);
                                 }),
              link);
    EXPECT_EQ(opened, 1);
    EXPECT_EQ(count(store.root() + "/tmp"), 0u);
}

TEST(LayerStore, ALayerClaimingAnotherDiffIdIsRefusedAndNothingKept) {
    TempDir dir;
    ImageStore store(dir.path() + "/images");
    Layer popular = make_layer("the real base layer");
    Layer planted = make_layer("evil content");
    try {
        store.ensure_layer(popular.diff_id, planted.digest, [&] { return bytes_of(planted.blob); });
        FAIL() << "planted a layer under another's diffID";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::invalid);
        EXPECT_NE(std::string(e.what()).find("is not the config's diff_id"), std::string::npos)
            << e.what();
    }
    // A blob whose compressed digest is not the manifest's is refused the same way.
    EXPECT_THROW(
        store.ensure_layer(planted.diff_id, popular.digest, [&] { return bytes_of(planted.blob); }),
        truman::Error);
    EXPECT_FALSE(store.has_layer(popular.diff_id));
    EXPECT_FALSE(store.has_layer(planted.diff_id));
    EXPECT_FALSE(store.has_blob(planted.digest));
    EXPECT_EQ(count(store.root() + "/layers"), 0u);
    EXPECT_EQ(count(store.links_dir()), 0u);
    EXPECT_EQ(count(store.root() + "/tmp"), 0u);
    EXPECT_EQ(count(store.root() + "/blobs/sha256"), 0u);
    // A layer that fails to unpack leaves nothing either.
    EXPECT_THROW(store.ensure_layer(popular.diff_id, popular.digest,
                                    [&] { return bytes_of(popular.blob.substr(0, 30)); }),
                 truman::Error);
    EXPECT_EQ(count(store.root() + "/layers"), 0u);
    EXPECT_EQ(count(store.root() + "/tmp"), 0u);
}

TEST(LayerStore, TwoUnpacksOfOneLayerAtOnceReadItOnce) {
    TempDir dir;
    ImageStore store(dir.path() + "/images");
    Layer l = make_layer(std::string(2000000, 'z'));
    std::atomic<int> opened{0};
    std::string links[2];
    std::thread threads[2];
    for (int i = 0; i < 2; ++i)
        threads[i] = std::thread([&, i] {
            links[i] = store.ensure_layer(l.diff_id, l.digest, [&] {
                ++opened;
                return bytes_of(l.blob);
            });
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(opened.load(), 1);
    EXPECT_EQ(links[0], links[1]);
    EXPECT_EQ(count(store.links_dir()), 1u);
}

TEST(LayerStore, OpeningRemovesWhatACrashLeft) {
    TempDir dir;
    std::string root = dir.path() + "/images";
    {
        ImageStore store(root);
        Layer l = make_layer("kept");
        store.ensure_layer(l.diff_id, l.digest, [&] { return bytes_of(l.blob); });
    }
    fs::create_directories(root + "/tmp/layer-ABCDEF/diff/etc");
    std::ofstream(root + "/tmp/layer-ABCDEF/diff/etc/half") << "half";
    fs::create_symlink("../layers/" + std::string(64, 'a') + "/diff", root + "/l/ZZZZZZ");
    std::ofstream(root + "/blobs/sha256/.x.tmp.AbCdEf") << "half a blob";
    ImageStore store(root);
    EXPECT_EQ(count(root + "/tmp"), 0u);
    EXPECT_EQ(count(root + "/l"), 1u);  // the good layer's link only
    EXPECT_FALSE(fs::exists(root + "/blobs/sha256/.x.tmp.AbCdEf"));
    EXPECT_EQ(count(root + "/layers"), 1u);
}

TEST(LayerStore, BlobsAreVerifiedAndReferencesMapToManifests) {
    TempDir dir;
    ImageStore store(dir.path() + "/images");
    std::string digest = store.put_blob("{\"manifest\":1}");
    EXPECT_EQ(digest, sha256_digest("{\"manifest\":1}"));
    EXPECT_EQ(store.read_blob(digest), "{\"manifest\":1}");
    EXPECT_THROW(store.put_blob(digest, "other content"), truman::Error);
    try {
        store.read_blob(sha256_digest("absent"));
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::not_found);
    }
    ImageRef alpine = parse_reference("alpine");
    EXPECT_FALSE(store.find_ref(alpine));
    store.set_ref(alpine, digest);
    EXPECT_EQ(store.find_ref(parse_reference("docker.io/library/alpine:latest")), digest);
    EXPECT_EQ(store.refs().size(), 1u);
    // Survives a new store object (as after a restart).
    ImageStore again(dir.path() + "/images");
    EXPECT_EQ(again.find_ref(alpine), digest);
    EXPECT_TRUE(again.remove_ref(alpine));
    EXPECT_FALSE(again.remove_ref(alpine));
    EXPECT_FALSE(again.find_ref(alpine));
}
