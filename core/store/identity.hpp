// SPDX-License-Identifier: GPL-2.0-or-later
// The identity of a store object: SHA-256 over a canonical encoding of the
// inode metadata that hard links share, followed by the content.
// docs/store-format.md specifies the encoding byte by byte.
#pragma once

#include "guest/metadata.hpp"
#include "store/sha256.hpp"

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

// The canonical header that precedes the content in the hashed stream.
std::string encode_identity_header(const FileMeta& meta, IdentityKind kind);

class ObjectId
{
public:
  ObjectId() = default;
  explicit ObjectId(const Digest& digest) : m_digest(digest) {}

  [[nodiscard]] std::string
  hex() const
  {
    return to_hex(m_digest);
  }
  [[nodiscard]] const Digest&
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
  Digest m_digest{};
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
  Sha256 m_sha;
};

}  // namespace pkgunify
