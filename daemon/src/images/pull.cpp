#include "truman/daemon/images/pull.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/images/digest.hpp"
#include "truman/daemon/images/reference.hpp"
#include "truman/error.hpp"

using json = nlohmann::json;

namespace truman::daemon::images {

namespace {

constexpr size_t kMaxManifestBytes = size_t{4} << 20;
constexpr size_t kMaxConfigBytes = size_t{16} << 20;
constexpr size_t kMaxErrorBody = 4096;
constexpr uint64_t kProgressStep = uint64_t{1} << 20;
constexpr const char* kManifestAccept =
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

void curl_init_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Easy {
    CURL* handle = curl_easy_init();
    ~Easy() {
        if (handle) curl_easy_cleanup(handle);
    }
    Easy() = default;
    Easy(const Easy&) = delete;
    Easy& operator=(const Easy&) = delete;
};

struct HeaderList {
    curl_slist* list = nullptr;
    ~HeaderList() { curl_slist_free_all(list); }
    HeaderList() = default;
    HeaderList(const HeaderList&) = delete;
    HeaderList& operator=(const HeaderList&) = delete;
    void add(const std::string& header) {
        curl_slist* next = curl_slist_append(list, header.c_str());
        if (!next) throw make_error(ErrorKind::system, "curl: out of memory");
        list = next;
    }
};

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string url_encode(const std::string& s) {
    std::string out;
    static const char* hex = "0123456789ABCDEF";
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"
std::map<std::string, std::string> parse_challenge(const std::string& header, std::string* scheme) {
    std::map<std::string, std::string> params;
    size_t space = header.find(' ');
    *scheme = lower(header.substr(0, space));
    if (space == std::string::npos) return params;
    std::string rest = header.substr(space + 1);
    size_t i = 0;
    while (i < rest.size()) {
        while (i < rest.size() && (rest[i] == ' ' || rest[i] == ',')) ++i;
        size_t eq = rest.find('=', i);
        if (eq == std::string::npos) break;
        std::string key = lower(rest.substr(i, eq - i));
        i = eq + 1;
        std::string value;
        if (i < rest.size() && rest[i] == '"') {
            ++i;
            while (i < rest.size() && rest[i] != '"') {
                if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
                value += rest[i++];
            }
            ++i;
        } else {
            size_t comma = rest.find(',', i);
            value = rest.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
            i = comma == std::string::npos ? rest.size() : comma;
        }
        params[key] = value;
    }
    return params;
}

std::string base64_decode(const std::string& in) {
    std::string out((in.size() / 4 + 1) * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    if (n < 0) throw make_error(ErrorKind::invalid, "auth file: an auth value is not base64");
    out.resize(static_cast<size_t>(n));
    while (!out.empty() && out.back() == '\0') out.pop_back();  // padding
    return out;
}

// "user:password" for domain from a docker-style auth file, "" if none.
std::string credentials_for(const std::string& auth_file, const std::string& domain) {
    if (auth_file.empty() || access(auth_file.c_str(), F_OK) != 0) return "";
    json doc;
    try {
        doc = json::parse(read_whole_file(auth_file));
    } catch (const json::exception& e) {
        throw make_error(ErrorKind::invalid, "auth file " + auth_file + ": " + e.what());
    }
    const json* auths = doc.contains("auths") ? &doc["auths"] : nullptr;
    if (!auths || !auths->is_object()) return "";
    std::vector<std::string> keys = {domain, "https://" + domain, "http://" + domain};
    if (domain == "docker.io")
        keys.insert(keys.end(), {"https://index.docker.io/v1/", "index.docker.io"});
    for (const auto& key : keys) {
        auto it = auths->find(key);
        if (it == auths->end() || !it->is_object()) continue;
        if (it->contains("auth") && (*it)["auth"].is_string())
            return base64_decode((*it)["auth"].get<std::string>());
        if (it->contains("username") && it->contains("password"))
            return (*it)["username"].get<std::string>() + ":" +
                   (*it)["password"].get<std::string>();
    }
    return "";
}

struct Response {
    long status = 0;
    std::string content_type;
    std::string www_authenticate;
    std::string body;
};

size_t header_callback(char* data, size_t size, size_t count, void* self) {
    auto* r = static_cast<Response*>(self);
    std::string line(data, size * count);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = lower(line.substr(0, colon));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
        if (name == "content-type") r->content_type = value.substr(0, value.find(';'));
        if (name == "www-authenticate") r->www_authenticate = value;
    } else if (line.rfind("HTTP/", 0) == 0) {
        // A new response (after a redirect): its headers replace the last one's.
        r->content_type.clear();
        r->www_authenticate.clear();
    }
    return size * count;
}

struct BufferedBody {
    std::string* out;
    size_t max;
    bool too_big = false;
};

size_t buffer_callback(char* data, size_t size, size_t count, void* self) {
    auto* b = static_cast<BufferedBody*>(self);
    size_t n = size * count;
    if (b->out->size() + n > b->max) {
        b->too_big = true;
        return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    b->out->append(data, n);
    return n;
}

// One registry, one repository: the requests of one pull and the token they share.
class RegistryClient {
  public:
    RegistryClient(const ImageRef& ref, const PullOptions& options)
        : domain_(ref.domain), repository_(ref.path) {
        curl_init_once();
        host_ = domain_ == "docker.io" ? "registry-1.docker.io" : domain_;
        plain_ = is_plain_http_registry(domain_, options.insecure_registries);
        base_ = std::string(plain_ ? "http" : "https") + "://" + host_ + "/v2/" + repository_;
        credentials_ = credentials_for(options.auth_file, domain_);
        auth_file_ = options.auth_file;
        // certs.d: the directory is named as the reference names the registry.
        certs_dir_ = options.certs_dir;
        tls_ = tls_files(domain_);
    }

    // Log-in checks try credentials given, not the auth file's.
    void use_credentials(std::string credentials) { credentials_ = std::move(credentials); }
    // The API's root (GET /v2/), which answers 200 to whoever may use the registry.
    std::string root_url() const {
        return std::string(plain_ ? "http" : "https") + "://" + host_ + "/v2/";
    }

    std::string manifest_url(const std::string& reference) const {
        return base_ + "/manifests/" + reference;
    }
    std::string blob_url(const std::string& digest) const { return base_ + "/blobs/" + digest; }

    // A small document (manifest, config), authenticating as the registry asks.
    Response get(const std::string& url, const std::vector<std::string>& headers, size_t max) {
        Response r = request(url, headers, max);
        if (r.status == 401 && authenticate(r.www_authenticate)) r = request(url, headers, max);
        return r;
    }

    // Prepares a handle for url: protocols, redirects, auth, timeouts. Used for every request.
    void setup(CURL* h, const std::string& url, HeaderList& headers) const {
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        // Threads: no signals for timeouts (the resolver runs in curl's own thread).
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, plain_ ? "http,https" : "https");
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, plain_ ? "http,https" : "https");
        // Blob storage (S3, a CDN) is where registries redirect blob downloads; curl drops
        // our Authorization header when a redirect leaves the registry's host.
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
        // A stalled transfer (under 1 byte/s for 60 s) is an error, not a hang.
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "truman/0.1");
        set_tls(h, tls_);
        std::lock_guard lock(mutex_);
        if (!token_.empty()) {
            headers.add("Authorization: Bearer " + token_);
        } else if (basic_ && !credentials_.empty()) {
            curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
            curl_easy_setopt(h, CURLOPT_USERPWD, credentials_.c_str());
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.list);
    }

