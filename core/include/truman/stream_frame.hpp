// Docker's multiplexed stream: what attach and exec carry without a TTY, so that stdout and
// stderr can share one connection and the docker CLI can read them. Every frame is an 8-byte
// header -- the stream type, three zero bytes, the payload size as a big-endian uint32 --
// followed by that many bytes of payload.
//
//   01 00 00 00 00 00 00 05 'h' 'e' 'l' 'l' 'o'      5 bytes of stdout
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace truman {

enum class StreamType : uint8_t {
    stdin_stream = 0,
    stdout_stream = 1,
    stderr_stream = 2,
    system_error = 3
};

inline constexpr size_t kFrameHeaderSize = 8;
// The largest payload one frame may announce here; a longer write is cut into several
// frames, and a decoder refuses a header announcing more (so a peer cannot make us buffer
// 4 GiB).
inline constexpr uint32_t kMaxFramePayload = uint32_t{1} << 20;

std::array<char, kFrameHeaderSize> frame_header(StreamType type, uint32_t size) noexcept;
// header + payload; a payload over kMaxFramePayload becomes several frames.
std::string encode_frames(StreamType type, std::string_view payload);

struct Frame {
    StreamType type;
    std::string payload;
};

// Cuts a byte stream into frames, whatever the pieces it arrives in.
class FrameDecoder {
  public:
    void feed(std::string_view data) { buffer_.append(data); }
    // The next complete frame, or nullopt until more bytes come. Throws truman::Error (invalid)
    // for a header with an unknown type, non-zero padding or a size over kMaxFramePayload.
    std::optional<Frame> next();
    // Bytes of an incomplete frame still held (0 at a clean end of stream).
    size_t pending() const noexcept { return buffer_.size(); }

  private:
    std::string buffer_;
};

}  // namespace truman
