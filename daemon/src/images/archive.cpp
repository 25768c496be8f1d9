#include "truman/daemon/images/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/images/digest.hpp"
#include "truman/daemon/images/reference.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

using json = nlohmann::json;

namespace truman::daemon::images {

namespace {

constexpr size_t kMaxDocumentBytes = size_t{4} << 20;  // index.json, manifest.json, manifests
constexpr size_t kMaxConfigBytes = size_t{16} << 20;
constexpr size_t kChunk = size_t{1} << 20;
constexpr int kMaxLinkHops = 16;
constexpr const char* kRefNameAnnotation = "org.opencontainers.image.ref.name";
constexpr const char* kFullNameAnnotation = "io.containerd.image.name";

size_t read_some(int fd, void* buf, size_t size, const std::string& what) {
    for (;;) {
        ssize_t n = ::read(fd, buf, size);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno != EINTR) throw system_error("read " + what);
    }
}

Error refused(const std::string& entry, const std::string& why) {
    return make_error(ErrorKind::invalid, "image archive entry \"" + entry + "\": " + why);
}

// A name's components, without the empty and "." ones: "./a//b/" -> {"a", "b"}.
std::vector<std::string> path_parts(const std::string& name) {
    std::vector<std::string> parts;
    for (size_t begin = 0; begin <= name.size();) {
        size_t end = std::min(name.find('/', begin), name.size());
        std::string part = name.substr(begin, end - begin);
        begin = end + 1;
        if (!part.empty() && part != ".") parts.push_back(std::move(part));
    }
    return parts;
}

std::string join_parts(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& part : parts) out += (out.empty() ? "" : "/") + part;
    return out;
}

// "./a//b/" -> "a/b"; refuses absolute names and "..": an archive's names are only ever
// keys into what it holds, but one that tries to leave is hostile and says so.
std::string normalise_name(const std::string& raw) {
    if (raw.empty()) throw refused(raw, "empty name");
    if (raw[0] == '/') throw refused(raw, "absolute name, refused");
    std::vector<std::string> parts = path_parts(raw);
    for (const auto& part : parts)
        if (part == "..") throw refused(raw, "\"..\" in the name, refused");
    return join_parts(parts);
}

// A symlink's target, relative to the link's directory, as an archive name; refused if it
// leads out of the archive.
std::string resolve_link(const std::string& name, const std::string& target) {
    if (target.empty() || target[0] == '/')
        throw refused(name, "symlink to \"" + target + "\" outside the archive, refused");
    std::vector<std::string> parts;
    size_t slash = name.rfind('/');
    std::string joined = (slash == std::string::npos ? "" : name.substr(0, slash + 1)) + target;
    for (auto& part : path_parts(joined)) {
        if (part == "..") {
            if (parts.empty())
                throw refused(name, "symlink to \"" + target + "\" outside the archive, refused");
            parts.pop_back();
            continue;
        }
        parts.push_back(std::move(part));
    }
    return join_parts(parts);
}

struct SpooledFile {
    std::string path;  // in the temp directory
    std::string digest;
    uint64_t size = 0;
};

// The archive's regular files, by name, on disk under flat names; its links as aliases.
class Spool {
  public:
    Spool(std::string dir, const ImportOptions& options)
        : dir_(std::move(dir)), options_(options) {}

