// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/protection.hpp"

#include "guest/metadata.hpp"
#include "guest/runtime.hpp"
#include "sys/fs.hpp"
#include "sys/lease.hpp"
#include "sys/signals.hpp"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>
#include <utility>

namespace pkgunify {

namespace {

constexpr long k_vserver_syscall = 236;  // x86_64 __NR_vserver

constexpr std::uint32_t
vc_cmd(std::uint32_t category, std::uint32_t command, std::uint32_t version)
{
  return ((category & 0x3f) << 24) | ((command & 0xff) << 16) | (version & 0xfff);
}

constexpr std::uint32_t k_vcmd_get_version = vc_cmd(0, 0, 0);
constexpr std::uint32_t k_vcmd_fget_iattr = vc_cmd(38, 3, 0);
constexpr std::uint32_t k_vcmd_fset_iattr = vc_cmd(38, 4, 0);

struct VcmdCtxFiattrV0
{
  std::uint32_t tag;
  std::uint32_t flags;
  std::uint32_t mask;
};

class RealVserverKernel : public VserverKernel
{
public:
  sys::Result<void>
  probe() override
  {
    if (::syscall(k_vserver_syscall, k_vcmd_get_version, 0, nullptr) < 0) {
      return sys::fail_sys("vserver syscall", "(VCMD_get_version)");
    }
    return {};
  }

  sys::Result<std::uint32_t>
  get_iattr(int fd, std::string_view display) override
  {
    VcmdCtxFiattrV0 data{};
    if (::syscall(k_vserver_syscall, k_vcmd_fget_iattr, fd, &data) < 0) {
      return sys::fail_sys("get vserver attributes of", display);
    }
    return data.flags & data.mask;
  }

  sys::Result<void>
  set_iattr(int fd, std::uint32_t flags, std::uint32_t mask, std::string_view display) override
  {
    VcmdCtxFiattrV0 data{0, flags & mask, mask};
    if (::syscall(k_vserver_syscall, k_vcmd_fset_iattr, fd, &data) < 0) {
      return sys::fail_sys("set vserver attributes of", display);
    }
    return {};
  }
};

}  // namespace

std::unique_ptr<VserverKernel>
make_vserver_kernel()
{
  return std::make_unique<RealVserverKernel>();
}

sys::Result<unsigned>
get_inode_flags(int fd, std::string_view display)
{
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
    return sys::fail_sys("get inode flags of", display);
  }
  return static_cast<unsigned>(flags);
}

sys::Result<void>
set_inode_flags(int fd, unsigned flags, std::string_view display)
{
  int f = static_cast<int>(flags);
  if (::ioctl(fd, FS_IOC_SETFLAGS, &f) != 0) {
    return sys::fail_sys("set inode flags of", display);
  }
  return {};
}

std::string_view
to_string(Protection p)
{
  switch (p) {
  case Protection::none:
    return "none";
  case Protection::immutable:
    return "immutable";
  case Protection::iunlink:
    return "iunlink";
  }
  return "?";
}

Protection
protection_of(LinkMode mode)
{
  switch (mode) {
  case LinkMode::iunlink:
    return Protection::iunlink;
  case LinkMode::immutable:
    return Protection::immutable;
  default:
    return Protection::none;
  }
}

Protector::Protector(LinkMode mode, VserverKernel& vserver)
  : m_mode(mode)
  , m_vserver(vserver)
  , m_vserver_available(static_cast<bool>(vserver.probe()))
{}

sys::Result<Protection>
Protector::state(int fd, std::string_view display)
{
  if (m_vserver_available) {
    auto attrs = m_vserver.get_iattr(fd, display);
    if (!attrs) {
      return std::unexpected(attrs.error());
    }
    if ((*attrs & VserverKernel::k_immutable) && (*attrs & VserverKernel::k_iunlink)) {
      return Protection::iunlink;
    }
    if (*attrs & VserverKernel::k_immutable) {
      return Protection::immutable;
    }
  }
  auto flags = get_inode_flags(fd, display);
  if (!flags) {
    if (flags.error().code == ENOTTY || flags.error().code == EOPNOTSUPP) {
      return Protection::none;
    }
    return std::unexpected(flags.error());
  }
  return (*flags & FS_IMMUTABLE_FL) ? Protection::immutable : Protection::none;
}

