// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/packages.hpp"

#include "sys/fs.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <unordered_map>

namespace pkgunify {

std::string_view
to_string(DigestAlgo algo)
{
  switch (algo) {
  case DigestAlgo::none:
    return "none";
  case DigestAlgo::md5:
    return "md5";
  case DigestAlgo::sha1:
    return "sha1";
  case DigestAlgo::sha256:
    return "sha256";
  case DigestAlgo::sha384:
    return "sha384";
  case DigestAlgo::sha512:
    return "sha512";
  case DigestAlgo::sha224:
    return "sha224";
  }
  return "?";
}

struct RootPaths::Impl
{
  sys::Fd root_fd;
  std::string root_real;  // realpath of the root on the host
  std::unordered_map<std::string, std::optional<std::string>> dirs;
};

RootPaths::RootPaths(const std::string& root) : m_impl(std::make_unique<Impl>())
{
  auto fd = sys::open_host_dir(root);
  if (!fd) {
    throw ConfigError("root " + fd.error().message);
  }
  m_impl->root_fd = std::move(*fd);
  std::error_code ec;
  m_impl->root_real = std::filesystem::canonical(root, ec).string();
  if (ec) {
    throw ConfigError("cannot resolve root " + root + ": " + ec.message());
  }
}

RootPaths::~RootPaths() = default;

const std::string&
RootPaths::real_root() const
{
  return m_impl->root_real;
}

std::optional<std::string>
RootPaths::canonical(const std::string& path)
{
  const auto slash = path.rfind('/');
  if (path.empty() || path.front() != '/' || slash == std::string::npos) {
    return std::nullopt;
  }
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  const std::string name = path.substr(slash + 1);
  auto [it, inserted] = m_impl->dirs.try_emplace(dir);
  if (inserted) {
    struct open_how how;
    std::memset(&how, 0, sizeof(how));
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    const std::string rel = dir == "/" ? "." : dir.substr(1);
    long fd;
    do {
      fd = ::syscall(SYS_openat2, m_impl->root_fd.get(), rel.c_str(), &how, sizeof(how));
    } while (fd < 0 && (errno == EAGAIN || errno == EINTR));
    if (fd >= 0) {
      sys::Fd owner(static_cast<int>(fd));
      char buf[PATH_MAX];
      const int procfd = sys::proc_self_fd_dir();  // never a guest's /proc (inside a chroot)
      const ssize_t n = procfd < 0 ? -1 : ::readlinkat(procfd, std::to_string(fd).c_str(), buf, sizeof(buf) - 1);
      if (n > 0) {
        const std::string real(buf, static_cast<std::size_t>(n));
        const std::string& top = m_impl->root_real;
        if (real == top) {
          it->second = "/";
        } else if (real.starts_with(top == "/" ? top : top + "/")) {
          it->second = top == "/" ? real : real.substr(top.size());
        }
      }
    }
  }
  if (!it->second) {
    return std::nullopt;
  }
  return *it->second == "/" ? "/" + name : *it->second + "/" + name;
}

std::shared_ptr<const PackageFilter>
make_package_filter(PackageDb& db, const std::string& root, Unpackaged rule)
{
  // Unless unpackaged files are excluded, only the configuration files
  // matter: the cheaper read.
  return make_package_filter(rule == Unpackaged::excluded ? db.packages() : db.config_files(),
                             std::string(db.kind()) + " database " + db.location(), root, rule);
}

std::shared_ptr<const PackageFilter>
make_package_filter(const std::vector<PackageInfo>& packages, std::string source, const std::string& root,
                    Unpackaged rule)
{
  auto filter = std::make_shared<PackageFilter>();
  filter->source = std::move(source);
  if (rule == Unpackaged::excluded) {
    filter->packaged.emplace();
  }
  RootPaths paths(root);
  for (const auto& pkg : packages) {
    for (const auto& f : pkg.files) {
      if (!f.config && !filter->packaged) {
        continue;  // only config files matter: no path lookup for the rest
      }
      // Listed and canonical paths both: a walk sees the canonical one, a
      // caller naming files may use either.
      if (f.config) {
        filter->config.insert(f.path);
      }
      if (filter->packaged) {
        filter->packaged->insert(f.path);
      }
      const auto canon = paths.canonical(f.path);
      if (canon && *canon != f.path) {
        if (f.config) {
          filter->config.insert(*canon);
        }
        if (filter->packaged) {
          filter->packaged->insert(*canon);
        }
      }
    }
  }
  return filter;
}

}  // namespace pkgunify
