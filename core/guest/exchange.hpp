// SPDX-License-Identifier: GPL-2.0-or-later
// The verified exchange: the one way pkgunify replaces a file inside a guest
// (scan linking it to its object, split and release giving it a private
// copy). The replacement is put next to the file under a temporary name
// (guest/temp_name.hpp) by the caller; the exchange swaps the two names
// atomically (renameat2 RENAME_EXCHANGE), checks that the file that came out
// is the one the caller expected, unchanged, and otherwise swaps back. The
// guest's path never disappears and never holds anything but the old file or
// the verified replacement.
#pragma once

#include "sys/reporter.hpp"

#include <sys/stat.h>

#include <functional>
#include <string>

namespace pkgunify {

struct ExchangeRequest
{
  int dirfd = -1;           // the directory holding both names
  std::string name;         // the guest's file
  std::string tmpname;      // the replacement, in place under this name
  std::string display;      // host path of `name`, for messages
  std::string tmp_display;  // host path of `tmpname`, for messages
  // Called with the lstat of the file that came out (now at `tmpname`):
  // true keeps the exchange, false swaps back.
  std::function<bool(const struct stat& old)> verify;
  // For filesystems without RENAME_EXCHANGE: called right before the
  // replacement is renamed over `name` instead; true lets that go on. Null:
  // such filesystems fail.
  std::function<bool()> verify_before_rename;
};

enum class ExchangeResult {
  exchanged,      // `name` is the replacement; the old file is gone
  changed,        // the file changed or went away meanwhile: left as it was
  not_permitted,  // EPERM (protected file or directory): left as it was
  link_limit,     // EMLINK (btrfs without extended refs: the names of one
                  // inode in one directory are full): left as it was
  failed,         // reported through the reporter: left as it was
};

// On every result but `exchanged`, `name` is what it was and `tmpname` is
// removed (or, should swapping back fail, both are left and reported).
ExchangeResult exchange_verified(const ExchangeRequest& request, Reporter& reporter);

// A guest directory's mtime, kept across replacements: taken before the
// first temporary name is made, set back by restore() (or on destruction)
// when the directory's mtime changed since, so that backup and integrity
// tools do not see a directory change where no entry changed. split takes
// one per file; the scan one per visit of a directory (consecutive files of
// one directory). A change another process made to the directory meanwhile
// keeps the old mtime too (the directory's ctime still shows it).
class DirTimes
{
public:
  explicit DirTimes(int dirfd);
  DirTimes(const DirTimes&) = delete;
  DirTimes& operator=(const DirTimes&) = delete;
  ~DirTimes() { restore(); }
  void restore();

private:
  int m_dirfd;
  bool m_valid = false;
  struct timespec m_mtime = {};
};

}  // namespace pkgunify
