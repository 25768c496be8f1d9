// A private docker-registry (Debian's CNCF distribution registry, v2.8) for the image tests:
// on 127.0.0.1:<free port>, its storage in a directory of the test's, anonymous or behind
// htpasswd basic auth, its own bearer-token auth (the JWTs of TokenIssuer), or TLS. The
// storage outlives the process: push to an anonymous registry, then serve the same storage
// with auth or TLS to pull.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace truman::test {

struct RegistryOptions {
    std::string htpasswd;  // a file: basic auth
    // Bearer tokens: the registry sends clients to token_realm and trusts JWTs from
    // token_issuer signed by a key of token_cert_bundle's certificates.
    std::string token_realm, token_service, token_issuer, token_cert_bundle;
    std::string tls_cert, tls_key;  // PEM files: HTTPS
    // Listen on address:5000 inside this network namespace (a /run/netns path) instead of
    // 127.0.0.1:<free port> in the test's; the test then talks to it from in_netns().
    std::string netns, address;
};

// htpasswd basic auth with one user: writes dir/htpasswd (bcrypt, as the registry requires)
// and returns the options that make a registry ask for it.
RegistryOptions htpasswd_auth(const std::string& dir, const std::string& user,
                              const std::string& password);

// Runs fn on a thread of its own that joined the network namespace netns_path (threads it
// starts are in it too); rethrows what fn throws.
void in_netns(const std::string& netns_path, const std::function<void()>& fn);

class LocalRegistry {
  public:
    // storage is dir + "/storage" unless given.
    explicit LocalRegistry(const std::string& dir, const RegistryOptions& options = {},
                           const std::string& storage = "");
    ~LocalRegistry();
    LocalRegistry(const LocalRegistry&) = delete;
    LocalRegistry& operator=(const LocalRegistry&) = delete;

    std::string host() const { return address_ + ":" + std::to_string(port_); }
    int port() const { return port_; }
    const std::string& storage() const { return storage_; }
    // Where the registry keeps the blob with this digest.
    std::string blob_path(const std::string& digest) const;
    // SIGKILL, as a registry that dies; the destructor then has nothing to do.
    void kill_now();

  private:
    std::string dir_, storage_, address_;
    int port_;
    pid_t pid_ = -1;
};

// A port on 127.0.0.1 nobody listens on (yet).
int free_port();
// True once something accepts connections on 127.0.0.1:port.
bool accepts(int port);
// Runs command on the host; a test failure naming its output unless it exits 0.
void sh(const std::string& command);

// A self-signed certificate and its key (PEM, RSA 2048), made with openssl, for the address
// ip (as a subjectAltName); paths dir/<name>.crt and dir/<name>.key.
void make_certificate(const std::string& dir, const std::string& name,
                      const std::string& ip = "127.0.0.1");

// A minimal HTTP/1.1 server on 127.0.0.1:<free port> (of the network namespace of the thread
// that makes it) in a thread of the test: each request's method, target and headers go to
// handle, whose answer (a whole response, status line first) is sent back before the
// connection closes. HTTPS when given a certificate and its key (PEM files); a client that
// refuses the certificate just ends its connection.
struct HttpRequestSeen {
    std::string method, target, authorization;
};
class TinyHttpServer {
  public:
    explicit TinyHttpServer(std::function<std::string(const HttpRequestSeen&)> handle,
                            const std::string& tls_cert = "", const std::string& tls_key = "");
    ~TinyHttpServer();
    TinyHttpServer(const TinyHttpServer&) = delete;
    TinyHttpServer& operator=(const TinyHttpServer&) = delete;
    int port() const { return port_; }

  private:
    void serve();
    std::function<std::string(const HttpRequestSeen&)> handle_;
    void* tls_ = nullptr;  // SSL_CTX*, nullptr for plain HTTP
    int listener_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

// The registry's bearer tokens: a JWT (RS256, x5c header with the certificate) granting
// pull and push on every repository, signed with dir/<name>.key and issued by issuer.
std::string make_registry_token(const std::string& key_file, const std::string& cert_file,
                                const std::string& issuer, const std::string& service,
                                const std::string& scope);

// A TCP proxy on 127.0.0.1:<free port> in front of a registry on 127.0.0.1:upstream: it
// counts the requests that pass ("GET /v2/test/app/blobs/sha256:..."), can slow the
// answers down to bytes_per_second, and cut() drops every connection and refuses new ones,
// as a registry that dies does.
class RegistryProxy {
  public:
    RegistryProxy(int upstream, size_t bytes_per_second = 0);
    ~RegistryProxy();
    RegistryProxy(const RegistryProxy&) = delete;
    RegistryProxy& operator=(const RegistryProxy&) = delete;

    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    void set_rate(size_t bytes_per_second) { rate_ = bytes_per_second; }
    void cut();
    // How often each request line (method and target) was seen.
    std::map<std::string, int> requests() const;

  private:
    void serve();
    void relay(int client);
    int upstream_;
    int listener_ = -1;
    int port_ = 0;
    std::atomic<size_t> rate_;
    std::atomic<bool> stopping_{false}, cut_{false};
    mutable std::mutex mutex_;
    std::map<std::string, int> requests_;
    std::vector<std::thread> threads_;
    std::thread acceptor_;
};

}  // namespace truman::test
