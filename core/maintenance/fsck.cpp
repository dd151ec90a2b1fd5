// SPDX-License-Identifier: GPL-2.0-or-later
#include "maintenance/fsck.hpp"

#include "engine/scanner.hpp"
#include "guest/metadata.hpp"
#include "maintenance/internal/lifter.hpp"
#include "sys/fs.hpp"
#include "sys/lease.hpp"
#include "sys/read.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pkgunify {

namespace {

// What fsck does with a corrupt object.
enum class Repair : std::uint8_t { report, quarantine };

// The object's name does not say which identity kind made it: one read
// feeds a hasher of each kind.
class AnyIdentity
{
public:
  explicit AnyIdentity(const FileMeta& meta)
  {
    m_full.start(meta, IdentityKind::full);
    m_no_mtime.start(meta, IdentityKind::ignore_mtime);
    m_content.start(meta, IdentityKind::content_only);
  }

  void
  update(const char* data, std::size_t size)
  {
    m_full.update(data, size);
    m_no_mtime.update(data, size);
    m_content.update(data, size);
  }

  // True when the content read, under some kind, has identity `id`.
  bool
  matches(const ObjectId& id)
  {
    return m_full.finish() == id || m_no_mtime.finish() == id || m_content.finish() == id;
  }

private:
  IdentityHasher m_full;
  IdentityHasher m_no_mtime;
  IdentityHasher m_content;
};

// The metadata of the open object `fd`; fails on a non-regular file.
sys::Result<FileMeta>
read_meta(int fd, const std::string& display)
{
  auto meta = read_metadata(fd, display);
  if (!meta) {
    return meta;
  }
  // FileMeta keeps the permission bits only: the type needs its own look.
  auto st = sys::fstat_fd(fd, display);
  if (!st) {
    return std::unexpected(st.error());
  }
  if (!S_ISREG(st->st_mode)) {
    return sys::fail(display + ": not a regular file");
  }
  return meta;
}

// One fsck run. Workers check a fan-out directory each at a time; the
// mutex guards the result, the reporter and the lifter.
class Fsck
{
public:
  Fsck(const Store& store, Repair repair, Reporter& reporter, VserverKernel* vserver)
    : m_store(store)
    , m_repair(repair)
    , m_reporter(reporter)
    , m_lifter(vserver)
  {}

  FsckResult
  run(unsigned jobs)
  {
    const unsigned n = jobs ? jobs : default_scan_jobs();
    std::atomic<unsigned> next{0};
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < n; ++t) {
      threads.emplace_back([&] { work(next); });
    }
    for (auto& thread : threads) {
      thread.join();
    }
    return m_result;
  }

private:
  void
  work(std::atomic<unsigned>& next)
  {
    std::vector<char> buffer(sys::k_chunk_size);
    for (unsigned f; (f = next.fetch_add(1)) < 256;) {
      try {
        check_fanout(f, buffer);
      } catch (const std::exception& e) {
        fail(e.what());
      }
    }
  }

  void
  check_fanout(unsigned f, std::vector<char>& buffer)
  {
    m_store.for_each_object(
      f, [&](const std::string&, const ObjectId& id, unsigned successor) { check_object(id, successor, buffer); },
      [&](const std::string& name) {
        std::lock_guard lock(m_mu);
        ++m_result.stray;
        m_reporter.warning(m_store.object_path(f, name) + ": not an object (stray entry)");
      });
  }

  void
  check_object(const ObjectId& id, unsigned successor, std::vector<char>& buffer)
  {
    const std::string display = m_store.object_path(id, successor);
    auto fd = m_store.open_object(id, successor);
    if (!fd) {
      if (fd.error().code != ENOENT) {
        fail(fd.error().message);
      }
      return;
    }
    auto meta = read_meta(fd->get(), display);
    if (!meta) {
      fail(meta.error().message);
      return;
    }
    AnyIdentity identity(*meta);
    auto bytes = sys::read_chunks(
      fd->get(), buffer,
      [&](const char* data, std::size_t size) -> sys::Result<void> {
        identity.update(data, size);
        return {};
      },
      display);
    if (!bytes) {
      fail(bytes.error().message);
      return;
    }
    const std::string held = held_for_writing(fd->get(), display);
    const bool intact = identity.matches(id) && held.empty();
    std::lock_guard lock(m_mu);
    ++m_result.checked;
    m_result.bytes_read += *bytes;
    if (intact) {
      return;
    }
    ++m_result.corrupt;
    m_reporter.error(held.empty() ? display + ": content or metadata do not match the object's name" : held);
    if (m_repair == Repair::quarantine) {
      quarantine(fd->get(), id, successor, display);
    }
  }

  // A protected object that some process holds open for writing (it got
  // in while the protection was lifted): it cannot be trusted to keep its
  // content, and no run lifts it meanwhile. "" when it is not.
  std::string
  held_for_writing(int fd, const std::string& display)
  {
    auto state = m_lifter.protector.state(fd, display);
    if (!state || *state == Protection::none) {
      return {};
    }
    auto lease = sys::ReadLease::take(fd, display);
    if (lease || lease.error().code != EAGAIN) {
      return {};
    }
    return lease.error().message + ", though it is protected: the guests linked to it can no longer trust it";
  }

  // Moves the corrupt object `fd` aside; the mutex is held. A protected
  // inode's names cannot be moved: lift, move, protect again (the guests
  // linked to it keep their files and their protection).
  void
  quarantine(int fd, const ObjectId& id, unsigned successor, const std::string& display)
  {
    auto lifted = m_lifter.protector.lift(fd, display, Protector::Lock::none);
    if (!lifted) {
      count_error(lifted.error().message);
      return;
    }
    if (auto moved = m_store.quarantine(id, successor)) {
      ++m_result.quarantined;
      m_reporter.warning(display + ": moved to " + *moved + " (guests linked to it keep their files)");
    } else {
      count_error(moved.error().message);
    }
    if (auto r = lifted->restore(); !r) {
      count_error(r.error().message);
    }
  }

  void
  fail(const std::string& message)
  {
    std::lock_guard lock(m_mu);
    count_error(message);
  }

  // The mutex is held.
  void
  count_error(const std::string& message)
  {
    ++m_result.errors;
    m_reporter.error(message);
  }

  const Store& m_store;
  const Repair m_repair;
  Reporter& m_reporter;
  Lifter m_lifter;
  std::mutex m_mu;
  FsckResult m_result;
};

}  // namespace

FsckResult
store_fsck(const Store& store, bool repair, unsigned jobs, Reporter& reporter, VserverKernel* vserver)
{
  return Fsck(store, repair ? Repair::quarantine : Repair::report, reporter, vserver).run(jobs);
}

}  // namespace pkgunify
