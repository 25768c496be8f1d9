// Content digests as the OCI image spec writes them ("sha256:" + 64 lowercase hex digits),
// computed while the bytes stream by (OpenSSL's SHA-256), never after the fact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace truman::daemon::images {

// True for "sha256:<64 lowercase hex>", the only algorithm truman accepts.
bool is_valid_digest(std::string_view digest);
// Throws truman::Error (invalid, naming field) unless is_valid_digest.
void validate_digest(std::string_view digest, const std::string& field);
// The hex part of a valid digest: what blobs and layers are named by on disk.
std::string digest_hex(std::string_view digest);

class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const void* data, size_t size);
    // "sha256:<hex>" of everything given; the hash cannot be updated afterwards.
    std::string digest();
    uint64_t size() const noexcept { return size_; }

  private:
    struct Context;
    std::unique_ptr<Context> context_;
    uint64_t size_ = 0;
};

// The digest of a whole buffer (manifests and configs, which are small).
std::string sha256_digest(std::string_view data);

}  // namespace truman::daemon::images
