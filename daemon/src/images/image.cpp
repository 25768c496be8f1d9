#include "truman/daemon/images/image.hpp"

#include <nlohmann/json.hpp>

#include "truman/daemon/images/digest.hpp"
#include "truman/error.hpp"
#include "truman/json_reader.hpp"

using json = nlohmann::json;

namespace truman::daemon::images {

namespace {

// Image documents carry many fields truman has no use for (history, author...): unlike a
// container spec, unknown keys are fine here. What truman reads is type-checked.
json parse_document(const std::string& document, const char* what) {
    try {
        json j = json::parse(document);
        if (!j.is_object())
            throw make_error(ErrorKind::invalid, std::string(what) + ": not an object");
        return j;
    } catch (const json::exception& e) {
        throw make_error(ErrorKind::invalid, std::string(what) + ": " + e.what());
    }
}

const json* member(const json& j, const char* key) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string optional_string(const json& j, const char* key, const std::string& path) {
    const json* v = member(j, key);
    return v ? json_string(*v, field_path(path, key)) : std::string();
}

std::vector<std::string> optional_strings(const json& j, const char* key, const std::string& path) {
    const json* v = member(j, key);
    return v ? json_strings(*v, field_path(path, key)) : std::vector<std::string>{};
}

Descriptor descriptor(const json& v, const std::string& path) {
    if (!v.is_object()) throw invalid_argument(path, "must be an object");
    Descriptor d;
    d.media_type = optional_string(v, "mediaType", path);
    const json* digest = member(v, "digest");
    if (!digest) throw invalid_argument(field_path(path, "digest"), "is required");
    d.digest = json_string(*digest, field_path(path, "digest"));
    validate_digest(d.digest, field_path(path, "digest"));
    if (const json* size = member(v, "size")) d.size = json_i64(*size, field_path(path, "size"));
    if (d.size < 0) throw invalid_argument(field_path(path, "size"), "must not be negative");
    if (const json* p = member(v, "platform")) {
        std::string pp = field_path(path, "platform");
        if (!p->is_object()) throw invalid_argument(pp, "must be an object");
        d.platform =
            Platform{optional_string(*p, "os", pp), optional_string(*p, "architecture", pp),
                     optional_string(*p, "variant", pp)};
    }
    return d;
}

bool is_layer(const std::string& media_type) {
    for (const char* t :
         {media::oci_layer, media::oci_layer_gzip, media::oci_layer_zstd, media::docker_layer,
          "application/vnd.oci.image.layer.nondistributable.v1.tar",
          "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
          "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
          "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"})
        if (media_type == t) return true;
    return false;
}

}  // namespace

Platform parse_platform(const std::string& text) {
    Platform p;
    size_t slash = text.find('/');
    if (slash == std::string::npos || slash == 0)
        throw invalid_argument("platform", "\"" + text + "\" is not os/architecture[/variant]");
    p.os = text.substr(0, slash);
    std::string rest = text.substr(slash + 1);
    size_t second = rest.find('/');
    p.architecture = rest.substr(0, second);
    if (second != std::string::npos) p.variant = rest.substr(second + 1);
    for (const std::string* part : {&p.os, &p.architecture})
        if (part->empty() ||
            part->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
            throw invalid_argument("platform", "\"" + text + "\" is not os/architecture[/variant]");
    if (second != std::string::npos &&
        (p.variant.empty() ||
         p.variant.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string::npos))
        throw invalid_argument("platform", "\"" + text + "\" has an invalid variant");
    return p;
}

std::string to_string(const Platform& platform) {
    std::string s = platform.os + "/" + platform.architecture;
    if (!platform.variant.empty()) s += "/" + platform.variant;
    return s;
}

bool is_index(const std::string& media_type) {
    return media_type == media::oci_index || media_type == media::docker_list;
}

bool is_manifest(const std::string& media_type) {
    return media_type == media::oci_manifest || media_type == media::docker_manifest;
}

std::string detect_media_type(const std::string& document) {
    json j = parse_document(document, "manifest");
    std::string type = optional_string(j, "mediaType", "");
    if (!type.empty()) return type;
    // OCI lets the field out; its content says which of the two it is.
    if (member(j, "manifests")) return media::oci_index;
    if (member(j, "config") && member(j, "layers")) return media::oci_manifest;
    return "";
}

std::vector<Descriptor> parse_index(const std::string& document) {
    json j = parse_document(document, "index");
    const json* list = member(j, "manifests");
    if (!list) throw invalid_argument("index.manifests", "is required");
    return json_array<Descriptor>(*list, "index.manifests", descriptor);
}

std::string make_manifest(const Descriptor& config, const std::vector<Descriptor>& layers) {
    auto descriptor = [](const Descriptor& d) {
        return json{{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
    };
    json layer_list = json::array();
    for (const auto& layer : layers) layer_list.push_back(descriptor(layer));
    return json{{"schemaVersion", 2},
                {"mediaType", media::oci_manifest},
                {"config", descriptor(config)},
                {"layers", layer_list}}
        .dump();
}

Manifest parse_manifest(const std::string& document) {
    json j = parse_document(document, "manifest");
    Manifest m;
    m.media_type = detect_media_type(document);
    if (!is_manifest(m.media_type))
        throw make_error(ErrorKind::unsupported,
                         "manifest: media type \"" + m.media_type + "\" is not an image manifest");
    const json* config = member(j, "config");
    if (!config) throw invalid_argument("manifest.config", "is required");
    m.config = descriptor(*config, "manifest.config");
    const json* layers = member(j, "layers");
    if (!layers) throw invalid_argument("manifest.layers", "is required");
    m.layers = json_array<Descriptor>(*layers, "manifest.layers", descriptor);
    for (size_t i = 0; i < m.layers.size(); ++i)
        if (!is_layer(m.layers[i].media_type))
            throw make_error(ErrorKind::unsupported, "manifest.layers[" + std::to_string(i) +
                                                         "]: unknown layer media type \"" +
                                                         m.layers[i].media_type + "\"");
    return m;
}

ImageConfig parse_image_config(const std::string& document) {
    json j = parse_document(document, "config");
    ImageConfig c;
    c.os = optional_string(j, "os", "config");
    c.architecture = optional_string(j, "architecture", "config");
    c.variant = optional_string(j, "variant", "config");
    c.created = optional_string(j, "created", "config");
    if (const json* cfg = member(j, "config")) {
        const std::string p = "config.config";
        if (!cfg->is_object()) throw invalid_argument(p, "must be an object");
        c.entrypoint = optional_strings(*cfg, "Entrypoint", p);
        c.cmd = optional_strings(*cfg, "Cmd", p);
        c.env = optional_strings(*cfg, "Env", p);
        c.working_dir = optional_string(*cfg, "WorkingDir", p);
        c.user = optional_string(*cfg, "User", p);
        c.stop_signal = optional_string(*cfg, "StopSignal", p);
        if (const json* labels = member(*cfg, "Labels")) {
            if (!labels->is_object()) throw invalid_argument(p + ".Labels", "must be an object");
            for (const auto& [key, value] : labels->items())
                c.labels[key] = json_string(value, field_path(p + ".Labels", key));
        }
        if (const json* ports = member(*cfg, "ExposedPorts")) {
            if (!ports->is_object())
                throw invalid_argument(p + ".ExposedPorts", "must be an object");
            for (const auto& item : ports->items()) c.exposed_ports.push_back(item.key());
        }
    }
    const json* rootfs = member(j, "rootfs");
    if (!rootfs || !rootfs->is_object()) throw invalid_argument("config.rootfs", "is required");
    c.diff_ids = optional_strings(*rootfs, "diff_ids", "config.rootfs");
    for (size_t i = 0; i < c.diff_ids.size(); ++i)
        validate_digest(c.diff_ids[i], index_path("config.rootfs.diff_ids", i));
    return c;
}

Descriptor pick_platform(const std::vector<Descriptor>& index, const Platform& platform) {
    std::string have;
    for (const Descriptor& d : index) {
        if (!d.platform) continue;
        if (d.platform->os == platform.os && d.platform->architecture == platform.architecture &&
            (platform.variant.empty() || d.platform->variant == platform.variant))
            return d;
        if (!have.empty()) have += ", ";
        have += to_string(*d.platform);
    }
    throw make_error(ErrorKind::not_found,
                     "no manifest for platform " + to_string(platform) +
                         " in the index (it has: " + (have.empty() ? "none" : have) + ")");
}

}  // namespace truman::daemon::images
