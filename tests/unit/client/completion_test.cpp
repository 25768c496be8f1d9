// The bash completion (client/completion/trumanctl.bash), run by bash with a stand-in
// trumanctl function that answers `images --json` as trumand would: the image verbs offer
// their subverbs, flags and the store's image names.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

namespace {

const std::string kScript = std::string(TRUMAN_SOURCE_DIR) + "/client/completion/trumanctl.bash";

// COMPREPLY, space-separated, for the words typed so far (the last one being completed).
std::string complete(const std::string& words) {
    const std::string script =
        "source '" + kScript +
        "'\n"
        "trumanctl() { [ \"$1 $2\" = 'images --json' ] || return 1; printf '%s\\n' "
        "'[{\"id\": \"sha256:ab\", \"tags\": [\"docker.io/library/busybox:latest\",' "
        "'\"127.0.0.1:5000/app:1\"]}, {\"id\": \"sha256:cd\", \"tags\": []}]'; }\n"
        "COMP_WORDS=(" +
        words +
        ")\n"
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
        "_trumanctl\n"
        "echo \"${COMPREPLY[*]}\"\n";
    const std::string command = "bash -s <<'TRUMAN_EOF'\n" + script + "TRUMAN_EOF\n";
    std::unique_ptr<FILE, int (*)(FILE*)> out(popen(command.c_str(), "r"), pclose);
    if (!out) return "popen failed";
    std::string text;
    char buffer[4096];
    while (size_t n = fread(buffer, 1, sizeof buffer, out.get())) text.append(buffer, n);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
}

TEST(Completion, ImageVerbsOfferTheirSubverbsFlagsAndTheStoresImages) {
    EXPECT_EQ(complete("trumanctl image ''"), "inspect");
    EXPECT_EQ(complete("trumanctl image inspect ''"),
              "127.0.0.1:5000/app:1 busybox:latest docker.io/library/busybox:latest");
    // Docker Hub's official images as users type them.
    EXPECT_EQ(complete("trumanctl rmi bu"), "busybox:latest");
    EXPECT_EQ(complete("trumanctl run 127"), "127.0.0.1:5000/app:1");
    EXPECT_EQ(complete("trumanctl save -"), "-o --output --help");
    EXPECT_EQ(complete("trumanctl import -"), "-t --tag --help");
    EXPECT_EQ(complete("trumanctl login -"), "-u --username -p --password --password-stdin --help");
    EXPECT_EQ(complete("trumanctl network ''"), "create ls inspect rm connect disconnect");
    std::string verbs = complete("trumanctl ''");
    for (const char* verb : {" pull ", " images ", " rmi ", " image ", " login ", " logout ",
                             " import ", " save ", " network "})
        EXPECT_NE((" " + verbs + " ").find(verb), std::string::npos) << verb << " in " << verbs;
}

}  // namespace
