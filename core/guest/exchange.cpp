// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/exchange.hpp"

#include "sys/error.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace pkgunify {

namespace {

void
remove_tmp(const ExchangeRequest& r)
{
  ::unlinkat(r.dirfd, r.tmpname.c_str(), 0);
}

// Filesystems without RENAME_EXCHANGE: check, then rename over.
ExchangeResult
rename_over(const ExchangeRequest& r, Reporter& reporter)
{
  if (!r.verify_before_rename || !r.verify_before_rename()) {
    remove_tmp(r);
    if (!r.verify_before_rename) {
      reporter.error(sys::sys_error("replace", r.display, EINVAL).message);
      return ExchangeResult::failed;
    }
    return ExchangeResult::changed;
  }
  if (::renameat(r.dirfd, r.tmpname.c_str(), r.dirfd, r.name.c_str()) != 0) {
    const int err = errno;
    remove_tmp(r);
    reporter.error(sys::sys_error("replace", r.display, err).message);
    return ExchangeResult::failed;
  }
  return ExchangeResult::exchanged;
}

ExchangeResult
exchange_failed(const ExchangeRequest& r, int err, Reporter& reporter)
{
  if (err == EINVAL || err == ENOSYS) {
    return rename_over(r, reporter);
  }
  remove_tmp(r);
  switch (err) {
  case EPERM:
    return ExchangeResult::not_permitted;
  case EMLINK:
    return ExchangeResult::link_limit;
  case ENOENT:
    // The path went away meanwhile (the guest removed it): nothing to
    // replace; the next run looks again.
    return ExchangeResult::changed;
  default:
    reporter.error(sys::sys_error("replace", r.display, err).message);
    return ExchangeResult::failed;
  }
}

}  // namespace

ExchangeResult
exchange_verified(const ExchangeRequest& r, Reporter& reporter)
{
  if (::renameat2(r.dirfd, r.tmpname.c_str(), r.dirfd, r.name.c_str(), RENAME_EXCHANGE) != 0) {
    return exchange_failed(r, errno, reporter);
  }
  // The old file now sits at tmpname. Keep the exchange only if it is the
  // file the caller expected.
  struct stat old;
  if (::fstatat(r.dirfd, r.tmpname.c_str(), &old, AT_SYMLINK_NOFOLLOW) != 0 || !r.verify(old)) {
    if (::renameat2(r.dirfd, r.tmpname.c_str(), r.dirfd, r.name.c_str(), RENAME_EXCHANGE) == 0) {
      remove_tmp(r);
    } else {
      reporter.error(sys::sys_error("restore " + r.display + " from", r.tmp_display).message);
    }
    return ExchangeResult::changed;
  }
  if (::unlinkat(r.dirfd, r.tmpname.c_str(), 0) != 0) {
    reporter.warning(sys::sys_error("remove temporary", r.tmp_display).message);
  }
  return ExchangeResult::exchanged;
}

DirTimes::DirTimes(int dirfd) : m_dirfd(dirfd)
{
  struct stat st;
  if (::fstat(dirfd, &st) == 0) {
    m_mtime = st.st_mtim;
    m_valid = true;
  }
}

void
DirTimes::restore()
{
  if (!m_valid) {
    return;
  }
  m_valid = false;
  struct stat st;
  if (::fstat(m_dirfd, &st) != 0 || (st.st_mtim.tv_sec == m_mtime.tv_sec && st.st_mtim.tv_nsec == m_mtime.tv_nsec)) {
    return;
  }
  const struct timespec times[2] = {{0, UTIME_OMIT}, m_mtime};
  ::futimens(m_dirfd, times);
}

}  // namespace pkgunify
