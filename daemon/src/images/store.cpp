#include "truman/daemon/images/store.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/images/digest.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace truman::daemon::images {

namespace {

std::string random_short_name() {
    static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char bytes[kShortNameLength];
    if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes))
        throw system_error("getrandom");
    std::string name;
    for (unsigned char b : bytes) name += alphabet[b & 31];
    return name;
}

// One download of a layer or a blob at a time: a second pull of it waits for the first one
// (on the store's condition variable) and then finds the result in the store. Made with the
// store's mutex held; gives the key up when the download is over, done or failed.
class InFlight {
  public:
    InFlight(std::mutex& mutex, std::condition_variable& done, std::set<std::string>& keys,
             const std::string& key)
        : mutex_(mutex), done_(done), keys_(keys), key_(key) {
        keys_.insert(key_);
    }
    ~InFlight() {
        {
            std::lock_guard lock(mutex_);
            keys_.erase(key_);
        }
        done_.notify_all();
    }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

  private:
    std::mutex& mutex_;
    std::condition_variable& done_;
    std::set<std::string>& keys_;
    const std::string& key_;
};

// The compressed bytes go to `path` (open as `fd`) as they pass on their way to the reader.
ByteSource tee_into(ByteSource& source, int fd, const std::string& path) {
    return [&source, fd, &path](void* buf, size_t size) {
        size_t n = source(buf, size);
        write_all(fd, {static_cast<const char*>(buf), n}, path);
        return n;
    };
}

// Runs `read` over a layer blob and checks both of its digests. The diffID check is what keeps
// one image from planting content under another's layer (a diffID is only ever the digest of
// what is under it), and an export from sending bytes that are not the layer the config names.
template <typename Read>
UnpackedLayer read_verified(const std::string& blob_digest, const std::string& diff_id,
                            Read&& read) {
    UnpackedLayer got;
    try {
        got = read();
    } catch (const Error& e) {
        throw Error(e.kind(), e.err(), "layer blob " + blob_digest + ": " + e.what());
    }
    if (got.compressed_digest != blob_digest)
        throw make_error(ErrorKind::invalid, "layer blob " + blob_digest + ": content has digest " +
                                                 got.compressed_digest + ", refused");
    if (got.diff_id != diff_id)
        throw make_error(ErrorKind::invalid,
                         "layer blob " + blob_digest + ": uncompressed digest " + got.diff_id +
                             " is not the config's diff_id " + diff_id + ", refused");
    return got;
}

}  // namespace

StoreTempDir::~StoreTempDir() {
    if (path.empty()) return;
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) spdlog::error("image store: remove {}: {}", path, ec.message());
}

ImageStore::ImageStore(std::string root) : root_(std::move(root)) {
    for (const auto& dir :
         {root_, root_ + "/blobs/sha256", root_ + "/layers", links_dir(), root_ + "/tmp"}) {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) throw make_error(ErrorKind::system, "create " + dir, ec.value());
    }
    if (chmod(root_.c_str(), 0700) < 0) throw system_error("chmod " + root_);
    clean_up();
}

void ImageStore::clean_up() {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root_ + "/tmp", ec)) {
        spdlog::info("image store: removing {}, left by an interrupted pull",
                     entry.path().string());
        fs::remove_all(entry.path(), ec);
    }
    // A short link is made before its layer is renamed into place: one without a layer is
    // what a crash between the two left.
    for (const auto& entry : fs::directory_iterator(links_dir(), ec)) {
        if (!fs::exists(entry.path(), ec)) fs::remove(entry.path(), ec);
    }
    for (const auto& entry : fs::directory_iterator(root_ + "/blobs/sha256", ec))
        if (is_atomic_temp_name(entry.path().filename().string())) fs::remove(entry.path(), ec);
}

std::string ImageStore::blob_path(const std::string& digest) const {
    return root_ + "/blobs/sha256/" + digest_hex(digest);
}

bool ImageStore::has_blob(const std::string& digest) const {
    return access(blob_path(digest).c_str(), F_OK) == 0;
}

