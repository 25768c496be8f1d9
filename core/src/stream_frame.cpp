#include "truman/stream_frame.hpp"

#include "truman/error.hpp"

namespace truman {

std::array<char, kFrameHeaderSize> frame_header(StreamType type, uint32_t size) noexcept {
    return {static_cast<char>(type),
            0,
            0,
            0,
            static_cast<char>(size >> 24),
            static_cast<char>((size >> 16) & 0xff),
            static_cast<char>((size >> 8) & 0xff),
            static_cast<char>(size & 0xff)};
}

std::string encode_frames(StreamType type, std::string_view payload) {
    std::string out;
    out.reserve(payload.size() + kFrameHeaderSize * (1 + payload.size() / kMaxFramePayload));
    do {
        size_t n = std::min<size_t>(payload.size(), kMaxFramePayload);
        auto header = frame_header(type, static_cast<uint32_t>(n));
        out.append(header.data(), header.size());
        out.append(payload.substr(0, n));
        payload.remove_prefix(n);
    } while (!payload.empty());
    return out;
}

std::optional<Frame> FrameDecoder::next() {
    if (buffer_.size() < kFrameHeaderSize) return std::nullopt;
    auto byte = [&](size_t i) { return static_cast<uint8_t>(buffer_[i]); };
    if (byte(0) > static_cast<uint8_t>(StreamType::system_error))
        throw invalid_argument("frame", "unknown stream type " + std::to_string(byte(0)));
    if (byte(1) != 0 || byte(2) != 0 || byte(3) != 0)
        throw invalid_argument("frame", "header padding is not zero");
    uint32_t size = (uint32_t{byte(4)} << 24) | (uint32_t{byte(5)} << 16) |
                    (uint32_t{byte(6)} << 8) | uint32_t{byte(7)};
    if (size > kMaxFramePayload)
        throw invalid_argument("frame", "payload of " + std::to_string(size) +
                                            " bytes is over the limit of " +
                                            std::to_string(kMaxFramePayload));
    if (buffer_.size() < kFrameHeaderSize + size) return std::nullopt;
    Frame frame{static_cast<StreamType>(byte(0)), buffer_.substr(kFrameHeaderSize, size)};
    buffer_.erase(0, kFrameHeaderSize + size);
    return frame;
}

}  // namespace truman
