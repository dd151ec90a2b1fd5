// SPDX-License-Identifier: GPL-2.0-or-later
#include "maintenance/verify.hpp"

#include "engine/packages.hpp"
#include "engine/walker.hpp"
#include "sys/fs.hpp"
#include "sys/read.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <memory>
#include <unordered_map>
#include <vector>

namespace pkgunify {

namespace {

const EVP_MD*
evp_of(DigestAlgo algo)
{
  switch (algo) {
  case DigestAlgo::md5:
    return EVP_md5();
  case DigestAlgo::sha1:
    return EVP_sha1();
  case DigestAlgo::sha224:
    return EVP_sha224();
  case DigestAlgo::sha256:
    return EVP_sha256();
  case DigestAlgo::sha384:
    return EVP_sha384();
  case DigestAlgo::sha512:
    return EVP_sha512();
  case DigestAlgo::none:
    break;
  }
  return nullptr;
}

}  // namespace

sys::Result<std::string>
file_digest(int fd, DigestAlgo algo, std::string_view display, std::uint64_t* bytes)
{
  const EVP_MD* md = evp_of(algo);
  if (!md) {
    return sys::fail(std::string(display) + ": unsupported digest algorithm " + std::string(to_string(algo)));
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), md, nullptr);
  std::vector<char> buf;
  auto n = sys::read_chunks(
    fd, buf,
    [&](const char* data, std::size_t size) -> sys::Result<void> {
      EVP_DigestUpdate(ctx.get(), data, size);
      return {};
    },
    display);
  if (!n) {
    return std::unexpected(n.error());
  }
  if (bytes) {
    *bytes += *n;
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &len);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += hex[out[i] >> 4];
    s += hex[out[i] & 15];
  }
  return s;
}

namespace {

// One verify run over a root's package database.
class Verifier
{
public:
  Verifier(const Store& store, PackageDb& db, const std::string& root, Reporter& reporter)
    : m_db(db)
    , m_root(root)
    , m_root_fd(store.open_root(root).fd)
    , m_objects(store.object_paths_by_inode())
    , m_paths(root)
    , m_reporter(reporter)
  {}

  VerifyResult
  run()
  {
    for (const auto& pkg : m_db.packages()) {
      for (const auto& f : pkg.files) {
        if (f.config) {
          ++m_result.config;
        } else if (f.digest.empty() || f.digest_algo == DigestAlgo::none) {
          ++m_result.no_digest;
        } else {
          check(pkg, f);
        }
      }
    }
    return m_result;
  }

private:
  // A file with a digest: compared when it is unified.
  void
  check(const PackageInfo& pkg, const PackageFile& f)
  {
    const auto canon = m_paths.canonical(f.path);
    const std::string display = sys::join_display(m_root, canon ? *canon : f.path);
    if (!canon) {
      ++m_result.missing;
      return;
    }
    auto fd = open_file(*canon, display);
    if (!fd) {
      if (fd.error().code == ENOENT) {
        ++m_result.missing;
      } else {
        fail(fd.error().message);
      }
      return;
    }
    auto st = sys::fstat_fd(fd->get(), display);
    if (!st || !S_ISREG(st->st_mode)) {
      ++m_result.no_digest;
      return;
    }
    const auto object = st->st_nlink > 1 ? m_objects.find(st->st_ino) : m_objects.end();
    if (object == m_objects.end()) {
      ++m_result.not_unified;
      return;
    }
    compare(pkg, f, fd->get(), display, object->second);
  }

  // Regular files only: a FIFO or device node at a path the database lists
  // is never opened. O_NOATIME needs the file's owner; without it, the
  // access time may change.
  sys::Result<sys::Fd>
  open_file(const std::string& canon, const std::string& display) const
  {
    auto fd = sys::open_regular_beneath(m_root_fd.get(), canon.substr(1), O_RDONLY | O_NOATIME, display);
    if (!fd && fd.error().code == EPERM) {
      fd = sys::open_regular_beneath(m_root_fd.get(), canon.substr(1), O_RDONLY, display);
    }
    return fd;
  }

  void
  compare(const PackageInfo& pkg, const PackageFile& f, int fd, const std::string& display, const std::string& object)
  {
    auto digest = file_digest(fd, f.digest_algo, display, &m_result.bytes_read);
    if (!digest) {
      fail(digest.error().message);
      return;
    }
    ++m_result.checked;
    if (*digest != f.digest) {
      ++m_result.mismatches;
      m_reporter.error(display + ": content differs from the " + std::string(to_string(f.digest_algo))
                       + " digest in the " + std::string(m_db.kind()) + " database (package " + pkg.name
                       + "); the store object " + object
                       + " it links to is corrupt or was changed (run 'pkgunify store fsck')");
    }
  }

  void
  fail(const std::string& message)
  {
    ++m_result.errors;
    m_reporter.error(message);
  }

  PackageDb& m_db;
  const std::string& m_root;
  sys::Fd m_root_fd;
  std::unordered_map<ino_t, std::string> m_objects;  // object paths by inode
  RootPaths m_paths;
  Reporter& m_reporter;
  VerifyResult m_result;
};

}  // namespace

VerifyResult
verify_root(const Store& store, PackageDb& db, const std::string& root, Reporter& reporter)
{
  return Verifier(store, db, root, reporter).run();
}

}  // namespace pkgunify
