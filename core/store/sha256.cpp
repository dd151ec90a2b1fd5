// SPDX-License-Identifier: GPL-2.0-or-later
#include "store/sha256.hpp"

#include <openssl/evp.h>

#include <new>
#include <string_view>
#include <utility>

namespace pkgunify {

Sha256::Sha256() : m_ctx(EVP_MD_CTX_new())
{
  if (!m_ctx) {
    throw std::bad_alloc();
  }
  reset();
}

Sha256::~Sha256()
{
  EVP_MD_CTX_free(m_ctx);
}

Sha256::Sha256(Sha256&& other) noexcept : m_ctx(std::exchange(other.m_ctx, nullptr)) {}

void
Sha256::reset()
{
  EVP_DigestInit_ex(m_ctx, EVP_sha256(), nullptr);
}

void
Sha256::update(const void* data, std::size_t size)
{
  EVP_DigestUpdate(m_ctx, data, size);
}

Digest
Sha256::finish()
{
  Digest out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(m_ctx, out.data(), &len);
  reset();
  return out;
}

std::string
to_hex(const Digest& digest)
{
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (const auto b : digest) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

bool
from_hex(std::string_view hex, Digest& out)
{
  if (hex.size() != 64) {
    return false;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace pkgunify
