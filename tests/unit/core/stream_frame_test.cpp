// Docker's 8-byte stream frames: the exact bytes on the wire, and a decoder that copes with
// any split of the stream and refuses a malformed header.
#include "truman/stream_frame.hpp"

#include <gtest/gtest.h>

#include <string>

#include "truman/error.hpp"

namespace truman {
namespace {

TEST(StreamFrame, HeaderIsTypeThreeZerosAndBigEndianSize) {
    auto h = frame_header(StreamType::stderr_stream, 0x01020304);
    EXPECT_EQ(std::string(h.data(), h.size()), std::string("\x02\0\0\0\x01\x02\x03\x04", 8));
    std::string frame = encode_frames(StreamType::stdout_stream, "hello");
    EXPECT_EQ(frame, std::string("\x01\0\0\0\0\0\0\x05hello", 13));
}

TEST(StreamFrame, EmptyPayloadIsOneEmptyFrame) {
    EXPECT_EQ(encode_frames(StreamType::stdout_stream, ""), std::string("\x01\0\0\0\0\0\0\0", 8));
}

TEST(StreamFrame, LongPayloadIsCutAtTheLimit) {
    std::string payload(kMaxFramePayload + 10, 'x');
    std::string wire = encode_frames(StreamType::stdout_stream, payload);
    ASSERT_EQ(wire.size(), payload.size() + 2 * kFrameHeaderSize);
    FrameDecoder decoder;
    decoder.feed(wire);
    auto first = decoder.next();
    auto second = decoder.next();
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->payload.size(), kMaxFramePayload);
    EXPECT_EQ(second->payload.size(), 10u);
    EXPECT_FALSE(decoder.next());
    EXPECT_EQ(decoder.pending(), 0u);
}

TEST(StreamFrame, DecoderReassemblesFramesFedByteByByte) {
    std::string wire = encode_frames(StreamType::stdout_stream, "out") +
                       encode_frames(StreamType::stderr_stream, "err!");
    FrameDecoder decoder;
    std::vector<Frame> frames;
    for (char c : wire) {
        decoder.feed(std::string_view(&c, 1));
        while (auto f = decoder.next()) frames.push_back(*f);
    }
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].type, StreamType::stdout_stream);
    EXPECT_EQ(frames[0].payload, "out");
    EXPECT_EQ(frames[1].type, StreamType::stderr_stream);
    EXPECT_EQ(frames[1].payload, "err!");
    EXPECT_EQ(decoder.pending(), 0u);
}

TEST(StreamFrame, IncompleteFrameWaitsAndCountsAsPending) {
    FrameDecoder decoder;
    decoder.feed(std::string("\x01\0\0\0\0\0\0\x05hel", 11));
    EXPECT_FALSE(decoder.next());
    EXPECT_EQ(decoder.pending(), 11u);
    decoder.feed("lo");
    auto f = decoder.next();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, "hello");
}

Error decode_error(const std::string& wire) {
    FrameDecoder decoder;
    decoder.feed(wire);
    try {
        decoder.next();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "no truman::Error thrown";
    return Error(ErrorKind::system, 0, "none");
}

TEST(StreamFrame, MalformedHeadersAreRefused) {
    EXPECT_EQ(decode_error(std::string("\x04\0\0\0\0\0\0\0", 8)).kind(), ErrorKind::invalid);
    EXPECT_EQ(decode_error(std::string("\x01\0\x01\0\0\0\0\0", 8)).kind(), ErrorKind::invalid);
    // 16 MiB announced: over the limit, refused before anything is buffered for it.
    EXPECT_EQ(decode_error(std::string("\x01\0\0\0\x01\0\0\0", 8)).kind(), ErrorKind::invalid);
}

}  // namespace
}  // namespace truman
