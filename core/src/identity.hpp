// The identity of a store object: SHA-256 over a canonical encoding of the
// inode metadata that hard links share, followed by the content.
// docs/store-format.md specifies the encoding byte by byte.
#pragma once

#include "util/sha256.hpp"
#include "util/xattr.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <string>

namespace pkgunify {

// Which metadata takes part in the identity.
enum class IdentityKind : std::uint8_t {
  full = 1,          // uid, gid, mode, size, mtime, xattrs
  ignore_mtime = 2,  // as full, without mtime (policy ignore_mtime: true)
  content_only = 3,  // size only (reflink mode: inodes stay separate)
};

struct FileMeta
{
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (07777)
  std::uint64_t size = 0;
  std::int64_t mtime_sec = 0;
  std::uint32_t mtime_nsec = 0;
  util::Xattrs xattrs;  // sorted by name

  // Inline: split and release (linked into the rpm plugin) need it without
  // the hashing half of identity.cpp.
  static FileMeta
  from_stat(const struct stat& st, util::Xattrs xattrs)
  {
    FileMeta m;
    m.uid = st.st_uid;
    m.gid = st.st_gid;
    m.mode = st.st_mode & 07777;
    m.size = static_cast<std::uint64_t>(st.st_size);
    m.mtime_sec = st.st_mtim.tv_sec;
    m.mtime_nsec = static_cast<std::uint32_t>(st.st_mtim.tv_nsec);
    m.xattrs = std::move(xattrs);
    return m;
  }
  bool operator==(const FileMeta&) const = default;
};

// The canonical header that precedes the content in the hashed stream.
std::string encode_identity_header(const FileMeta& meta, IdentityKind kind);

class ObjectId
{
public:
  ObjectId() = default;
  explicit ObjectId(const util::Digest& digest) : m_digest(digest) {}

  [[nodiscard]] std::string
  hex() const
  {
    return util::to_hex(m_digest);
  }
  [[nodiscard]] const util::Digest&
  digest() const
  {
    return m_digest;
  }
  // Index of the fan-out directory: the first byte.
  [[nodiscard]] unsigned
  fanout() const
  {
    return m_digest[0];
  }
  bool operator==(const ObjectId&) const = default;

private:
  util::Digest m_digest{};
};

// Streams the header and then the content through SHA-256.
class IdentityHasher
{
public:
  void start(const FileMeta& meta, IdentityKind kind);
  void
  update(const void* data, std::size_t size)
  {
    m_sha.update(data, size);
  }
  ObjectId
  finish()
  {
    return ObjectId(m_sha.finish());
  }

private:
  util::Sha256 m_sha;
};

}  // namespace pkgunify
