// Container ids, names and resolving a user's reference to one container.
#include <gtest/gtest.h>

#include <set>

#include "truman/daemon/names.hpp"
#include "truman/error.hpp"

using namespace truman::daemon;

namespace {

truman::ErrorKind kind_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const truman::Error& e) {
        return e.kind();
    }
    ADD_FAILURE() << "no error thrown";
    return truman::ErrorKind::system;
}

}  // namespace

TEST(ContainerIds, AreSixtyFourHexAndDistinct) {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        std::string id = generate_id();
        EXPECT_TRUE(is_valid_id(id)) << id;
        EXPECT_TRUE(seen.insert(id).second);
    }
    EXPECT_FALSE(is_valid_id("abc"));
    EXPECT_FALSE(is_valid_id(std::string(64, 'g')));
    EXPECT_FALSE(is_valid_id(std::string(64, 'A')));
}

TEST(ContainerNames, ValidationFollowsDockerRules) {
    for (const char* ok : {"a", "web", "web-1", "Web_2.x", "0abc", "a.b-c_d"})
        EXPECT_TRUE(is_valid_name(ok)) << ok;
    for (const char* bad : {"", "-a", "_a", ".a", "a/b", "a b", "../x", "a:b", "é"})
        EXPECT_FALSE(is_valid_name(bad)) << bad;
    EXPECT_TRUE(is_valid_name(std::string(128, 'x')));
    EXPECT_FALSE(is_valid_name(std::string(129, 'x')));
}

TEST(ContainerNames, ValidateNamesTheField) {
    try {
        validate_name("bad/name");
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::invalid);
        EXPECT_EQ(std::string(e.what()).rfind("name: ", 0), 0u) << e.what();
    }
    EXPECT_EQ(kind_of([] { validate_name(""); }), truman::ErrorKind::invalid);
    EXPECT_EQ(kind_of([] { validate_name(std::string(200, 'a')); }), truman::ErrorKind::invalid);
}

TEST(ContainerNames, GeneratedNamesAreValidAndAvoidTakenOnes) {
    std::set<std::string> taken;
    for (int i = 0; i < 200; ++i) {
        std::string name = generate_name([&](const std::string& n) { return taken.count(n) > 0; });
        EXPECT_TRUE(is_valid_name(name)) << name;
        EXPECT_TRUE(taken.insert(name).second) << name;
    }
    // Everything adjective_noun taken: falls back to truman_<hex>.
    std::string name = generate_name([](const std::string& n) { return n.find("truman_") != 0; });
    EXPECT_EQ(name.rfind("truman_", 0), 0u);
    EXPECT_EQ(name.size(), 15u);
}

TEST(ResolveRef, ByIdPrefixAndName) {
    std::vector<IdAndName> all = {{"abcd" + std::string(60, '1'), "web"},
                                  {"abce" + std::string(60, '2'), "db"},
                                  {"ffff" + std::string(60, '3'), "abcd"}};
    EXPECT_EQ(resolve_ref(all[0].id, all), all[0].id);
    EXPECT_EQ(resolve_ref("db", all), all[1].id);
    EXPECT_EQ(resolve_ref("abce2", all), all[1].id);
    EXPECT_EQ(resolve_ref("ffff", all), all[2].id);
    // An exact name wins over an id prefix.
    EXPECT_EQ(resolve_ref("abcd", all), all[2].id);
    EXPECT_EQ(resolve_ref("abcd1", all), all[0].id);
}

TEST(ResolveRef, AmbiguousPrefixIsInvalidWithAClearMessage) {
    std::vector<IdAndName> all = {{"abcd" + std::string(60, '1'), "x"},
                                  {"abcd" + std::string(60, '2'), "y"}};
    try {
        resolve_ref("abcd", all);
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::invalid);
        EXPECT_NE(std::string(e.what()).find("ambiguous"), std::string::npos) << e.what();
    }
}

TEST(ResolveRef, UnknownOrTooShortIsNotFound) {
    std::vector<IdAndName> all = {{"abcd" + std::string(60, '1'), "web"}};
    EXPECT_EQ(kind_of([&] { resolve_ref("nope", all); }), truman::ErrorKind::not_found);
    EXPECT_EQ(kind_of([&] { resolve_ref("abc", all); }), truman::ErrorKind::not_found);
    EXPECT_EQ(kind_of([&] { resolve_ref("abcd", {}); }), truman::ErrorKind::not_found);
    EXPECT_EQ(kind_of([&] { resolve_ref("", all); }), truman::ErrorKind::invalid);
}