sys::Result<void>
Protector::protect(int fd, std::string_view display)
{
  return apply(fd, wanted(), display);
}

namespace {

sys::Result<InodeLock>
lock_inode(int fd, std::string_view display)
{
  auto st = sys::fstat_fd(fd, display);
  if (!st) {
    return std::unexpected(st.error());
  }
  return InodeLock::acquire(*st, display);
}

}  // namespace

sys::Result<void>
Protector::protect_locked(int fd, std::string_view display)
{
  if (wanted() == Protection::none) {
    return {};
  }
  auto lock = lock_inode(fd, display);
  if (!lock) {
    return std::unexpected(lock.error());
  }
  return protect(fd, display);
}

sys::Result<bool>
Protector::protect_leased(int fd, const sys::ReadLease& lease, std::string_view display)
{
  auto lock = lock_inode(fd, display);
  if (!lock) {
    return std::unexpected(lock.error());
  }
  if (auto r = protect(fd, display); !r) {
    return std::unexpected(r.error());
  }
  if (lease.intact()) {
    return true;
  }
  if (auto r = clear(fd, display); !r) {
    return std::unexpected(r.error());
  }
  return false;
}

sys::Result<void>
Protector::apply(int fd, Protection p, std::string_view display)
{
  switch (p) {
  case Protection::none:
    return {};
  case Protection::iunlink: {
    const std::uint32_t bits = VserverKernel::k_immutable | VserverKernel::k_iunlink;
    return m_vserver.set_iattr(fd, bits, bits, display);
  }
  case Protection::immutable: {
    auto flags = get_inode_flags(fd, display);
    if (!flags) {
      return std::unexpected(flags.error());
    }
    if (*flags & FS_IMMUTABLE_FL) {
      return {};
    }
    return set_inode_flags(fd, *flags | FS_IMMUTABLE_FL, display);
  }
  }
  return {};
}

sys::Result<void>
Protector::clear(int fd, std::string_view display)
{
  if (m_vserver_available) {
    const std::uint32_t bits = VserverKernel::k_immutable | VserverKernel::k_iunlink;
    return m_vserver.set_iattr(fd, 0, bits, display);
  }
  auto flags = get_inode_flags(fd, display);
  if (!flags) {
    return std::unexpected(flags.error());
  }
  return set_inode_flags(fd, *flags & ~static_cast<unsigned>(FS_IMMUTABLE_FL), display);
}

struct LiftState
{
  InodeLock lock;
  sys::ReadLease lease;
  std::optional<FileMeta> before;
  sys::LiftWindow window;
  bool journaled = false;
};