    void read(const ByteSource& source) {
        struct Reader {
            const ByteSource& source;
            std::array<char, size_t{64} * 1024> buf{};
            std::string error;
        } reader{source, {}, {}};
        std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(),
                                                                 archive_read_free);
        if (!a) throw make_error(ErrorKind::system, "libarchive: out of memory");
        archive_read_support_filter_gzip(a.get());
        archive_read_support_filter_zstd(a.get());
        archive_read_support_format_tar(a.get());
        auto read_cb = [](archive*, void* self, const void** out) -> la_ssize_t {
            auto* r = static_cast<Reader*>(self);
            try {
                size_t n = r->source(r->buf.data(), r->buf.size());
                *out = r->buf.data();
                return static_cast<la_ssize_t>(n);
            } catch (const std::exception& e) {
                r->error = e.what();
                return -1;
            }
        };
        if (archive_read_open(a.get(), &reader, nullptr, read_cb, nullptr) != ARCHIVE_OK)
            throw broken(a.get(), reader.error);
        uint64_t entries = 0;
        for (;;) {
            archive_entry* entry = nullptr;
            int r = archive_read_next_header(a.get(), &entry);
            if (r == ARCHIVE_EOF) break;
            if (r < ARCHIVE_WARN) throw broken(a.get(), reader.error);
            if (++entries > options_.max_entries)
                throw make_error(ErrorKind::invalid, "image archive: more than " +
                                                         std::to_string(options_.max_entries) +
                                                         " entries, refused");
            const char* raw = archive_entry_pathname(entry);
            std::string name = normalise_name(raw ? raw : "");
            if (name.empty()) continue;  // "./"
            if (const char* hardlink = archive_entry_hardlink(entry)) {
                add_alias(name, normalise_name(hardlink));
                continue;
            }
            switch (archive_entry_filetype(entry)) {
                case AE_IFDIR:
                    continue;
                case AE_IFLNK: {
                    const char* target = archive_entry_symlink(entry);
                    add_alias(name, resolve_link(name, target ? target : ""));
                    continue;
                }
                case AE_IFREG:
                    spool_file(a.get(), name, reader.error);
                    continue;
                default:
                    throw refused(name, "not a file, directory or link, refused");
            }
        }
    }

    // The file name stands for, following links; nullptr if the archive has none.
    const SpooledFile* find(const std::string& name) const {
        std::string at = name;
        for (int hop = 0; hop <= kMaxLinkHops; ++hop) {
            if (auto it = files_.find(at); it != files_.end()) return &it->second;
            auto link = links_.find(at);
            if (link == links_.end()) return nullptr;
            at = link->second;
        }
        throw refused(name, "too many levels of links");
    }

    std::string read_document(const std::string& name, size_t max) const {
        const SpooledFile* f = find(name);
        if (!f) throw make_error(ErrorKind::invalid, "image archive: no " + name);
        if (f->size > max)
            throw refused(name, "larger than " + std::to_string(max) + " bytes, refused");
        return read_whole_file(f->path);
    }

    // Every blobs/sha256/<hex> must be what its name says: checked before anything is used.
    void verify_blob_names() const {
        for (const auto& [name, file] : files_) {
            if (name.rfind("blobs/", 0) != 0) continue;
            std::string digest = name.substr(6);
            size_t slash = digest.find('/');
            if (slash == std::string::npos) continue;
            digest[slash] = ':';
            if (!is_valid_digest(digest)) throw refused(name, "not a sha256 blob name, refused");
            if (file.digest != digest)
                throw refused(name, "content has digest " + file.digest + ", refused");
        }
    }

    bool has(const std::string& name) const { return find(name) != nullptr; }

  private:
    Error broken(archive* a, const std::string& source_error) const {
        if (!source_error.empty())
            return make_error(ErrorKind::system, "image archive: reading: " + source_error);
        const char* what = archive_error_string(a);
        return make_error(ErrorKind::invalid,
                          std::string("image archive: not a readable tar: ") + (what ?: "broken"));
    }

    void add_alias(const std::string& name, const std::string& target) {
        if (files_.count(name) || !links_.emplace(name, target).second)
            throw refused(name, "in the archive twice, refused");
    }

    void spool_file(archive* a, const std::string& name, const std::string& source_error) {
        if (files_.count(name) || links_.count(name))
            throw refused(name, "in the archive twice, refused");
        SpooledFile f;
        f.path = dir_ + "/" + std::to_string(files_.size());
        Fd fd(::open(f.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd) throw system_error("create " + f.path);
        Sha256 hash;
        std::array<char, size_t{64} * 1024> buf{};
        for (;;) {
            la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
            if (n < 0) throw broken(a, source_error);
            if (n == 0) break;
            auto size = static_cast<size_t>(n);
            total_ += size;
            if (total_ > options_.max_bytes)
                throw make_error(ErrorKind::invalid, "image archive: larger than " +
                                                         std::to_string(options_.max_bytes) +
                                                         " bytes, refused");
            hash.update(buf.data(), size);
            write_all(fd.get(), {buf.data(), size}, f.path);
            f.size += size;
        }
        f.digest = hash.digest();
        files_.emplace(name, std::move(f));
    }

    std::string dir_;
    const ImportOptions& options_;
    std::map<std::string, SpooledFile> files_;
    std::map<std::string, std::string> links_;
    uint64_t total_ = 0;
};

// One image found in the archive, checked, not yet in the store.
struct Candidate {
    std::vector<ImageRef> refs;
    std::string manifest_text, manifest_digest;
    Manifest manifest;
    std::string config_text;
    ImageConfig config;
    std::vector<const SpooledFile*> layer_files;
};

std::string hex_name(const std::string& digest) {
    return "blobs/sha256/" + digest_hex(digest);
}

