// The rules a spec's root and mounts follow, checked by validate() before any process exists
// (mounts.hpp). The paths are checked as text here; they are resolved, inside the root, only
// when the child uses them.
#include <algorithm>
#include <string>

#include "truman/error.hpp"
#include "truman/mounts.hpp"
#include "truman/spec.hpp"

namespace truman {

namespace {

void validate_clean_absolute_path(const std::string& path, const std::string& field) {
    validate_absolute_path(path, field);
    if (("/" + path + "/").find("/../") != std::string::npos)
        throw invalid_argument(field, "must not contain \"..\"");
}

// Names in layerdir, top-most first: "A:B:C". Each stays in layerdir (no '/', no "..").
void validate_layer_names(const std::string& lower) {
    const char* field = "root.overlay.lowerdir";
    if (lower.empty()) throw invalid_argument(field, "must name at least one layer");
    for (size_t begin = 0; begin <= lower.size();) {
        size_t end = std::min(lower.find(':', begin), lower.size());
        std::string name = lower.substr(begin, end - begin);
        if (name.empty() || name == "." || name == ".." ||
            name.find_first_of("/,\\") != std::string::npos)
            throw invalid_argument(field, "\"" + name + "\" is not a layer name in layerdir");
        begin = end + 1;
    }
}

void validate_root(const Root& root) {
    if (root.path.empty()) throw invalid_argument("root.path", "must not be empty");
    validate_host_path(root.path, "root.path");
    if (const auto& overlay = root.overlay) {
        if (overlay->layer_dir.empty()) {
            validate_host_path(overlay->lower, "root.overlay.lowerdir");
        } else {
            validate_host_path(overlay->layer_dir, "root.overlay.layerdir");
            validate_layer_names(overlay->lower);
        }
        validate_host_path(overlay->upper, "root.overlay.upperdir");
        validate_host_path(overlay->work, "root.overlay.workdir");
    }
}

void validate_paths(const std::optional<std::vector<std::string>>& paths, const char* field) {
    if (!paths) return;
    for (size_t i = 0; i < paths->size(); ++i)
        validate_container_path((*paths)[i], index_path(field, i));
}

}  // namespace

void validate_absolute_path(const std::string& path, const std::string& field) {
    if (path.empty() || path[0] != '/') throw invalid_argument(field, "must be an absolute path");
}

void validate_container_path(const std::string& path, const std::string& field) {
    validate_clean_absolute_path(path, field);
}

void validate_host_path(const std::string& path, const std::string& field) {
    validate_clean_absolute_path(path, field);
}

void validate_mounts(const ContainerSpec& spec) {
    validate_root(spec.root);
    for (size_t i = 0; i < spec.mounts.size(); ++i) {
        const Mount& m = spec.mounts[i];
        std::string item = index_path("mounts", i);
        validate_container_path(m.destination, item + ".destination");
        check_not_magic_link(m.destination, item + ".destination");
        check_not_magic_link(m.source, item + ".source");
        MountOptions options;
        try {
            options = parse_mount_options(m.options);
        } catch (const Error& e) {
            throw Error(e.kind(), e.err(), item + ".options", e.reason());
        }
        // The source is used as given: a relative one would be found relative to whatever
        // directory the creating process happens to be in.
        if (options.bind || m.type == "bind") {
            if (m.source.empty())
                throw invalid_argument(item + ".source", "a bind mount needs a source");
            validate_host_path(m.source, item + ".source");
        }
    }
    validate_paths(spec.linux.masked_paths, "linux.maskedPaths");
    validate_paths(spec.linux.readonly_paths, "linux.readonlyPaths");
    try {
        propagation_flags(spec.linux.rootfs_propagation);
    } catch (const Error& e) {
        throw invalid_argument("linux.rootfsPropagation",
                               e.reason() +
                                   " (private, rprivate, slave, rslave, shared, rshared, "
                                   "unbindable or runbindable)");
    }
}

}  // namespace truman
