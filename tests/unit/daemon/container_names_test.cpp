// Container ids, names and resolving a user's reference to one container.
#include <gtest/gtest.h>

#include <map>
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

// A reference is tried as a whole id first: a name that is one could never be looked up.
TEST(ContainerNames, ANewNameMayNotBeAnId) {
    std::string id = generate_id();
    EXPECT_TRUE(is_valid_name(id)) << "stored names of that shape must still load";
    EXPECT_EQ(kind_of([&] { validate_name(id); }), truman::ErrorKind::invalid);
    validate_name(std::string(63, 'a'));
    validate_name(std::string(64, 'A'));
    validate_name(std::string(63, 'a') + "g");
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

namespace {

// What the registry holds: its entries by id, and each name's id.
struct Containers {
    std::map<std::string, int> by_id;
    std::map<std::string, std::string> id_by_name;

    Containers(std::initializer_list<std::pair<std::string, std::string>> all) {
        for (const auto& [id, name] : all) {
            by_id[id] = 0;
            id_by_name[name] = id;
        }
    }
    std::string resolve(const std::string& ref) const {
        return resolve_ref(ref, by_id, id_by_name);
    }
};

}  // namespace

TEST(ResolveRef, ByIdPrefixAndName) {
    const std::string web = "abcd" + std::string(60, '1'), db = "abce" + std::string(60, '2'),
                      other = "ffff" + std::string(60, '3');
    Containers all{{web, "web"}, {db, "db"}, {other, "abcd"}};
    EXPECT_EQ(all.resolve(web), web);
    EXPECT_EQ(all.resolve("db"), db);
    EXPECT_EQ(all.resolve("abce2"), db);
    EXPECT_EQ(all.resolve("ffff"), other);
    // An exact name wins over an id prefix.
    EXPECT_EQ(all.resolve("abcd"), other);
    EXPECT_EQ(all.resolve("abcd1"), web);
}

TEST(ResolveRef, AmbiguousPrefixIsInvalidWithAClearMessage) {
    Containers all{{"abcd" + std::string(60, '1'), "x"},
                   {"abcd" + std::string(60, '2'), "y"},
                   {"abce" + std::string(60, '3'), "z"}};
    try {
        all.resolve("abcd");
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::invalid);
        EXPECT_NE(std::string(e.what()).find("ambiguous (2 containers)"), std::string::npos)
            << e.what();
    }
    EXPECT_EQ(all.resolve("abce"), "abce" + std::string(60, '3'));
}

TEST(ResolveRef, UnknownOrTooShortIsNotFound) {
    Containers all{{"abcd" + std::string(60, '1'), "web"}};
    EXPECT_EQ(kind_of([&] { all.resolve("nope"); }), truman::ErrorKind::not_found);
    EXPECT_EQ(kind_of([&] { all.resolve("abc"); }), truman::ErrorKind::not_found);
    EXPECT_EQ(kind_of([&] { all.resolve("abcc"); }), truman::ErrorKind::not_found);
    EXPECT_EQ(kind_of([&] { all.resolve("abce"); }), truman::ErrorKind::not_found);
    EXPECT_EQ(kind_of([&] { all.resolve(""); }), truman::ErrorKind::invalid);
    EXPECT_EQ(kind_of([&] { Containers{}.resolve("abcd"); }), truman::ErrorKind::not_found);
}
