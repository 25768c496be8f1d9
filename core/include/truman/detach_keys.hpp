// Detach keys: the key sequence that leaves an attached terminal without stopping the
// container, in Docker's notation -- comma-separated keys, each a single character or
// "ctrl-<c>" with <c> one of a-z @ [ \ ] ^ _ ("ctrl-p,ctrl-q", the default, is 0x10 0x11).
#pragma once

#include <string>
#include <string_view>

namespace truman {

inline constexpr const char* kDefaultDetachKeys = "ctrl-p,ctrl-q";

// The bytes the notation stands for. Throws truman::Error (invalid, field "detach_keys") for
// an empty sequence, an empty key or an unknown one ("ctrl-1", "alt-x").
std::string parse_detach_keys(std::string_view notation);

// Watches the bytes a user types for the detach sequence. Bytes that may begin the sequence
// are held back until it is clear whether they do; when the sequence breaks off, the held
// bytes are passed on in order, and a byte that breaks one attempt may begin the next
// ("ctrl-p ctrl-p ctrl-q" passes the first ctrl-p on and detaches).
class DetachMatcher {
  public:
    explicit DetachMatcher(std::string keys);

    // Appends to out what should reach the container, and returns true once the sequence was
    // typed (out then holds what came before it; what follows it is dropped).
    bool feed(std::string_view input, std::string& out);
    // At the end of input: the bytes held back, which were not a detach after all.
    std::string flush();

  private:
    std::string keys_;
    std::string held_;  // always a proper prefix of keys_
};

}  // namespace truman
