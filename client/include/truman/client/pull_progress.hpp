// The progress of `trumanctl pull` on a terminal, as `docker pull` draws it: one line per
// layer (its short id, its state, and while it downloads a bar with the bytes done of the
// total), each redrawn in place with ANSI cursor moves as the pull's events come, then the
// image. Plain lines (pull_progress_line, commands.hpp) when the output is not a terminal.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace truman::client {

class PullProgressBoard {
  public:
    // width: the terminal's columns; a line never reaches the last one, so that none wraps
    // (a wrapped line would throw the cursor moves off by a row).
    explicit PullProgressBoard(size_t width = 80) : width_(width < 20 ? 20 : width) {}

    // What to write to the terminal for one event of the pull's stream ("" for none): a new
    // layer's line below the others, a known layer's line redrawn where it stands, and at
    // the end the image's line. The cursor is left at the start of the line under them.
    std::string update(const nlohmann::json& event);

    // The line a layer shows now (unit tested): "aaaaaaaaaaaa: Downloading [==>   ] 1MB/3MB".
    std::string line(size_t index) const;
    size_t layers() const { return rows_.size(); }

  private:
    struct Row {
        std::string layer;   // the full digest
        std::string status;  // the stream's: waiting, downloading, exists, unpacked
        uint64_t done = 0, total = 0;
    };
    std::string fit(std::string text) const;

    size_t width_;
    std::vector<Row> rows_;
};

// "1.05MB", as docker shows sizes (decimal units).
std::string human_bytes(uint64_t bytes);

}  // namespace truman::client
