// SPDX-License-Identifier: GPL-2.0-or-later
// Link mode reflink: the file keeps its inode and shares its extents with
// the object (btrfs, XFS). It is hashed where it is; only a file whose
// object is new is cloned into a temporary store file, and that clone (which
// the guest cannot change) is hashed once more before it may become the
// object. A file whose object exists is shared with it through
// FIDEDUPERANGE, which compares the bytes in the kernel, so a file that
// changed after it was hashed is never shared.
#include "engine/internal/scan_context.hpp"
#include "sys/fs.hpp"
#include "sys/read.hpp"
#include "sys/reflink.hpp"

#include <fcntl.h>

#include <unordered_set>

namespace pkgunify::scan {

namespace {

class ReflinkStrategy : public LinkStrategy
{
public:
  explicit ReflinkStrategy(Context& ctx) : LinkStrategy(ctx) {}

  std::unique_ptr<Prepared> prepare(std::size_t begin, std::size_t end, std::vector<char>& buffer) override;
  void
  fix_protection(Prepared& /*p*/) override
  {}

private:
  bool clone_new_object(Prepared& p, int fd, std::vector<char>& buffer);
  void commit_dry_run(Prepared& p) override;
  void commit_locked(Prepared& p) override;
  void share_extents(Prepared& p);

  // Hashes every byte of `fd` with the content-only identity of `meta`.
  sys::Result<std::pair<ObjectId, std::uint64_t>>
  hash(int fd, const FileMeta& meta, std::vector<char>& buffer, std::string_view display) const
  {
    IdentityHasher hasher;
    hasher.start(meta, m_ctx.kind);
    auto n = sys::read_chunks(
      fd, buffer,
      [&](const char* data, std::size_t size) -> sys::Result<void> {
        hasher.update(data, size);
        return {};
      },
      display);
    if (!n) {
      return std::unexpected(n.error());
    }
    return std::pair{hasher.finish(), *n};
  }

  std::unordered_set<std::string> m_dry_created;
};

std::unique_ptr<Prepared>
ReflinkStrategy::prepare(std::size_t begin, std::size_t end, std::vector<char>& buffer)
{
  auto p = std::make_unique<Prepared>();
  p->begin = begin;
  p->end = end;
  sys::Fd fd = open_candidate(m_ctx, *p);
  if (!fd) {
    return p;
  }
  const std::string disp = m_ctx.display(m_ctx.candidates[begin]);
  auto sharing = sys::extent_sharing(fd.get(), disp);
  if (sharing && sharing->extents > 0 && sharing->shared == sharing->extents && sharing->inline_or_unknown == 0) {
    p->outcome = Outcome::already;  // every extent is shared already
    return p;
  }
  p->was_shared = sharing && sharing->shared > 0;
  const struct stat st = p->st;
  p->meta = FileMeta{};
  p->meta.size = static_cast<std::uint64_t>(st.st_size);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  auto id = hash(fd.get(), p->meta, buffer, disp);
  if (!id) {
    p->reason = id.error().message;
    return p;
  }
  p->bytes_read = p->meta.size;
  auto st2 = sys::fstat_fd(fd.get(), disp);
  if (!st2) {
    p->reason = st2.error().message;
    return p;
  }
  if (id->second != p->meta.size || !sys::same_file_state(st, *st2)) {
    p->skip("changed");
    return p;
  }
  p->id = id->first;
  if (!clone_new_object(*p, fd.get(), buffer)) {
    return p;
  }
  p->fd = std::move(fd);
  p->outcome = Outcome::ready;
  return p;
}

// A new object: the clone, hashed again, waits unpublished in p.tmp.
bool
ReflinkStrategy::clone_new_object(Prepared& p, int fd, std::vector<char>& buffer)
{
  const Store& store = m_ctx.store;
  auto existing = store.stat_object(p.id, 0);
  if (!existing) {
    p.reason = existing.error().message;
    return false;
  }
  if (existing->has_value() || m_ctx.opt.dry_run) {
    return true;
  }
  const std::string disp = m_ctx.display(m_ctx.candidates[p.begin]);
  auto tmp = store.make_temp();
  if (!tmp) {
    p.reason = tmp.error().message;
    return false;
  }
  if (auto r = sys::clone_file(fd, tmp->get(), disp); !r) {
    p.reason = r.error().message;
    return false;
  }
  auto again = hash(tmp->get(), p.meta, buffer, store.path() + "/tmp (clone of " + disp + ")");
  if (!again) {
    p.reason = again.error().message;
    return false;
  }
  p.bytes_read += again->second;
  if (again->first != p.id || again->second != p.meta.size) {
    p.skip("changed");  // written to between the hash and the clone
    return false;
  }
  p.tmp = std::move(*tmp);
  p.publishes = true;
  return true;
}

void
ReflinkStrategy::commit_dry_run(Prepared& p)
{
  const Candidate& c = m_ctx.candidates[p.begin];
  auto ost = m_ctx.store.stat_object(p.id, 0);
  m_ctx.stats.linked += p.count();
  if ((ost && ost->has_value()) || m_dry_created.contains(p.id.hex())) {
    m_ctx.stats.bytes_saved += p.was_shared ? 0 : static_cast<std::int64_t>(c.size);
  } else {
    m_dry_created.insert(p.id.hex());
    ++m_ctx.stats.objects_created;
  }
}

// Publishes the clone as the object if it is new, else lets the kernel
// compare and share the file's extents with the object.
void
ReflinkStrategy::commit_locked(Prepared& p)
{
  if (p.tmp) {
    auto pub = m_ctx.store.publish(p.tmp.get(), p.id, 0);
    if (!pub) {
      m_ctx.fail(pub.error().message, p.count());
      return;
    }
    if (*pub) {
      // The object is a clone of this very file: they share every extent.
      ++m_ctx.stats.objects_created;
      m_ctx.stats.linked += p.count();
      return;
    }
  }
  share_extents(p);
}

void
ReflinkStrategy::share_extents(Prepared& p)
{
  const Store& store = m_ctx.store;
  const Candidate& c = m_ctx.candidates[p.begin];
  const std::string opath = store.object_path(p.id, 0);
  auto obj = store.open_object(p.id, 0);
  if (!obj) {
    if (obj.error().code == ENOENT) {
      m_ctx.skip("store-busy", p.count());
    } else {
      m_ctx.fail(obj.error().message, p.count());
    }
    return;
  }
  auto ost = sys::fstat_fd(obj->get(), opath);
  if (!ost || static_cast<std::uint64_t>(ost->st_size) != p.meta.size) {
    m_ctx.fail(opath + ": object does not match its name; run 'pkgunify store fsck' (needed for " + m_ctx.display(c)
                 + ")",
               p.count());
    return;
  }
  auto r = sys::dedupe_file(obj->get(), p.fd.get(), p.meta.size, m_ctx.display(c));
  if (!r) {
    m_ctx.fail(r.error().message, p.count());
    return;
  }
  if (*r == sys::DedupeResult::differs) {
    m_ctx.skip("changed", p.count());
    return;
  }
  m_ctx.stats.linked += p.count();
  if (!p.was_shared) {
    m_ctx.stats.bytes_saved += static_cast<std::int64_t>(c.size);
  }
}

}  // namespace

std::unique_ptr<LinkStrategy>
make_reflink_strategy(Context& ctx)
{
  return std::make_unique<ReflinkStrategy>(ctx);
}

}  // namespace pkgunify::scan
