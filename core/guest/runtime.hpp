// SPDX-License-Identifier: GPL-2.0-or-later
// The host's runtime directory, /run/pkgunify (PKGUNIFY_RUNTIME_DIR names
// another): root's own, out of every guest's reach. It holds what pkgunify
// runs share with each other and with no guest:
//   locks/inode-NN  striped locks that keep two runs from lifting the same
//                   inode at once (never a lock on a file a guest can open)
//   lifted/PID-N    the lift journal: each thread's record of the inode it
//                   has lifted, so that the next run restores what a killed
//                   run left unprotected
#pragma once

#include "guest/protection.hpp"
#include "sys/error.hpp"
#include "sys/reporter.hpp"

#include <sys/stat.h>

#include <chrono>
#include <string>
#include <string_view>

namespace pkgunify {

// The directory's path (the environment read once).
const std::string& runtime_dir_path();

// Opens (creating it 0755, and locks/ and lifted/ 0700) the runtime
// directory once per process; callers that chroot later (the rpm plugin) call
// it before. Refuses a directory that is a symlink, not root's, or writable
// by others.
sys::Result<void> prepare_runtime_dir();

// How long a run waits for another run's lift of the same inode stripe.
inline constexpr std::chrono::seconds k_inode_lock_timeout{30};

// An exclusive lock of the stripe of inode (dev, ino): in this process (a
// mutex per stripe) and between processes (flock of locks/inode-NN). The wait
// is bounded; the error names the inode and the lock file.
class InodeLock
{
public:
  InodeLock() = default;
  InodeLock(const InodeLock&) = delete;
  InodeLock& operator=(const InodeLock&) = delete;
  InodeLock(InodeLock&& other) noexcept;
  InodeLock& operator=(InodeLock&& other) noexcept;
  ~InodeLock();

  static sys::Result<InodeLock> acquire(const struct stat& st, std::string_view display,
                                        std::chrono::milliseconds timeout = k_inode_lock_timeout);
  void release();

private:
  int m_stripe = -1;
};

// This thread's slot in the lift journal. record() before the protection is
// taken off, clear() after it is back (or the inode is meant to stay
// unprotected). At most one record per thread at a time.
namespace lift_journal {
sys::Result<void> record(int fd, Protection restore, std::string_view display);
void clear();
}  // namespace lift_journal

// Restores the protection of every inode that a run, dead now, recorded as
// lifted, and removes its records. Each restore is reported as a warning.
// Every pkgunify run does this first. Returns how many were restored.
unsigned recover_lifted(Reporter& reporter);

}  // namespace pkgunify
