#include "truman/daemon/images/digest.hpp"

#include <openssl/evp.h>

#include "truman/error.hpp"

namespace truman::daemon::images {

namespace {
constexpr std::string_view kPrefix = "sha256:";
constexpr size_t kHexLength = 64;
}  // namespace

bool is_valid_digest(std::string_view digest) {
    if (digest.size() != kPrefix.size() + kHexLength || digest.substr(0, kPrefix.size()) != kPrefix)
        return false;
    for (char c : digest.substr(kPrefix.size()))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

void validate_digest(std::string_view digest, const std::string& field) {
    if (!is_valid_digest(digest))
        throw invalid_argument(field, "\"" + std::string(digest.substr(0, 80)) +
                                          "\" is not a sha256 digest (sha256:<64 hex digits>)");
}

std::string digest_hex(std::string_view digest) {
    validate_digest(digest, "digest");
    return std::string(digest.substr(kPrefix.size()));
}

struct Sha256::Context {
    EVP_MD_CTX* md = nullptr;
    ~Context() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
    context_->md = EVP_MD_CTX_new();
    if (!context_->md || EVP_DigestInit_ex(context_->md, EVP_sha256(), nullptr) != 1)
        throw make_error(ErrorKind::system, "sha256: cannot initialise OpenSSL's digest");
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t size) {
    if (size == 0) return;
    if (EVP_DigestUpdate(context_->md, data, size) != 1)
        throw make_error(ErrorKind::system, "sha256: update failed");
    size_ += size;
}

std::string Sha256::digest() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(context_->md, out, &length) != 1)
        throw make_error(ErrorKind::system, "sha256: final failed");
    static const char* hex = "0123456789abcdef";
    std::string text(kPrefix);
    for (unsigned int i = 0; i < length; ++i) {
        text += hex[out[i] >> 4];
        text += hex[out[i] & 0xf];
    }
    return text;
}

std::string sha256_digest(std::string_view data) {
    Sha256 hash;
    hash.update(data.data(), data.size());
    return hash.digest();
}

}  // namespace truman::daemon::images