std::string ImageStore::put_blob(std::string_view content) {
    std::string digest = sha256_digest(content);
    if (!has_blob(digest)) write_file_atomic(blob_path(digest), content, 0644);
    return digest;
}

void ImageStore::put_blob(const std::string& digest, std::string_view content) {
    validate_digest(digest, "digest");
    std::string actual = sha256_digest(content);
    if (actual != digest)
        throw make_error(ErrorKind::invalid,
                         "blob " + digest + ": content has digest " + actual + ", refused");
    if (!has_blob(digest)) write_file_atomic(blob_path(digest), content, 0644);
}

void ImageStore::adopt_blob(const std::string& digest, const std::string& path) {
    validate_digest(digest, "digest");
    if (has_blob(digest)) return;
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || fsync(fd.get()) < 0) throw system_error("fsync " + path);
    if (rename(path.c_str(), blob_path(digest).c_str()) < 0)
        throw system_error("rename " + path + " to " + blob_path(digest));
}

std::string ImageStore::read_blob(const std::string& digest) const {
    return read_whole_file(blob_path(digest));
}

std::string ImageStore::layer_dir(const std::string& diff_id) const {
    return root_ + "/layers/" + digest_hex(diff_id) + "/diff";
}

bool ImageStore::has_layer(const std::string& diff_id) const {
    return access((root_ + "/layers/" + digest_hex(diff_id) + "/link").c_str(), F_OK) == 0;
}

std::string ImageStore::layer_link(const std::string& diff_id) const {
    std::string link = read_whole_file(root_ + "/layers/" + digest_hex(diff_id) + "/link");
    while (!link.empty() && link.back() == '\n') link.pop_back();
    if (link.size() != kShortNameLength)
        throw make_error(ErrorKind::system, "layer " + diff_id + ": broken link file");
    return link;
}

StoreTempDir ImageStore::make_temp_dir(const std::string& what) const {
    std::string temp = root_ + "/tmp/" + what + "-XXXXXX";
    if (!mkdtemp(temp.data())) throw system_error("mkdtemp " + temp);
    return StoreTempDir(std::move(temp));
}

