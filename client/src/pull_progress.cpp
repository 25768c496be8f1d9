#include "truman/client/pull_progress.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace truman::client {

namespace {

constexpr size_t kBarWidth = 30;

std::string short_id(const std::string& digest) {
    return digest.substr(digest.find(':') + 1, 12);
}

// ESC [ n A / B: the cursor n rows up or down, its column kept.
std::string cursor_up(size_t n) {
    return "\x1b[" + std::to_string(n) + "A";
}
std::string cursor_down(size_t n) {
    return "\x1b[" + std::to_string(n) + "B";
}
constexpr const char* kClearLine = "\r\x1b[2K";

}  // namespace

std::string human_bytes(uint64_t bytes) {
    static const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    size_t unit = 0;
    while (value >= 1000 && unit + 1 < std::size(units)) {
        value /= 1000;
        ++unit;
    }
    char text[32];
    if (unit == 0)
        std::snprintf(text, sizeof text, "%lluB", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(text, sizeof text, "%.3g%s", value, units[unit]);
    return text;
}

std::string PullProgressBoard::fit(std::string text) const {
    if (text.size() >= width_) text.resize(width_ - 1);
    return text;
}

std::string PullProgressBoard::line(size_t index) const {
    const Row& row = rows_.at(index);
    std::string text = short_id(row.layer) + ": ";
    if (row.status == "waiting") return fit(text + "Waiting");
    if (row.status == "exists") return fit(text + "Already exists");
    if (row.status == "verified") return fit(text + "Verified");
    if (row.status == "unpacked") return fit(text + "Pull complete");
    if (row.status != "downloading") return fit(text + row.status);
    size_t filled =
        row.total == 0
            ? 0
            : static_cast<size_t>(std::min<uint64_t>(row.done, row.total) * kBarWidth / row.total);
    std::string bar(kBarWidth, ' ');
    for (size_t i = 0; i < filled; ++i) bar[i] = '=';
    if (filled < kBarWidth) bar[filled] = '>';
    text += "Downloading [" + bar + "] " + human_bytes(row.done);
    if (row.total > 0) text += "/" + human_bytes(row.total);
    return fit(text);
}

std::string PullProgressBoard::update(const nlohmann::json& event) {
    if (!event.is_object()) return "";
    std::string status = event.value("status", "");
    if (status == "pulled" && event.contains("image") && event["image"].is_object())
        return fit("pulled " + event["image"].value("id", "")) + "\n";
    if (!event.contains("layer") || !event["layer"].is_string() || status.empty()) return "";
    std::string layer = event["layer"].get<std::string>();
    size_t index = 0;
    while (index < rows_.size() && rows_[index].layer != layer) ++index;
    bool is_new = index == rows_.size();
    if (is_new) rows_.push_back({layer, "", 0, 0});
    Row& row = rows_[index];
    row.status = status;
    auto count = [&](const char* key, uint64_t& into) {
        auto it = event.find(key);
        if (it != event.end() && it->is_number_integer() && it->get<int64_t>() >= 0)
            into = it->get<uint64_t>();
    };
    count("done", row.done);
    count("total", row.total);
    if (is_new) return line(index) + "\n";
    // Up to the layer's row, redraw it, and back down under the last one.
    size_t up = rows_.size() - index;
    return cursor_up(up) + kClearLine + line(index) + "\r" + cursor_down(up);
}

}  // namespace truman::client