    std::string describe(CURLcode code, const char* error_buffer) const {
        std::string what = error_buffer && *error_buffer ? error_buffer : curl_easy_strerror(code);
        if (code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE)
            what += " (the registry's certificate is not trusted: add its CA as <certs.d>/" +
                    domain_ + "/ca.crt)";
        if (code == CURLE_UNSUPPORTED_PROTOCOL)
            what += " (plain HTTP is only for localhost, 127.0.0.0/8 and insecure registries)";
        return "registry " + domain_ + ": " + what;
    }

    // The same for the token server, whose trust comes from its own certs.d entry or else
    // the registry's.
    std::string describe_realm(CURLcode code, const char* error_buffer,
                               const std::string& realm) const {
        std::string what = error_buffer && *error_buffer ? error_buffer : curl_easy_strerror(code);
        if (code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE)
            what += " (the token server's certificate is not trusted: add its CA as <certs.d>/" +
                    authority_of(realm) + "/ca.crt, or the registry's as <certs.d>/" + domain_ +
                    "/ca.crt when one CA signed both)";
        return what;
    }

    const std::string& domain() const { return domain_; }
    bool has_credentials() const { return !credentials_.empty(); }
    // Why a 401 came back: our credentials were refused, or we had none.
    std::string unauthorized(const std::string& what) const {
        if (credentials_.empty())
            return "registry " + domain_ + ": " + what +
                   ": HTTP 401 Unauthorized (no credentials for " + domain_ +
                   (auth_file_.empty() ? "" : " in " + auth_file_) + ")";
        std::string user = credentials_.substr(0, credentials_.find(':'));
        return "registry " + domain_ + ": " + what +
               ": HTTP 401 Unauthorized: the credentials of \"" + user + "\" (from " + auth_file_ +
               ") were refused";
    }

