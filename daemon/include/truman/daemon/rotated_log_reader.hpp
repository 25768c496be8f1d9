// Reading a log that its writer rotates once (<path>.1, then <path>), as the container log and
// the seccomp log are: both readers decode their own records from the lines this one finds.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "truman/fd.hpp"

namespace truman::daemon {

// Reads <path>.1 then <path> and then, on every call, what was appended since: following a
// rotation, it finishes the renamed file before starting on the new one. A line still being
// written is kept until its newline arrives; a torn one at the end of a finished file is dropped.
class RotatedLogReader {
  public:
    explicit RotatedLogReader(std::string path);

    // Calls on_line with each complete line (without its newline) available now, in order.
    void read_available(const std::function<void(std::string_view)>& on_line);

  private:
    void drain(const std::function<void(std::string_view)>& on_line);
    bool open_current();

    std::string path_;
    Fd fd_;
    unsigned long inode_ = 0;
    bool started_ = false;
    std::string pending_;
};

}  // namespace truman::daemon
