#include "local_registry.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "test_support.hpp"
#include "truman/daemon/images/digest.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace truman::test {

int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(fd);
        throw std::runtime_error("free_port: bind failed");
    }
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

bool accepts(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
}

void sh(const std::string& command) {
    std::string out;
    int status = run_host(command, &out);
    ASSERT_EQ(status, 0) << command << "\n" << out;
}

RegistryOptions htpasswd_auth(const std::string& dir, const std::string& user,
                              const std::string& password) {
    RegistryOptions basic;
    basic.htpasswd = dir + "/htpasswd";
    std::string out;
    if (run_host("htpasswd -Bbn '" + user + "' '" + password + "' > " + basic.htpasswd, &out) != 0)
        throw std::runtime_error("htpasswd failed: " + out);
    return basic;
}

LocalRegistry::LocalRegistry(const std::string& dir, const RegistryOptions& options,
                             const std::string& storage)
    : dir_(dir),
      storage_(storage.empty() ? dir + "/storage" : storage),
      address_(options.address.empty() ? "127.0.0.1" : options.address),
      port_(options.netns.empty() ? free_port() : 5000) {
    fs::create_directories(dir);
    fs::create_directories(storage_);
    std::ofstream config(dir + "/config.yml");
    config << "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
           << "storage:\n  filesystem:\n    rootdirectory: " << storage_ << "\n"
           << "  delete:\n    enabled: true\n"
           << "http:\n  addr: " << address_ << ":" << port_ << "\n";
    if (!options.tls_cert.empty())
        config << "  tls:\n    certificate: " << options.tls_cert
               << "\n    key: " << options.tls_key << "\n";
    if (!options.htpasswd.empty())
        config << "auth:\n  htpasswd:\n    realm: truman-test\n    path: " << options.htpasswd
               << "\n";
    if (!options.token_realm.empty())
        config << "auth:\n  token:\n    realm: " << options.token_realm
               << "\n    service: " << options.token_service
               << "\n    issuer: " << options.token_issuer
               << "\n    rootcertbundle: " << options.token_cert_bundle << "\n";
    config.close();
    int netns_fd = -1;
    if (!options.netns.empty()) {
        netns_fd = open(options.netns.c_str(), O_RDONLY | O_CLOEXEC);
        if (netns_fd < 0) throw std::runtime_error("open " + options.netns);
    }
    pid_ = fork();
    if (pid_ == 0) {
        if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0) _exit(126);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl("/usr/bin/docker-registry", "docker-registry", "serve", (dir + "/config.yml").c_str(),
              nullptr);
        _exit(127);
    }
    if (netns_fd >= 0) close(netns_fd);
    auto up = [&] {
        for (int i = 0; i < 500; ++i) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_port = htons(static_cast<uint16_t>(port_));
            inet_pton(AF_INET, address_.c_str(), &addr.sin_addr);
            bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
            close(fd);
            if (ok) return;
            std::this_thread::sleep_for(20ms);
        }
    };
    if (options.netns.empty())
        up();
    else
        in_netns(options.netns, up);
}

void in_netns(const std::string& netns_path, const std::function<void()>& fn) {
    std::exception_ptr error;
    std::thread thread([&] {
        try {
            int fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
                throw std::runtime_error("setns " + netns_path + " failed");
            close(fd);
            fn();
        } catch (...) {
            error = std::current_exception();
        }
    });
    thread.join();
    if (error) std::rethrow_exception(error);
}

LocalRegistry::~LocalRegistry() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
    }
}

void LocalRegistry::kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

std::string LocalRegistry::blob_path(const std::string& digest) const {
    std::string hex = daemon::images::digest_hex(digest);
    return storage_ + "/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
}

void make_certificate(const std::string& dir, const std::string& name, const std::string& ip) {
    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + ip +
       " -addext subjectAltName=IP:" + ip + " -keyout " + dir + "/" + name + ".key -out " + dir +
       "/" + name + ".crt 2>&1");
}