namespace {

// Before a protected inode is lifted: its metadata noted, a read lease (no
// writer now, and a broken lease tells of any later one), the journal
// record, the window that holds termination signals back.
sys::Result<void>
open_window(int fd, Protection restore, std::string_view display, LiftState& state)
{
  auto meta = read_metadata(fd, display);
  if (!meta) {
    return std::unexpected(meta.error());
  }
  state.before = std::move(*meta);
  // Another pkgunify run may hold a new object open for writing for a
  // moment (its copy, just published): wait for that, bounded; a guest
  // process that holds it longer is refused.
  auto lease = sys::ReadLease::take(fd, display);
  for (int wait_ms = 1; !lease && lease.error().code == EAGAIN && wait_ms <= 512; wait_ms *= 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    lease = sys::ReadLease::take(fd, display);
  }
  if (!lease) {
    if (lease.error().code == EAGAIN) {
      return sys::fail(lease.error().message + ": its protection is not lifted while a process can write to it",
                       EAGAIN);
    }
    return sys::fail(lease.error().message
                       + " (pkgunify lifts a shared file's protection only under a read lease; "
                         "fs.leases-enable must be 1)",
                     lease.error().code);
  }
  state.lease = std::move(*lease);
  if (auto r = lift_journal::record(fd, restore, display); !r) {
    return r;
  }
  state.journaled = true;
  auto window = sys::LiftWindow::open();
  if (!window) {
    return std::unexpected(window.error());
  }
  state.window = std::move(*window);
  return {};
}

std::string
describe_change(const FileMeta& a, const FileMeta& b)
{
  auto octal = [](std::uint32_t m) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", m);
    return std::string(buf);
  };
  std::string out;
  auto add = [&](const std::string& what) { out += (out.empty() ? "" : ", ") + what; };
  if (a.mode != b.mode) {
    add("mode " + octal(a.mode) + " -> " + octal(b.mode));
  }
  if (a.uid != b.uid || a.gid != b.gid) {
    add("owner " + std::to_string(a.uid) + ":" + std::to_string(a.gid) + " -> " + std::to_string(b.uid) + ":"
        + std::to_string(b.gid));
  }
  if (a.size != b.size) {
    add("size " + std::to_string(a.size) + " -> " + std::to_string(b.size));
  }
  if (a.mtime_sec != b.mtime_sec || a.mtime_nsec != b.mtime_nsec) {
    add("mtime");
  }
  if (a.xattrs != b.xattrs) {
    add("extended attributes");
  }
  return out;
}

// Puts `before` back on an unprotected inode: extra xattrs removed, owner,
// xattrs, mode and mtime set.
sys::Result<void>
repair_metadata(int fd, const FileMeta& before, const FileMeta& now, std::string_view display)
{
  for (const auto& [name, value] : now.xattrs) {
    const bool kept = std::ranges::any_of(before.xattrs, [&](const auto& x) { return x.first == name; });
    if (!kept && ::fremovexattr(fd, name.c_str()) != 0 && errno != ENODATA) {
      return sys::fail_sys("remove extended attribute " + name + " of", display);
    }
  }
  return apply_metadata(fd, before, display);
}

}  // namespace

sys::Result<ProtectionGuard>
Protector::lift(int fd, std::string_view display, Lock lock)
{
  auto window = std::make_unique<pkgunify::LiftState>();
  if (lock == Lock::exclusive) {
    auto st = sys::fstat_fd(fd, display);
    auto l = st ? InodeLock::acquire(*st, display) : sys::Result<InodeLock>(std::unexpected(st.error()));
    if (!l) {
      return std::unexpected(l.error());
    }
    window->lock = std::move(*l);
  }
  auto current = this->state(fd, display);
  if (!current) {
    return std::unexpected(current.error());
  }
  if (*current != Protection::none) {
    auto opened = open_window(fd, *current, display, *window);
    auto cleared = opened ? clear(fd, display) : opened;
    if (!cleared) {
      if (window->journaled) {
        lift_journal::clear();
      }
      return std::unexpected(cleared.error());
    }
  }
  return ProtectionGuard(*this, fd, std::string(display), *current, std::move(window));
}

ProtectionGuard::ProtectionGuard(Protector& protector, int fd, std::string display, Protection lifted,
                                 std::unique_ptr<LiftState> state)
  : m_protector(&protector)
  , m_fd(fd)
  , m_display(std::move(display))
  , m_lifted(lifted)
  , m_restore(lifted)
  , m_state(std::move(state))
{}

ProtectionGuard::ProtectionGuard(ProtectionGuard&& other) noexcept
  : m_protector(other.m_protector)
  , m_fd(other.m_fd)
  , m_display(std::move(other.m_display))
  , m_lifted(other.m_lifted)
  , m_restore(other.m_restore)
  , m_state(std::move(other.m_state))
  , m_done(std::exchange(other.m_done, true))
{}

