// Image references as Docker spells them, normalised once so that "alpine",
// "library/alpine:latest" and "docker.io/library/alpine:latest" are one image:
//   [domain/]path[:tag][@sha256:digest]
// A first component with a '.' or a ':' or that is "localhost" is a registry's domain;
// otherwise the domain is docker.io, where a one-component path lives under "library/".
// Without tag or digest the tag is "latest".
#pragma once

#include <string>

namespace truman::daemon::images {

struct ImageRef {
    std::string domain;  // "docker.io", "127.0.0.1:5000"
    std::string path;    // "library/alpine"
    std::string tag;     // "latest"; "" when only a digest is given
    std::string digest;  // "sha256:..." or ""

    std::string name() const { return domain + "/" + path; }  // docker.io/library/alpine
    // The normalised reference: name:tag, name@digest or name:tag@digest.
    std::string str() const;
    bool operator==(const ImageRef&) const = default;
};

// Throws truman::Error (invalid, naming field) for what is not a reference.
ImageRef parse_reference(const std::string& text, const std::string& field = "ref");

}  // namespace truman::daemon::images