  private:
    // What certs.d holds for a server ("host:port" as a URL names it): its CA, trusted with
    // the system's, and a client certificate to present.
    struct TlsFiles {
        std::string ca, client_cert, client_key;
        bool any() const { return !ca.empty() || !client_cert.empty(); }
    };

    TlsFiles tls_files(const std::string& server) const {
        TlsFiles files;
        if (certs_dir_.empty() || server.empty() || server.find('/') != std::string::npos ||
            server == "." || server == "..")
            return files;
        std::string dir = certs_dir_ + "/" + server;
        auto present = [](const std::string& path) { return access(path.c_str(), R_OK) == 0; };
        if (present(dir + "/ca.crt")) files.ca = dir + "/ca.crt";
        if (present(dir + "/client.cert") && present(dir + "/client.key")) {
            files.client_cert = dir + "/client.cert";
            files.client_key = dir + "/client.key";
        }
        return files;
    }

    static void set_tls(CURL* h, const TlsFiles& files) {
        if (!files.ca.empty()) {
            // The registry's own CA, and the system's still (CAPATH is where Debian keeps them).
            curl_easy_setopt(h, CURLOPT_CAINFO, files.ca.c_str());
            curl_easy_setopt(h, CURLOPT_CAPATH, "/etc/ssl/certs");
        }
        if (!files.client_cert.empty()) {
            curl_easy_setopt(h, CURLOPT_SSLCERT, files.client_cert.c_str());
            curl_easy_setopt(h, CURLOPT_SSLKEY, files.client_key.c_str());
        }
    }

    // The token server is verified as the registry is: by its own certs.d entry (as Docker
    // looks it up, by the realm's host:port), else by the registry's (a registry and its
    // token server often share a private CA), and always the system's CAs.
    static std::string authority_of(const std::string& url) {
        std::string authority = url;
        size_t scheme = authority.find("://");
        if (scheme != std::string::npos) authority = authority.substr(scheme + 3);
        authority = authority.substr(0, authority.find_first_of("/?#"));
        return authority.substr(authority.find('@') + 1);  // npos + 1 == 0
    }

    TlsFiles realm_tls(const std::string& realm) const {
        TlsFiles own = tls_files(authority_of(realm));
        return own.any() ? own : tls_;
    }