// The layer's media type from its first bytes: docker save's layers are plain tars, but
// nothing stops an archive from holding compressed ones.
std::string layer_media_type(const SpooledFile& f) {
    Fd fd(::open(f.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw system_error("open " + f.path);
    unsigned char magic[4] = {};
    size_t n = read_some(fd.get(), magic, sizeof magic, f.path);
    if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return media::oci_layer_gzip;
    if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
        return media::oci_layer_zstd;
    return media::oci_layer;
}

void check_layers(Candidate& c, const std::string& what) {
    if (c.config.diff_ids.size() != c.manifest.layers.size())
        throw make_error(ErrorKind::invalid,
                         what + ": the config has " + std::to_string(c.config.diff_ids.size()) +
                             " diff_ids for " + std::to_string(c.manifest.layers.size()) +
                             " layers");
}

json parse_json(const std::string& text, const std::string& what) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        throw make_error(ErrorKind::invalid, "image archive: " + what + ": " + e.what());
    }
}

std::string string_member(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// OCI image layout: index.json names manifests (or per-platform indexes) by digest.
std::vector<Candidate> oci_candidates(const Spool& spool, const ImportOptions& options) {
    spool.verify_blob_names();
    auto blob = [&](const std::string& digest, size_t max) {
        if (!spool.has(hex_name(digest)))
            throw make_error(ErrorKind::invalid, "image archive: blob " + digest + " is missing");
        return spool.read_document(hex_name(digest), max);
    };
    json index = parse_json(spool.read_document("index.json", kMaxDocumentBytes), "index.json");
    if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array())
        throw make_error(ErrorKind::invalid, "image archive: index.json has no manifests");
    std::vector<Candidate> out;
    std::map<std::string, size_t> by_digest;
    for (const auto& entry : index["manifests"]) {
        if (!entry.is_object())
            throw make_error(ErrorKind::invalid,
                             "image archive: index.json: a manifest entry "
                             "is not an object");
        std::string digest = string_member(entry, "digest");
        validate_digest(digest, "index.json manifests[].digest");
        std::string name;
        if (auto a = entry.find("annotations"); a != entry.end() && a->is_object()) {
            name = string_member(*a, kFullNameAnnotation);
            // A bare ref.name is a tag without a repository (skopeo's oci:dir:tag): it names
            // nothing by itself. A full reference there does.
            std::string ref_name = string_member(*a, kRefNameAnnotation);
            if (name.empty() && ref_name.find('/') != std::string::npos) name = ref_name;
        }
        std::string text = blob(digest, kMaxDocumentBytes);
        std::string type = detect_media_type(text);
        if (type.empty()) type = string_member(entry, "mediaType");
        if (is_index(type)) {
            Descriptor chosen = pick_platform(parse_index(text), options.platform);
            digest = chosen.digest;
            text = blob(digest, kMaxDocumentBytes);
            type = detect_media_type(text);
        }
        if (!is_manifest(type)) {
            std::string message = "image archive: manifest ";
            message.append(digest).append(": media type \"").append(type);
            message += "\" is not one truman imports";
            throw make_error(ErrorKind::unsupported, message);
        }
        auto [it, fresh] = by_digest.emplace(digest, out.size());
        if (fresh) {
            Candidate c;
            c.manifest_digest = digest;
            c.manifest_text = std::move(text);
            c.manifest = parse_manifest(c.manifest_text);
            c.config_text = blob(c.manifest.config.digest, kMaxConfigBytes);
            c.config = parse_image_config(c.config_text);
            check_layers(c, "image " + digest);
            for (const auto& layer : c.manifest.layers) {
                const SpooledFile* f = spool.find(hex_name(layer.digest));
                if (!f)
                    throw make_error(ErrorKind::invalid,
                                     "image archive: layer blob " + layer.digest + " is missing");
                c.layer_files.push_back(f);
            }
            out.push_back(std::move(c));
        }
        if (!name.empty())
            out[it->second].refs.push_back(parse_reference(name, "index.json image name"));
    }
    return out;
}

