#include "maintenance/verify.hpp"

#include "engine/packages.hpp"
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

// Object paths by inode, from the fan-out directories' entries.
std::unordered_map<ino_t, std::string>
objects_by_inode(const Store& store)
{
  std::unordered_map<ino_t, std::string> out;
  store.for_each_dirent(
    [&](unsigned fanout, const char* name, ino_t ino) { out.emplace(ino, store.object_path(fanout, name)); });
  return out;
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

VerifyResult
verify_root(const Store& store, PackageDb& db, const std::string& root, Reporter& reporter)
{
  VerifyResult r;
  auto root_fd = sys::open_host_dir(root);
  if (!root_fd) {
    throw ConfigError("root " + root_fd.error().message);
  }
  auto rst = sys::fstat_fd(root_fd->get(), root);
  if (!rst) {
    throw ConfigError(rst.error().message);
  }
  store.check_same_filesystem(*rst, root);
  const auto objects = objects_by_inode(store);
  RootPaths paths(root);
  for (const auto& pkg : db.packages()) {
    for (const auto& f : pkg.files) {
      if (f.config) {
        ++r.config;
        continue;
      }
      if (f.digest.empty() || f.digest_algo == DigestAlgo::none) {
        ++r.no_digest;
        continue;
      }
      const auto canon = paths.canonical(f.path);
      const std::string disp = sys::join_display(root, canon ? *canon : f.path);
      if (!canon) {
        ++r.missing;
        continue;
      }
      auto fd = sys::open_beneath(root_fd->get(), canon->substr(1), O_RDONLY | O_NOATIME, disp);
      if (!fd && fd.error().code == EPERM) {
        fd = sys::open_beneath(root_fd->get(), canon->substr(1), O_RDONLY, disp);
      }
      if (!fd) {
        if (fd.error().code == ENOENT) {
          ++r.missing;
        } else {
          ++r.errors;
          reporter.error(fd.error().message);
        }
        continue;
      }
      auto st = sys::fstat_fd(fd->get(), disp);
      if (!st || !S_ISREG(st->st_mode)) {
        ++r.no_digest;
        continue;
      }
      const auto obj = st->st_nlink > 1 ? objects.find(st->st_ino) : objects.end();
      if (obj == objects.end()) {
        ++r.not_unified;
        continue;
      }
      auto digest = file_digest(fd->get(), f.digest_algo, disp, &r.bytes_read);
      if (!digest) {
        ++r.errors;
        reporter.error(digest.error().message);
        continue;
      }
      ++r.checked;
      if (*digest != f.digest) {
        ++r.mismatches;
        reporter.error(disp + ": content differs from the " + std::string(to_string(f.digest_algo)) + " digest in the "
                       + std::string(db.kind()) + " database (package " + pkg.name + "); the store object "
                       + obj->second + " it links to is corrupt or was changed (run 'pkgunify store fsck')");
      }
    }
  }
  return r;
}

}  // namespace pkgunify
