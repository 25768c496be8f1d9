// Layer tarballs made in memory with libarchive's writer (never its disk writer): the
// built-in busybox image's one layer, and the layers tests make, hostile ones included (the
// names are written exactly as given).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace truman::daemon::images {

enum class Compression { none, gzip, zstd };

struct TarEntryOptions {
    mode_t mode = 0644;  // permission bits, setuid/setgid/sticky included
    uid_t uid = 0;
    gid_t gid = 0;
    time_t mtime = 0;
    std::vector<std::pair<std::string, std::string>> xattrs{};
};

class TarWriter {
  public:
    explicit TarWriter(Compression compression = Compression::none);
    ~TarWriter();
    TarWriter(const TarWriter&) = delete;
    TarWriter& operator=(const TarWriter&) = delete;

    void file(const std::string& name, const std::string& content, const TarEntryOptions& o = {});
    void directory(const std::string& name, const TarEntryOptions& o = {.mode = 0755});
    void symlink(const std::string& name, const std::string& target, const TarEntryOptions& o = {});
    void hardlink(const std::string& name, const std::string& target);
    // 'c' or 'b' device, or 'p' for a fifo.
    void node(const std::string& name, char type, unsigned major, unsigned minor,
              const TarEntryOptions& o = {});
    // Every file, directory and symlink under dir (a host directory), named relative to it,
    // with the owner, mode and mtime it has.
    void tree(const std::string& dir);
    // The finished (compressed) tarball; the writer takes no more entries.
    std::string finish();

  private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace truman::daemon::images
