// SPDX-License-Identifier: GPL-2.0-or-later
// SHA-256 through OpenSSL's EVP interface (uses SHA-NI where present).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

using EVP_MD_CTX = struct evp_md_ctx_st;

namespace pkgunify {

using Digest = std::array<std::uint8_t, 32>;

class Sha256
{
public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&&) = delete;

  void reset();
  void update(const void* data, std::size_t size);
  Digest finish();

private:
  EVP_MD_CTX* m_ctx;
};

std::string to_hex(const Digest& digest);
// Parses 64 lowercase hex digits; false on anything else.
bool from_hex(std::string_view hex, Digest& out);

}  // namespace pkgunify