    Response request(const std::string& url, const std::vector<std::string>& extra, size_t max) {
        Easy easy;
        if (!easy.handle) throw make_error(ErrorKind::system, "curl: out of memory");
        HeaderList headers;
        for (const auto& h : extra) headers.add(h);
        setup(easy.handle, url, headers);
        Response r;
        BufferedBody body{&r.body, max};
        char error_buffer[CURL_ERROR_SIZE] = {};
        curl_easy_setopt(easy.handle, CURLOPT_ERRORBUFFER, error_buffer);
        curl_easy_setopt(easy.handle, CURLOPT_WRITEFUNCTION, buffer_callback);
        curl_easy_setopt(easy.handle, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(easy.handle, CURLOPT_HEADERFUNCTION, header_callback);
        curl_easy_setopt(easy.handle, CURLOPT_HEADERDATA, &r);
        CURLcode code = curl_easy_perform(easy.handle);
        if (body.too_big)
            throw make_error(ErrorKind::invalid, "registry " + domain_ + ": " + url +
                                                     " is larger than " + std::to_string(max) +
                                                     " bytes");
        if (code != CURLE_OK) throw make_error(ErrorKind::system, describe(code, error_buffer));
        curl_easy_getinfo(easy.handle, CURLINFO_RESPONSE_CODE, &r.status);
        return r;
    }

    // Answer a 401's challenge: a bearer token from the realm (with our credentials, if
    // any), or basic auth. False when there is nothing more to try.
    bool authenticate(const std::string& challenge) {
        std::string scheme;
        auto params = parse_challenge(challenge, &scheme);
        if (scheme == "basic") {
            std::lock_guard lock(mutex_);
            if (basic_ || credentials_.empty()) return false;
            basic_ = true;
            return true;
        }
        if (scheme != "bearer" || params["realm"].empty()) return false;
        {
            std::lock_guard lock(mutex_);
            if (!token_.empty()) return false;  // the token we have was refused
        }
        std::string url = params["realm"];
        url += url.find('?') == std::string::npos ? '?' : '&';
        if (!params["service"].empty()) url += "service=" + url_encode(params["service"]) + "&";
        if (!repository_.empty())
            url += "scope=" + url_encode("repository:" + repository_ + ":pull");
        Easy easy;
        HeaderList headers;
        curl_easy_setopt(easy.handle, CURLOPT_URL, url.c_str());
        curl_easy_setopt(easy.handle, CURLOPT_NOSIGNAL, 1L);
        // The realm is another server: https unless the registry itself is a local one.
        curl_easy_setopt(easy.handle, CURLOPT_PROTOCOLS_STR, plain_ ? "http,https" : "https");
        curl_easy_setopt(easy.handle, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(easy.handle, CURLOPT_TIMEOUT, 120L);
        TlsFiles realm_files = realm_tls(params["realm"]);
        set_tls(easy.handle, realm_files);
        if (!credentials_.empty()) {
            curl_easy_setopt(easy.handle, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
            curl_easy_setopt(easy.handle, CURLOPT_USERPWD, credentials_.c_str());
        }
        std::string body;
        BufferedBody buffered{&body, kMaxErrorBody * 16};
        curl_easy_setopt(easy.handle, CURLOPT_WRITEFUNCTION, buffer_callback);
        curl_easy_setopt(easy.handle, CURLOPT_WRITEDATA, &buffered);
        char error_buffer[CURL_ERROR_SIZE] = {};
        curl_easy_setopt(easy.handle, CURLOPT_ERRORBUFFER, error_buffer);
        CURLcode code = curl_easy_perform(easy.handle);
        if (code != CURLE_OK)
            throw make_error(ErrorKind::system,
                             "registry " + domain_ + ": token from " + params["realm"] + ": " +
                                 describe_realm(code, error_buffer, params["realm"]));
        long status = 0;
        curl_easy_getinfo(easy.handle, CURLINFO_RESPONSE_CODE, &status);
        if (status == 401 || status == 403)
            throw Error(ErrorKind::invalid, EACCES,
                        unauthorized("token from " + params["realm"]) + " (HTTP " +
                            std::to_string(status) + " from the token server)");
        if (status != 200)
            throw make_error(ErrorKind::invalid, "registry " + domain_ + ": the token server " +
                                                     params["realm"] + " said " +
                                                     std::to_string(status));
        std::string token;
        try {
            json j = json::parse(body);
            if (j.contains("token") && j["token"].is_string())
                token = j["token"].get<std::string>();
            else if (j.contains("access_token") && j["access_token"].is_string())
                token = j["access_token"].get<std::string>();
        } catch (const json::exception&) {
        }
        if (token.empty())
            throw make_error(ErrorKind::invalid,
                             "registry " + domain_ + ": no token from " + params["realm"]);
        std::lock_guard lock(mutex_);
        token_ = token;
        return true;
    }

    std::string domain_, repository_, host_, base_, credentials_, auth_file_;
    std::string certs_dir_;
    TlsFiles tls_;
    bool plain_ = false;
    mutable std::mutex mutex_;  // token_, basic_
    std::string token_;
    bool basic_ = false;
};

// A blob's bytes as the unpacker asks for them: curl's multi interface is driven from
// read(), so the download runs exactly as fast as the layer unpacks and no blob is ever
// whole on disk or in memory.
class BlobStream {
  public:
    BlobStream(RegistryClient& client, const Descriptor& layer,
               std::function<void(uint64_t)> on_bytes, const std::atomic<bool>& cancelled)
        : client_(client), layer_(layer), on_bytes_(std::move(on_bytes)), cancelled_(cancelled) {
        multi_ = curl_multi_init();
        if (!multi_ || !easy_.handle) throw make_error(ErrorKind::system, "curl: out of memory");
        client_.setup(easy_.handle, client_.blob_url(layer_.digest), headers_);
        curl_easy_setopt(easy_.handle, CURLOPT_ERRORBUFFER, error_buffer_);
        curl_easy_setopt(easy_.handle, CURLOPT_WRITEFUNCTION, write_callback);
        curl_easy_setopt(easy_.handle, CURLOPT_WRITEDATA, this);
        curl_multi_add_handle(multi_, easy_.handle);
    }
    ~BlobStream() {
        curl_multi_remove_handle(multi_, easy_.handle);
        curl_multi_cleanup(multi_);
    }
    BlobStream(const BlobStream&) = delete;
    BlobStream& operator=(const BlobStream&) = delete;

    size_t read(void* buf, size_t size) {
        for (;;) {
            if (cancelled_) throw make_error(ErrorKind::system, "pull cancelled");
            if (offset_ < pending_.size()) {
                size_t n = std::min(size, pending_.size() - offset_);
                std::memcpy(buf, pending_.data() + offset_, n);
                offset_ += n;
                return n;
            }
            pending_.clear();
            offset_ = 0;
            if (done_) return 0;
            int running = 0;
            if (curl_multi_perform(multi_, &running) != CURLM_OK)
                throw make_error(ErrorKind::system, "curl: multi perform failed");
            if (running == 0) {
                finish();
            } else if (pending_.empty()) {
                curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
            }
        }
    }

  private:
    void finish() {
        done_ = true;
        int left = 0;
        CURLcode code = CURLE_OK;
        while (CURLMsg* m = curl_multi_info_read(multi_, &left))
            if (m->msg == CURLMSG_DONE) code = m->data.result;
        if (too_long_)
            throw make_error(ErrorKind::invalid,
                             "layer " + layer_.digest + ": the registry sent more than the " +
                                 std::to_string(layer_.size) + " bytes the manifest says");
        if (status_ != 200) {
            throw make_error(status_ == 404 ? ErrorKind::not_found : ErrorKind::system,
                             "registry " + client_.domain() + ": layer " + layer_.digest +
                                 ": HTTP " + std::to_string(status_) + " " +
                                 error_body_.substr(0, 300));
        }
        if (code != CURLE_OK)
            throw make_error(ErrorKind::system, "layer " + layer_.digest + ": " +
                                                    client_.describe(code, error_buffer_));
    }

    static size_t write_callback(char* data, size_t size, size_t count, void* self) {
        auto* s = static_cast<BlobStream*>(self);
        size_t n = size * count;
        if (s->status_ == 0)
            curl_easy_getinfo(s->easy_.handle, CURLINFO_RESPONSE_CODE, &s->status_);
        if (s->status_ != 200) {
            if (s->error_body_.size() < kMaxErrorBody) s->error_body_.append(data, n);
            return n;
        }
        s->received_ += n;
        if (s->layer_.size > 0 && s->received_ > static_cast<uint64_t>(s->layer_.size)) {
            s->too_long_ = true;
            return 0;
        }
        s->pending_.append(data, n);
        if (s->on_bytes_) s->on_bytes_(s->received_);
        return n;
    }

    RegistryClient& client_;
    Descriptor layer_;
    std::function<void(uint64_t)> on_bytes_;
    const std::atomic<bool>& cancelled_;
    Easy easy_;
    HeaderList headers_;
    CURLM* multi_ = nullptr;
    char error_buffer_[CURL_ERROR_SIZE] = {};
    std::string pending_, error_body_;
    size_t offset_ = 0;
    uint64_t received_ = 0;
    long status_ = 0;
    bool done_ = false, too_long_ = false;
};

Response get_manifest(RegistryClient& client, const std::string& reference) {
    Response r = client.get(client.manifest_url(reference), {kManifestAccept}, kMaxManifestBytes);
    // Refused credentials are their own error; without any, an unknown repository is often
    // a 401 too (Docker Hub's), so that stays "not found", saying why it may be.
    if (r.status == 401 && client.has_credentials())
        throw Error(ErrorKind::invalid, EACCES, client.unauthorized("manifest " + reference));
    if (r.status == 401)
        throw make_error(ErrorKind::not_found,
                         client.unauthorized("no manifest " + reference) +
                             "; the image may not exist or may need credentials");
    if (r.status == 404)
        throw make_error(ErrorKind::not_found, "registry " + client.domain() + ": no manifest " +
                                                   reference + " (HTTP " +
                                                   std::to_string(r.status) + ")");
    if (r.status != 200)
        throw make_error(ErrorKind::system, "registry " + client.domain() + ": manifest " +
                                                reference + ": HTTP " + std::to_string(r.status));
    return r;
}

std::string media_type_of(const Response& r) {
    std::string type = detect_media_type(r.body);
    return type.empty() ? r.content_type : type;
}

void check_digest(const std::string& body, const std::string& digest, const std::string& what) {
    std::string actual = sha256_digest(body);
    if (actual != digest)
        throw make_error(ErrorKind::invalid,
                         what + ": content has digest " + actual + ", not " + digest + ", refused");
}

// Pulls of one manifest into one store, one at a time: the second finds the config and the
// layers the first stored and downloads nothing again. (Different images that share a
// layer still download it once: ImageStore::ensure_layer.)
class PullLock {
  public:
    PullLock(const std::string& store_root, const std::string& manifest_digest)
        : key_(store_root + "\n" + manifest_digest) {
        std::unique_lock lock(mutex());
        auto& entry = held()[key_];
        if (!entry) entry = std::make_shared<std::mutex>();
        one_ = entry;
        lock.unlock();
        one_->lock();
    }
    ~PullLock() {
        one_->unlock();
        std::lock_guard lock(mutex());
        // Ours and the map's: nobody else waits, the entry can go.
        if (one_.use_count() == 2) held().erase(key_);
    }
    PullLock(const PullLock&) = delete;
    PullLock& operator=(const PullLock&) = delete;

  private:
    static std::mutex& mutex() {
        static std::mutex m;
        return m;
    }
    static std::map<std::string, std::shared_ptr<std::mutex>>& held() {
        static std::map<std::string, std::shared_ptr<std::mutex>> map;
        return map;
    }
    std::string key_;
    std::shared_ptr<std::mutex> one_;
};

}  // namespace

bool is_plain_http_registry(const std::string& domain, const std::vector<std::string>& insecure) {
    if (std::find(insecure.begin(), insecure.end(), domain) != insecure.end()) return true;
    std::string host = domain;
    if (!host.empty() && host[0] == '[') {
        host = host.substr(1, host.find(']') - 1);
        return host == "::1";
    }
    host = host.substr(0, host.find(':'));
    if (host == "localhost") return true;
    in_addr addr{};
    return inet_pton(AF_INET, host.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

void check_login(const std::string& registry, const std::string& username,
                 const std::string& password, const PullOptions& options) {
    ImageRef ref;
    ref.domain = registry;
    RegistryClient client(ref, options);
    client.use_credentials(username + ":" + password);
    Response r = client.get(client.root_url(), {}, kMaxErrorBody);
    if (r.status == 401)
        throw Error(ErrorKind::invalid, EACCES,
                    "registry " + registry + ": login as \"" + username +
                        "\" refused (HTTP 401 Unauthorized)");
    if (r.status != 200)
        throw make_error(ErrorKind::invalid, "registry " + registry + ": GET /v2/ said HTTP " +
                                                 std::to_string(r.status) +
                                                 " (is it an OCI registry?)");
}

namespace {

std::mutex auth_file_mutex;  // one rewrite of the auth file at a time

json read_auth_file(const std::string& auth_file) {
    if (access(auth_file.c_str(), F_OK) != 0) return json::object();
    json doc = json::parse(read_whole_file(auth_file), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object())
        throw make_error(ErrorKind::invalid, "auth file " + auth_file + " is not a JSON object");
    return doc;
}

std::string base64_encode(const std::string& in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

}  // namespace

void store_credentials(const std::string& auth_file, const std::string& registry,
                       const std::string& username, const std::string& password) {
    std::lock_guard lock(auth_file_mutex);
    json doc = read_auth_file(auth_file);
    if (!doc.contains("auths") || !doc["auths"].is_object()) doc["auths"] = json::object();
    // Other spellings of the same registry would shadow or outlive this entry.
    for (const auto& key : {"https://" + registry, "http://" + registry}) doc["auths"].erase(key);
    doc["auths"][registry] = {{"auth", base64_encode(username + ":" + password)}};
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(auth_file).parent_path(), ec);
    write_file_replace(auth_file, doc.dump(2) + "\n", 0600);
}

bool remove_credentials(const std::string& auth_file, const std::string& registry) {
    std::lock_guard lock(auth_file_mutex);
    json doc = read_auth_file(auth_file);
    if (!doc.contains("auths") || !doc["auths"].is_object()) return false;
    size_t erased = 0;
    for (const auto& key : {registry, "https://" + registry, "http://" + registry})
        erased += doc["auths"].erase(key);
    if (erased == 0) return false;
    write_file_replace(auth_file, doc.dump(2) + "\n", 0600);
    return true;
}

StoredImage pull_image(ImageStore& store, const std::string& ref_text, const PullOptions& options,
                       const PullProgressFn& progress) {
    ImageRef ref = parse_reference(ref_text, "ref");
    RegistryClient client(ref, options);
    std::mutex progress_mutex;
    auto report = [&](const PullProgress& p) {
        if (!progress) return;
        std::lock_guard lock(progress_mutex);
        progress(p);
    };

    // The manifest: by digest when the reference has one (and then checked against it).
    std::string reference = ref.digest.empty() ? ref.tag : ref.digest;
    Response top = get_manifest(client, reference);
    if (!ref.digest.empty()) check_digest(top.body, ref.digest, "manifest " + ref.digest);
    std::string manifest_text = top.body;
    std::string manifest_digest = sha256_digest(top.body);
    std::string type = media_type_of(top);
    if (is_index(type)) {
        Descriptor chosen = pick_platform(parse_index(top.body), options.platform);
        Response m = get_manifest(client, chosen.digest);
        check_digest(m.body, chosen.digest, "manifest " + chosen.digest);
        manifest_text = m.body;
        manifest_digest = chosen.digest;
        type = media_type_of(m);
    }
    if (!is_manifest(type))
        throw make_error(ErrorKind::unsupported,
                         "registry " + ref.domain + ": manifest media type \"" + type +
                             "\" is not one truman pulls (OCI, Docker schema 2)");
    Manifest manifest = parse_manifest(manifest_text);
    PullLock one_at_a_time(store.root(), manifest_digest);

    Response config;
    if (store.has_blob(manifest.config.digest)) {
        config.status = 200;
        config.body = store.read_blob(manifest.config.digest);
    } else {
        config = client.get(client.blob_url(manifest.config.digest), {}, kMaxConfigBytes);
    }
    if (config.status != 200)
        throw make_error(ErrorKind::system, "registry " + ref.domain + ": config " +
                                                manifest.config.digest + ": HTTP " +
                                                std::to_string(config.status));
    check_digest(config.body, manifest.config.digest, "config " + manifest.config.digest);
    ImageConfig image_config = parse_image_config(config.body);
    if (image_config.diff_ids.size() != manifest.layers.size())
        throw make_error(ErrorKind::invalid,
                         "image " + ref.str() + ": the config has " +
                             std::to_string(image_config.diff_ids.size()) + " diff_ids for " +
                             std::to_string(manifest.layers.size()) + " layers");

    // The layers, parallel_layers at a time; the first error stops the others.
    for (const auto& layer : manifest.layers)
        report({layer.digest, "waiting", 0, static_cast<uint64_t>(layer.size)});
    std::atomic<size_t> next{0};
    std::atomic<bool> cancelled{false};
    std::exception_ptr first_error;
    std::mutex error_mutex;
    auto worker = [&] {
        for (size_t i; (i = next++) < manifest.layers.size() && !cancelled;) {
            const Descriptor& layer = manifest.layers[i];
            const std::string& diff_id = image_config.diff_ids[i];
            auto total = static_cast<uint64_t>(layer.size);
            try {
                uint64_t reported = 0;
                auto open = [&] {
                    auto stream = std::make_shared<BlobStream>(
                        client, layer,
                        [&](uint64_t done) {
                            if (done - reported < kProgressStep && done != total) return;
                            reported = done;
                            report({layer.digest, "downloading", done, total});
                        },
                        cancelled);
                    return ByteSource(
                        [stream](void* buf, size_t size) { return stream->read(buf, size); });
                };
                auto verified = [&] { report({layer.digest, "verified", total, total}); };
                bool fetched = false;
                if (!store.has_layer(diff_id)) {
                    store.ensure_layer(diff_id, layer.digest, open, verified);
                    fetched = true;
                }
                // The layer may have come from another image's blob (another compression,
                // or a pull that unpacked it while we waited): this image keeps its own.
                if (!store.has_blob(layer.digest)) {
                    store.ensure_blob(diff_id, layer.digest, open, verified);
                    fetched = true;
                }
                report({layer.digest, fetched ? "unpacked" : "exists", total, total});
            } catch (...) {
                std::lock_guard lock(error_mutex);
                if (!first_error) first_error = std::current_exception();
                cancelled = true;
            }
        }
    };
    std::vector<std::thread> threads;
    unsigned n = std::max(1u, std::min<unsigned>(options.parallel_layers,
                                                 static_cast<unsigned>(manifest.layers.size())));
    for (unsigned i = 0; i < n; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    if (first_error) std::rethrow_exception(first_error);

    // Only now, with every layer in, do the image's documents and its name appear.
    store.put_blob(manifest.config.digest, config.body);
    store.put_blob(manifest_digest, manifest_text);
    store.set_ref(ref, manifest_digest);
    spdlog::info("pulled {} ({})", ref.str(), manifest_digest);
    return load_image(store, manifest_digest);
}

}  // namespace truman::daemon::images