namespace {

// A listening socket on 127.0.0.1:<free port> of the calling thread's network namespace.
int listen_on_loopback(int* port, const std::string& who) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
        listen(fd, 16) < 0) {
        if (fd >= 0) close(fd);
        throw std::runtime_error(who + ": bind/listen failed");
    }
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    *port = ntohs(addr.sin_port);
    return fd;
}

}  // namespace

TinyHttpServer::TinyHttpServer(std::function<std::string(const HttpRequestSeen&)> handle,
                               const std::string& tls_cert, const std::string& tls_key)
    : handle_(std::move(handle)) {
    if (!tls_cert.empty()) {
        SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, tls_cert.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, tls_key.c_str(), SSL_FILETYPE_PEM) != 1) {
            SSL_CTX_free(ctx);
            throw std::runtime_error("TinyHttpServer: cannot use " + tls_cert);
        }
        tls_ = ctx;
    }
    listener_ = listen_on_loopback(&port_, "TinyHttpServer");
    thread_ = std::thread([this] { serve(); });
}

TinyHttpServer::~TinyHttpServer() {
    stopping_ = true;
    thread_.join();
    close(listener_);
    SSL_CTX_free(static_cast<SSL_CTX*>(tls_));
}

void TinyHttpServer::serve() {
    while (!stopping_) {
        pollfd p{listener_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        // A client that stalls (or never finishes a handshake) does not hold the server.
        timeval timeout{5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        SSL* ssl = nullptr;
        if (tls_) {
            ssl = SSL_new(static_cast<SSL_CTX*>(tls_));
            SSL_set_fd(ssl, fd);
            if (SSL_accept(ssl) != 1) {
                SSL_free(ssl);
                close(fd);
                continue;
            }
        }
        auto receive = [&](char* into, size_t size) -> ssize_t {
            return ssl ? SSL_read(ssl, into, static_cast<int>(size)) : read(fd, into, size);
        };
        auto send = [&](const char* from, size_t size) -> ssize_t {
            return ssl ? SSL_write(ssl, from, static_cast<int>(size)) : write(fd, from, size);
        };
        std::string head;
        char buf[4096];
        while (head.find("\r\n\r\n") == std::string::npos) {
            ssize_t n = receive(buf, sizeof buf);
            if (n <= 0) break;
            head.append(buf, static_cast<size_t>(n));
        }
        HttpRequestSeen seen;
        size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
        if (sp1 != std::string::npos && sp2 != std::string::npos) {
            seen.method = head.substr(0, sp1);
            seen.target = head.substr(sp1 + 1, sp2 - sp1 - 1);
        }
        for (size_t at = head.find("\r\n"); at != std::string::npos;) {
            size_t end = head.find("\r\n", at + 2);
            if (end == std::string::npos) break;
            std::string line = head.substr(at + 2, end - at - 2);
            std::string lower_line = line;
            for (char& c : lower_line) c = static_cast<char>(std::tolower(c));
            if (lower_line.rfind("authorization:", 0) == 0) {
                seen.authorization = line.substr(14);
                seen.authorization.erase(0, seen.authorization.find_first_not_of(' '));
            }
            at = end;
        }
        std::string answer = handle_(seen);
        for (size_t sent = 0; sent < answer.size();) {
            ssize_t n = send(answer.data() + sent, answer.size() - sent);
            if (n <= 0) break;
            sent += static_cast<size_t>(n);
        }
        if (ssl) {
            SSL_shutdown(ssl);
            SSL_free(ssl);
        }
        close(fd);
    }
}

namespace {

std::string base64(const std::string& in, bool url) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    if (url) {
        while (!out.empty() && out.back() == '=') out.pop_back();
        for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    return out;
}

}  // namespace

std::string make_registry_token(const std::string& key_file, const std::string& cert_file,
                                const std::string& issuer, const std::string& service,
                                const std::string& scope) {
    std::unique_ptr<FILE, int (*)(FILE*)> kf(fopen(key_file.c_str(), "re"), fclose);
    std::unique_ptr<FILE, int (*)(FILE*)> cf(fopen(cert_file.c_str(), "re"), fclose);
    if (!kf || !cf) throw std::runtime_error("token: cannot open the key or certificate");
    std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(
        PEM_read_PrivateKey(kf.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
    std::unique_ptr<X509, void (*)(X509*)> cert(PEM_read_X509(cf.get(), nullptr, nullptr, nullptr),
                                                X509_free);
    if (!key || !cert) throw std::runtime_error("token: bad key or certificate");
    unsigned char* der = nullptr;
    int der_len = i2d_X509(cert.get(), &der);
    std::string der_text(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
    OPENSSL_free(der);

    // "repository:test/app:pull,push" -> the repository's name.
    std::string name;
    if (size_t first = scope.find(':'), last = scope.rfind(':');
        first != std::string::npos && last > first)
        name = scope.substr(first + 1, last - first - 1);
    long now = static_cast<long>(time(nullptr));
    nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"x5c", {base64(der_text, false)}}};
    nlohmann::json claims = {{"iss", issuer},
                             {"sub", "tester"},
                             {"aud", service},
                             {"exp", now + 3600},
                             {"nbf", now - 60},
                             {"iat", now},
                             {"jti", std::to_string(now) + "-" + std::to_string(getpid())},
                             {"access", nlohmann::json::array()}};
    if (!name.empty())
        claims["access"].push_back(
            {{"type", "repository"}, {"name", name}, {"actions", {"pull", "push"}}});
    std::string signing_input = base64(header.dump(), true) + "." + base64(claims.dump(), true);

    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    size_t sig_len = 0;
    if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &sig_len,
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) != 1)
        throw std::runtime_error("token: signing failed");
    std::string sig(sig_len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) != 1)
        throw std::runtime_error("token: signing failed");
    sig.resize(sig_len);
    return signing_input + "." + base64(sig, true);
}

}  // namespace truman::test