ProtectionGuard::~ProtectionGuard()
{
  (void)restore();
}

sys::Result<void>
ProtectionGuard::restore_as(Protection p)
{
  m_restore = p;
  if (!m_state || m_done) {
    return {};
  }
  if (m_state->journaled) {
    return lift_journal::record(m_fd, p, m_display);
  }
  if (p == Protection::none) {
    return {};
  }
  auto opened = open_window(m_fd, p, m_display, *m_state);
  if (!opened && m_state->journaled) {
    lift_journal::clear();
    m_state->journaled = false;
  }
  return opened;
}

// Ends the window: journal record, lease, signals, lock, in that order (a
// termination signal that waited ends the process when the window closes).
static void
finish(LiftState* state)
{
  if (state == nullptr) {
    return;
  }
  if (state->journaled) {
    lift_journal::clear();
    state->journaled = false;
  }
  state->lease.release();
  state->window.close();
  state->lock.release();
}

void
ProtectionGuard::leave_lifted()
{
  m_done = true;
  finish(m_state.get());
}

sys::Result<LiftCheck>
ProtectionGuard::check_window()
{
  LiftCheck c;
  c.opened_for_writing = m_state->lease.held() && !m_state->lease.intact();
  if (c.opened_for_writing) {
    c.detail = "opened for writing";
  }
  const FileMeta& before = *m_state->before;
  for (int attempt = 0;; ++attempt) {
    auto now = read_metadata(m_fd, m_display);
    if (!now) {
      return std::unexpected(now.error());
    }
    if (*now == before) {
      c.repaired = c.metadata_changed;
      return c;
    }
    if (!c.metadata_changed) {
      c.metadata_changed = true;
      c.detail += (c.detail.empty() ? "" : "; ") + describe_change(before, *now);
    }
    if (attempt == 3) {
      return c;
    }
    auto r = m_protector->clear(m_fd, m_display);
    if (r) {
      r = repair_metadata(m_fd, before, *now, m_display);
    }
    if (auto a = m_protector->apply(m_fd, m_restore, m_display); !a) {
      return std::unexpected(a.error());
    }
    if (!r) {
      // A guest racing the repair (its change again while it was lifted)
      // makes it fail too: look and repair again; what is still changed
      // after the last attempt is not repaired, so the inode is tainted.
      c.detail += " (" + r.error().message + ")";
    }
  }
}

sys::Result<LiftCheck>
ProtectionGuard::restore(const OnTainted& on_tainted)
{
  if (m_done) {
    return LiftCheck{};
  }
  m_done = true;
  auto applied = m_protector->apply(m_fd, m_restore, m_display);
  sys::Result<LiftCheck> check = LiftCheck{};
  if (applied && m_state && m_state->before && m_restore != Protection::none) {
    check = check_window();
    if (check && check->tainted() && on_tainted && m_protector->clear(m_fd, m_display)) {
      on_tainted(*check);
      applied = m_protector->apply(m_fd, m_restore, m_display);
      // Moving it to quarantine lifted the protection once more, and the
      // other guests' names are still the inode's: what was changed in that
      // window is put back too.
      if (applied) {
        if (auto again = check_window(); !again) {
          applied = std::unexpected(again.error());
        } else {
          check->metadata_changed = check->metadata_changed || again->metadata_changed;
        }
      }
    }
  }
  finish(m_state.get());
  if (!applied) {
    return std::unexpected(applied.error());
  }
  return check;
}

sys::Result<void>
probe_immutable_flag(int fd, std::string_view display)
{
  auto flags = get_inode_flags(fd, display);
  if (!flags) {
    return std::unexpected(flags.error());
  }
  if (auto set = set_inode_flags(fd, *flags | FS_IMMUTABLE_FL, display); !set) {
    return set;
  }
  return set_inode_flags(fd, *flags, display);
}

}  // namespace pkgunify