// docker save: manifest.json lists each image's config file, tags and layer tars. The
// manifest a registry would have is not there: one is made, deterministically, so that the
// same archive always gives the same image.
std::vector<Candidate> docker_candidates(const Spool& spool) {
    json list =
        parse_json(spool.read_document("manifest.json", kMaxDocumentBytes), "manifest.json");
    if (!list.is_array())
        throw make_error(ErrorKind::invalid, "image archive: manifest.json is not a list");
    std::vector<Candidate> out;
    for (const auto& entry : list) {
        if (!entry.is_object() || !entry.contains("Config") || !entry["Config"].is_string() ||
            !entry.contains("Layers") || !entry["Layers"].is_array())
            throw make_error(ErrorKind::invalid,
                             "image archive: manifest.json: an entry without Config and Layers");
        std::string config_name = normalise_name(entry["Config"].get<std::string>());
        Candidate c;
        c.config_text = spool.read_document(config_name, kMaxConfigBytes);
        c.config = parse_image_config(c.config_text);
        std::string config_digest = sha256_digest(c.config_text);
        std::vector<Descriptor> layers;
        for (const auto& layer : entry["Layers"]) {
            if (!layer.is_string())
                throw make_error(ErrorKind::invalid,
                                 "image archive: manifest.json: a layer name is not a string");
            std::string name = normalise_name(layer.get<std::string>());
            const SpooledFile* f = spool.find(name);
            if (!f) throw make_error(ErrorKind::invalid, "image archive: no layer " + name);
            c.layer_files.push_back(f);
            layers.push_back({layer_media_type(*f), f->digest, static_cast<int64_t>(f->size), {}});
        }
        c.manifest_text = make_manifest(
            {media::oci_config, config_digest, static_cast<int64_t>(c.config_text.size()), {}},
            layers);
        c.manifest_digest = sha256_digest(c.manifest_text);
        c.manifest = parse_manifest(c.manifest_text);
        check_layers(c, "image " + config_name);
        if (auto tags = entry.find("RepoTags"); tags != entry.end() && tags->is_array())
            for (const auto& tag : *tags)
                if (tag.is_string())
                    c.refs.push_back(parse_reference(tag.get<std::string>(), "RepoTags"));
        out.push_back(std::move(c));
    }
    return out;
}

ByteSource file_source(const std::string& path) {
    auto fd = std::make_shared<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!*fd) throw system_error("open " + path);
    return [fd, path](void* buf, size_t size) { return read_some(fd->get(), buf, size, path); };
}

}  // namespace

std::vector<ImportedImage> import_archive(ImageStore& store, const ByteSource& source,
                                          const ImportOptions& options) {
    StoreTempDir temp = store.make_temp_dir("import");
    Spool spool(temp.path, options);
    spool.read(source);

    std::vector<Candidate> images;
    if (spool.has("index.json"))
        images = oci_candidates(spool, options);
    else if (spool.has("manifest.json"))
        images = docker_candidates(spool);
    else
        throw make_error(ErrorKind::invalid,
                         "image archive: neither an OCI layout (index.json) nor a docker save "
                         "archive (manifest.json)");
    if (images.empty()) throw make_error(ErrorKind::invalid, "image archive: no images in it");
    if (!options.tag.empty()) {
        if (images.size() != 1)
            throw make_error(ErrorKind::invalid, "tag: the archive holds " +
                                                     std::to_string(images.size()) +
                                                     " images; a tag names only one");
        images[0].refs.push_back(parse_reference(options.tag, "tag"));
    }
    for (const auto& c : images)
        if (c.refs.empty())
            throw make_error(ErrorKind::invalid, "image archive: image " + c.manifest_digest +
                                                     " has no name in the archive: give a tag");

    // Everything checked that can be before a layer is unpacked; now the store.
    std::vector<ImportedImage> out;
    for (auto& c : images) {
        for (size_t i = 0; i < c.manifest.layers.size(); ++i) {
            const std::string& path = c.layer_files[i]->path;
            const std::string& digest = c.manifest.layers[i].digest;
            store.ensure_layer(c.config.diff_ids[i], digest, [&] { return file_source(path); });
            // The store had the layer from another image (another blob, or none): the
            // image's own blob is still kept, so that it exports as it came.
            if (!store.has_blob(digest) && access(path.c_str(), F_OK) == 0)
                store.adopt_blob(digest, path);
        }
    }
    for (auto& c : images) {
        store.put_blob(c.manifest.config.digest, c.config_text);
        store.put_blob(c.manifest_digest, c.manifest_text);
        ImportedImage imported;
        for (const auto& ref : c.refs) {
            store.set_ref(ref, c.manifest_digest);
            imported.refs.push_back(ref.str());
        }
        spdlog::info("imported {} ({})", imported.refs.front(), c.manifest_digest);
        imported.image = load_image(store, c.manifest_digest);
        out.push_back(std::move(imported));
    }
    return out;
}

namespace {

struct ArchiveWriter {
    archive* a = archive_write_new();
    const ByteSink& sink;
    std::exception_ptr sink_error;

    explicit ArchiveWriter(const ByteSink& s) : sink(s) {
        if (!a) throw make_error(ErrorKind::system, "libarchive: out of memory");
        check(archive_write_set_format_pax_restricted(a), "format");
        check(archive_write_set_bytes_in_last_block(a, 1), "blocking");
        check(archive_write_open(a, this, nullptr, write_cb, nullptr), "open");
    }
    ~ArchiveWriter() { archive_write_free(a); }
    ArchiveWriter(const ArchiveWriter&) = delete;
    ArchiveWriter& operator=(const ArchiveWriter&) = delete;