std::string ImageStore::ensure_layer(const std::string& diff_id, const std::string& blob_digest,
                                     const std::function<ByteSource()>& open,
                                     const std::function<void()>& on_verified) {
    validate_digest(diff_id, "diff_id");
    validate_digest(blob_digest, "digest");
    std::optional<InFlight> claim;
    {
        std::unique_lock lock(mutex_);
        layer_done_.wait(lock, [&] { return in_flight_.count(diff_id) == 0; });
        if (has_layer(diff_id)) return layer_link(diff_id);
        claim.emplace(mutex_, layer_done_, in_flight_, diff_id);
    }

    StoreTempDir temp = make_temp_dir("layer");
    std::string diff = temp.path + "/diff";
    if (mkdir(diff.c_str(), 0755) < 0) throw system_error("mkdir " + diff);
    Fd diff_fd(::open(diff.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!diff_fd) throw system_error("open " + diff);
    std::string blob_temp = temp.path + "/blob";
    Fd blob_fd(::open(blob_temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!blob_fd) throw system_error("create " + blob_temp);

    ByteSource source = open();
    ByteSource tee = tee_into(source, blob_fd.get(), blob_temp);
    UnpackedLayer unpacked =
        read_verified(blob_digest, diff_id, [&] { return unpack_layer(tee, diff_fd.get()); });
    if (on_verified) on_verified();
    // On disk before it is visible: a pull that returned survives a crash.
    if (fsync(blob_fd.get()) < 0) throw system_error("fsync " + blob_temp);
    if (syncfs(diff_fd.get()) < 0) throw system_error("syncfs " + diff);

    std::string hex = digest_hex(diff_id);
    std::string short_name;
    for (int attempt = 0;; ++attempt) {
        short_name = random_short_name();
        std::string link = links_dir() + "/" + short_name;
        if (symlink(("../layers/" + hex + "/diff").c_str(), link.c_str()) == 0) break;
        if (errno != EEXIST || attempt > 100) throw system_error("symlink " + link);
    }
    std::string link_file = temp.path + "/link";
    write_file_atomic(link_file, short_name + "\n", 0644);
    if (!has_blob(blob_digest) && rename(blob_temp.c_str(), blob_path(blob_digest).c_str()) < 0)
        throw system_error("rename " + blob_temp);
    unlink(blob_temp.c_str());
    std::string final_dir = root_ + "/layers/" + hex;
    if (rename(temp.path.c_str(), final_dir.c_str()) < 0) {
        int err = errno;
        unlink((links_dir() + "/" + short_name).c_str());
        throw system_error("rename " + temp.path + " to " + final_dir, err);
    }
    temp.path.clear();
    Fd layers(::open((root_ + "/layers").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!layers || fsync(layers.get()) < 0) throw system_error("fsync " + root_ + "/layers");
    spdlog::info("image store: layer {} unpacked ({} entries, {} bytes) as l/{}", diff_id,
                 unpacked.entries, unpacked.size, short_name);
    return short_name;
}

void ImageStore::ensure_blob(const std::string& diff_id, const std::string& blob_digest,
                             const std::function<ByteSource()>& open,
                             const std::function<void()>& on_verified) {
    validate_digest(diff_id, "diff_id");
    validate_digest(blob_digest, "digest");
    std::optional<InFlight> claim;
    {
        std::unique_lock lock(mutex_);
        layer_done_.wait(lock, [&] { return blobs_in_flight_.count(blob_digest) == 0; });
        if (has_blob(blob_digest)) return;
        claim.emplace(mutex_, layer_done_, blobs_in_flight_, blob_digest);
    }

    StoreTempDir temp = make_temp_dir("blob");
    std::string blob_temp = temp.path + "/blob";
    Fd blob_fd(::open(blob_temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!blob_fd) throw system_error("create " + blob_temp);
    ByteSource source = open();
    ByteSource tee = tee_into(source, blob_fd.get(), blob_temp);
    UnpackedLayer digests = read_verified(blob_digest, diff_id, [&] { return digest_layer(tee); });
    if (on_verified) on_verified();
    if (fsync(blob_fd.get()) < 0) throw system_error("fsync " + blob_temp);
    if (rename(blob_temp.c_str(), blob_path(blob_digest).c_str()) < 0)
        throw system_error("rename " + blob_temp + " to " + blob_path(blob_digest));
    Fd blobs(::open((root_ + "/blobs/sha256").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!blobs || fsync(blobs.get()) < 0) throw system_error("fsync " + root_ + "/blobs/sha256");
    spdlog::info("image store: blob {} of layer {} kept ({} bytes)", blob_digest, diff_id,
                 digests.compressed_size);
}

std::map<std::string, std::string> ImageStore::load_refs() const {
    std::string path = root_ + "/refs.json";
    if (access(path.c_str(), F_OK) != 0) return {};
    try {
        return json::parse(read_whole_file(path)).get<std::map<std::string, std::string>>();
    } catch (const json::exception& e) {
        throw make_error(ErrorKind::system, path + ": " + e.what());
    }
}

void ImageStore::save_refs(const std::map<std::string, std::string>& refs) const {
    write_file_atomic(root_ + "/refs.json", json(refs).dump(2) + "\n", 0600);
}

void ImageStore::set_ref(const ImageRef& ref, const std::string& manifest_digest) {
    validate_digest(manifest_digest, "manifest");
    std::lock_guard lock(mutex_);
    auto refs = load_refs();
    refs[ref.str()] = manifest_digest;
    save_refs(refs);
}

std::optional<std::string> ImageStore::find_ref(const ImageRef& ref) const {
    std::lock_guard lock(mutex_);
    auto refs = load_refs();
    auto it = refs.find(ref.str());
    if (it == refs.end()) return std::nullopt;
    return it->second;
}

std::map<std::string, std::string> ImageStore::refs() const {
    std::lock_guard lock(mutex_);
    return load_refs();
}

bool ImageStore::remove_ref(const ImageRef& ref) {
    std::lock_guard lock(mutex_);
    auto refs = load_refs();
    if (refs.erase(ref.str()) == 0) return false;
    save_refs(refs);
    return true;
}

}  // namespace truman::daemon::images
