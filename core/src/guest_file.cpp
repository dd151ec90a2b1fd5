// Guest-side helpers of the scan engine that split and release share. They
// live apart from scanner.cpp so that light users (the rpm plugin's release
// of protected files, linked statically) do not pull in the scan engine, the
// policy parser or the hash implementation.
#include "scanner.hpp"

#include "util/fs.hpp"
#include "util/xattr.hpp"

#include <sys/stat.h>
#include <unistd.h>

namespace pkgunify {

std::string
guest_temp_name(std::string_view name)
{
  std::string out(k_guest_tmp_prefix);
  out += util::random_hex(4);
  if (out.size() + 1 + name.size() <= 255) {
    out += '.';
    out += name;
  }
  return out;
}

std::optional<std::string>
guest_temp_original(std::string_view name)
{
  std::size_t digits = 0;
  if (name.starts_with(k_guest_tmp_prefix)) {
    name.remove_prefix(k_guest_tmp_prefix.size());
    digits = 8;
  } else if (name.starts_with(k_legacy_guest_tmp_prefix)) {
    name.remove_prefix(k_legacy_guest_tmp_prefix.size());
    digits = 16;
  } else {
    return std::nullopt;
  }
  if (name.size() < digits) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < digits; ++i) {
    const char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return std::nullopt;
    }
  }
  name.remove_prefix(digits);
  if (name.empty()) {
    return std::string();
  }
  if (name.size() < 2 || name[0] != '.') {
    return std::nullopt;
  }
  return std::string(name.substr(1));
}

util::Result<void>
apply_metadata(int fd, const FileMeta& meta, std::string_view display)
{
  if (::fchown(fd, meta.uid, meta.gid) != 0) {
    return util::fail_sys("chown", display);
  }
  if (auto r = util::write_xattrs(fd, meta.xattrs, display); !r) {
    return r;
  }
  if (::fchmod(fd, meta.mode) != 0) {
    return util::fail_sys("chmod", display);
  }
  const struct timespec times[2] = {{0, UTIME_OMIT},
                                    {static_cast<time_t>(meta.mtime_sec), static_cast<long>(meta.mtime_nsec)}};
  if (::futimens(fd, times) != 0) {
    return util::fail_sys("set mtime of", display);
  }
  auto st = util::fstat_fd(fd, display);
  if (!st) {
    return std::unexpected(st.error());
  }
  auto xattrs = util::read_xattrs(fd, display);
  if (!xattrs) {
    return std::unexpected(xattrs.error());
  }
  if (!(FileMeta::from_stat(*st, std::move(*xattrs)) == meta)) {
    return util::fail(std::string(display)
                      + ": the filesystem did not keep the file's metadata (owner, mode, "
                        "mtime or extended attributes)");
  }
  return {};
}

}  // namespace pkgunify