    static la_ssize_t write_cb(archive*, void* self, const void* buf, size_t size) {
        auto* w = static_cast<ArchiveWriter*>(self);
        try {
            w->sink(buf, size);
            return static_cast<la_ssize_t>(size);
        } catch (...) {
            w->sink_error = std::current_exception();
            return -1;
        }
    }

    void check(int r, const std::string& what) {
        if (sink_error) std::rethrow_exception(sink_error);
        if (r < ARCHIVE_WARN)
            throw make_error(ErrorKind::system,
                             "export " + what + ": " + (archive_error_string(a) ?: "failed"));
    }

    void header(const std::string& name, mode_t type, uint64_t size) {
        std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                        archive_entry_free);
        archive_entry_set_pathname(e.get(), name.c_str());
        archive_entry_set_filetype(e.get(), type);
        archive_entry_set_perm(e.get(), type == AE_IFDIR ? 0755 : 0644);
        if (type == AE_IFREG) archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
        check(archive_write_header(a, e.get()), "header " + name);
    }

    void data(const void* buf, size_t size, const std::string& name) {
        if (archive_write_data(a, buf, size) < 0) check(ARCHIVE_FATAL, "data " + name);
        if (sink_error) std::rethrow_exception(sink_error);
    }

    void document(const std::string& name, const std::string& content) {
        header(name, AE_IFREG, content.size());
        if (!content.empty()) data(content.data(), content.size(), name);
    }

    void blob_file(const std::string& name, const std::string& path) {
        Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) throw system_error("open " + path);
        struct stat st {};
        if (fstat(fd.get(), &st) < 0) throw system_error("stat " + path);
        header(name, AE_IFREG, static_cast<uint64_t>(st.st_size));
        std::vector<char> buf(kChunk);
        auto left = static_cast<uint64_t>(st.st_size);
        while (left > 0) {
            size_t n = read_some(fd.get(), buf.data(), std::min<uint64_t>(buf.size(), left), path);
            if (n == 0) throw make_error(ErrorKind::system, "export: " + path + " shrank");
            data(buf.data(), n, name);
            left -= n;
        }
    }

    void finish() { check(archive_write_close(a), "close"); }
};

}  // namespace

void check_exportable(const ImageStore& store, const StoredImage& image) {
    std::vector<std::string> blobs = {image.manifest_digest, image.manifest.config.digest};
    for (const auto& layer : image.manifest.layers) blobs.push_back(layer.digest);
    for (const auto& digest : blobs)
        if (!store.has_blob(digest))
            throw make_error(ErrorKind::not_found,
                             "export: the store has no blob " + digest + " of image " + image.id);
}

void export_archive(const ImageStore& store, const StoredImage& image,
                    const std::vector<std::string>& refs, const ByteSink& sink) {
    // Every blob there before the first byte goes out: a missing one is a clean error.
    check_exportable(store, image);
    std::vector<std::string> blobs = {image.manifest.config.digest};
    for (const auto& layer : image.manifest.layers) blobs.push_back(layer.digest);
    std::string manifest_text = store.read_blob(image.manifest_digest);

    json manifests = json::array();
    auto entry = [&] {
        return json{{"mediaType", image.manifest.media_type.empty() ? media::oci_manifest
                                                                    : image.manifest.media_type},
                    {"digest", image.manifest_digest},
                    {"size", manifest_text.size()}};
    };
    for (const auto& ref : refs) {
        json e = entry();
        ImageRef parsed = parse_reference(ref);
        json annotations = {{kFullNameAnnotation, parsed.str()}};
        if (!parsed.tag.empty()) annotations[kRefNameAnnotation] = parsed.tag;
        e["annotations"] = annotations;
        manifests.push_back(e);
    }
    if (refs.empty()) manifests.push_back(entry());
    json index = {{"schemaVersion", 2}, {"mediaType", media::oci_index}, {"manifests", manifests}};

    ArchiveWriter w(sink);
    w.document("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    w.header("blobs", AE_IFDIR, 0);
    w.header("blobs/sha256", AE_IFDIR, 0);
    std::set<std::string> written;
    for (const auto& digest : blobs)
        if (written.insert(digest).second) w.blob_file(hex_name(digest), store.blob_path(digest));
    w.document(hex_name(image.manifest_digest), manifest_text);
    w.document("index.json", index.dump());
    w.finish();
}

}  // namespace truman::daemon::images
