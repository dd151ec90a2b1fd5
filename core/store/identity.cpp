// SPDX-License-Identifier: GPL-2.0-or-later
#include "store/identity.hpp"

namespace pkgunify {

namespace {

constexpr char k_magic[] = "pkgunify-object";  // 15 bytes + NUL = 16
constexpr std::uint8_t k_version = 1;

void
put_u32(std::string& out, std::uint32_t v)
{
  for (int shift = 24; shift >= 0; shift -= 8) {
    out += static_cast<char>((v >> shift) & 0xff);
  }
}

void
put_u64(std::string& out, std::uint64_t v)
{
  for (int shift = 56; shift >= 0; shift -= 8) {
    out += static_cast<char>((v >> shift) & 0xff);
  }
}

void
put_bytes(std::string& out, std::string_view bytes)
{
  put_u32(out, static_cast<std::uint32_t>(bytes.size()));
  out += bytes;
}

}  // namespace

std::string
encode_identity_header(const FileMeta& meta, IdentityKind kind)
{
  std::string out(k_magic, sizeof(k_magic));  // includes the NUL
  out += static_cast<char>(k_version);
  out += static_cast<char>(kind);
  if (kind == IdentityKind::content_only) {
    put_u64(out, meta.size);
    return out;
  }
  put_u32(out, meta.mode);
  put_u32(out, meta.uid);
  put_u32(out, meta.gid);
  put_u64(out, meta.size);
  if (kind == IdentityKind::full) {
    put_u64(out, static_cast<std::uint64_t>(meta.mtime_sec));
    put_u32(out, meta.mtime_nsec);
  }
  put_u32(out, static_cast<std::uint32_t>(meta.xattrs.size()));
  for (const auto& [name, value] : meta.xattrs) {
    put_bytes(out, name);
    put_bytes(out, value);
  }
  return out;
}

void
IdentityHasher::start(const FileMeta& meta, IdentityKind kind)
{
  m_sha.reset();
  const std::string header = encode_identity_header(meta, kind);
  m_sha.update(header.data(), header.size());
}

}  // namespace pkgunify
