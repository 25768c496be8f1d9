// Image references normalised like Docker's, and digests checked and computed.
#include <gtest/gtest.h>

#include "truman/daemon/images/digest.hpp"
#include "truman/daemon/images/reference.hpp"
#include "truman/error.hpp"

using namespace truman::daemon::images;

namespace {
const std::string kDigest =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
}

TEST(ImageReference, DockerHubShortNamesAreNormalised) {
    EXPECT_EQ(parse_reference("alpine").str(), "docker.io/library/alpine:latest");
    EXPECT_EQ(parse_reference("alpine:3.19").str(), "docker.io/library/alpine:3.19");
    EXPECT_EQ(parse_reference("library/alpine").str(), "docker.io/library/alpine:latest");
    EXPECT_EQ(parse_reference("docker.io/alpine").str(), "docker.io/library/alpine:latest");
    EXPECT_EQ(parse_reference("index.docker.io/library/alpine").str(),
              "docker.io/library/alpine:latest");
    EXPECT_EQ(parse_reference("user/app:v1").str(), "docker.io/user/app:v1");
}

TEST(ImageReference, RegistriesPortsAndDigests) {
    ImageRef r = parse_reference("127.0.0.1:5000/team/app:1.0");
    EXPECT_EQ(r.domain, "127.0.0.1:5000");
    EXPECT_EQ(r.path, "team/app");
    EXPECT_EQ(r.tag, "1.0");
    EXPECT_EQ(parse_reference("localhost/app").str(), "localhost/app:latest");
    EXPECT_EQ(parse_reference("localhost:5000/app").name(), "localhost:5000/app");
    ImageRef d = parse_reference("alpine@" + kDigest);
    EXPECT_EQ(d.tag, "");
    EXPECT_EQ(d.digest, kDigest);
    EXPECT_EQ(d.str(), "docker.io/library/alpine@" + kDigest);
    EXPECT_EQ(parse_reference("quay.io/a/b:t@" + kDigest).str(), "quay.io/a/b:t@" + kDigest);
    EXPECT_EQ(parse_reference("a_b.c-d__e").path, "library/a_b.c-d__e");
}

TEST(ImageReference, MalformedReferencesAreRefusedNamingTheField) {
    for (const char* bad : {"", "Alpine", "alpine:", "alpine:-x", "a//b", "/alpine", "alpine/",
                            "alpine@sha256:abc", "alpine@md5:", "..", "a/../b", "a b", "-a", "a-",
                            "a..b", "localhost:port/x", "bad_host:5/x"}) {
        try {
            parse_reference(bad, "ref");
            ADD_FAILURE() << "accepted " << bad;
        } catch (const truman::Error& e) {
            EXPECT_EQ(e.kind(), truman::ErrorKind::invalid) << bad;
            EXPECT_EQ(e.field(), "ref") << bad;
        }
    }
    EXPECT_THROW(parse_reference("a:" + std::string(129, 't')), truman::Error);
    EXPECT_THROW(parse_reference(std::string(256, 'a')), truman::Error);
}

TEST(ImageDigest, Sha256OfStreamsAndValidation) {
    EXPECT_EQ(sha256_digest(""), kDigest);
    Sha256 h;
    h.update("ab", 2);
    h.update("c", 1);
    EXPECT_EQ(h.size(), 3u);
    EXPECT_EQ(h.digest(),
              "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_TRUE(is_valid_digest(kDigest));
    EXPECT_FALSE(is_valid_digest("sha256:E3B0"));
    EXPECT_FALSE(is_valid_digest("sha512:" + std::string(64, 'a')));
    EXPECT_FALSE(is_valid_digest("sha256:" + std::string(63, 'a') + "g"));
    EXPECT_EQ(digest_hex(kDigest), kDigest.substr(7));
    EXPECT_THROW(digest_hex("sha256:../../etc"), truman::Error);
}