namespace truman::test {

RegistryProxy::RegistryProxy(int upstream, size_t bytes_per_second)
    : upstream_(upstream), rate_(bytes_per_second) {
    listener_ = listen_on_loopback(&port_, "RegistryProxy");
    acceptor_ = std::thread([this] { serve(); });
}

RegistryProxy::~RegistryProxy() {
    stopping_ = true;
    acceptor_.join();
    for (auto& t : threads_) t.join();
    close(listener_);
}

void RegistryProxy::cut() {
    cut_ = true;
}

std::map<std::string, int> RegistryProxy::requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
}

void RegistryProxy::serve() {
    while (!stopping_) {
        pollfd p{listener_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        if (cut_) {
            close(fd);
            continue;
        }
        threads_.emplace_back([this, fd] { relay(fd); });
    }
}

void RegistryProxy::relay(int client) {
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(upstream_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        close(server);
        close(client);
        return;
    }
    auto write_all = [](int fd, const char* data, size_t size) {
        while (size > 0) {
            ssize_t n = write(fd, data, size);
            if (n <= 0) return false;
            data += n;
            size -= static_cast<size_t>(n);
        }
        return true;
    };
    char buf[16384];
    bool open = true;
    while (open && !stopping_ && !cut_) {
        pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
        if (poll(fds, 2, 50) <= 0) continue;
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(client, buf, sizeof buf);
            if (n <= 0) break;
            std::string text(buf, static_cast<size_t>(n));
            {
                std::lock_guard lock(mutex_);
                for (const char* method : {"GET ", "HEAD "})
                    for (size_t at = text.find(method); at != std::string::npos;
                         at = text.find(method, at + 1)) {
                        size_t end = text.find(" HTTP/", at);
                        if (end != std::string::npos) ++requests_[text.substr(at, end - at)];
                    }
            }
            open = write_all(server, buf, static_cast<size_t>(n));
        }
        if (open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            size_t rate = rate_;
            // Slowed: small pieces, each followed by the time it takes at that rate.
            size_t chunk =
                rate ? std::min(sizeof buf, std::max<size_t>(rate / 20, 512)) : sizeof buf;
            ssize_t n = read(server, buf, chunk);
            if (n <= 0) break;
            open = write_all(client, buf, static_cast<size_t>(n));
            if (rate)
                std::this_thread::sleep_for(std::chrono::microseconds(
                    static_cast<long long>(n) * 1000000 / static_cast<long long>(rate)));
        }
    }
    close(server);
    close(client);
}

}  // namespace truman::test
