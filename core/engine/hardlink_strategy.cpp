// SPDX-License-Identifier: GPL-2.0-or-later
// Link modes hardlink, immutable and iunlink: every candidate becomes a hard
// link to its object (guest/exchange.hpp does the replacement), and the
// object carries the mode's protection (guest/protection.hpp lifts it while
// a link is added).
#include "engine/internal/object_safety.hpp"
#include "engine/internal/scan_context.hpp"
#include "guest/exchange.hpp"
#include "guest/metadata.hpp"
#include "guest/runtime.hpp"
#include "guest/temp_name.hpp"
#include "sys/fs.hpp"
#include "sys/lease.hpp"
#include "sys/lock.hpp"
#include "sys/read.hpp"
#include "sys/xattr.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <unordered_set>

namespace pkgunify::scan {

namespace {

// Files up to this size are kept in memory while hashed and written to the
// store when their object turns out to be new; larger ones are read again
// then (copy_checked). Most objects exist already (another guest's copy of
// the file made them): a copy made during the read was mostly thrown away.
constexpr std::size_t k_buffer_max = 1 << 20;

bool
same_content_state(const struct stat& a, const struct stat& b)
{
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec
         && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

enum class LinkResult { linked, already, emlink, changed, failed, eperm, tampered };

LinkResult
link_result(ExchangeResult r)
{
  switch (r) {
  case ExchangeResult::exchanged:
    return LinkResult::linked;
  case ExchangeResult::changed:
    return LinkResult::changed;
  case ExchangeResult::not_permitted:
    return LinkResult::eperm;
  case ExchangeResult::link_limit:
    return LinkResult::emlink;
  case ExchangeResult::failed:
    break;
  }
  return LinkResult::failed;
}

class HardlinkStrategy : public LinkStrategy
{
public:
  explicit HardlinkStrategy(Context& ctx) : LinkStrategy(ctx) {}

  std::unique_ptr<Prepared> prepare(std::size_t begin, std::size_t end, std::vector<char>& buffer) override;
  void fix_protection(Prepared& p) override;

private:
  // prepare()
  bool read_and_hash(Prepared& p, int fd, std::vector<char>& buffer);
  bool stage_new_object(Prepared& p, std::vector<char>& buffer);
  // commit()
  void commit_dry_run(Prepared& p) override;
  void commit_locked(Prepared& p) override;
  enum class Made { again, stop };
  Made make_object(Prepared& p, unsigned successor, std::size_t i, bool& adopted);
  Made adopt(Prepared& p, std::size_t i, bool& adopted);
  Made copy_instead(Prepared& p, std::size_t i);
  void link_group(Prepared& p);
  LinkResult link_protected(const Candidate& c, Prepared& p, unsigned successor, const struct stat& ost);
  LinkResult link_path(const Candidate& c, Prepared& p, unsigned successor, const struct stat& ost);
  LinkResult link_object_as(int dirfd, const std::string& tmpname, const ObjectId& id, unsigned successor,
                            const std::string& display);
  sys::Result<void> create_successor(const ObjectId& id, unsigned successor);
  bool object_matches(const struct stat& ost, const FileMeta& meta) const;
  void count_link(const Candidate& c, const Prepared& p);

  std::unordered_set<std::string> m_dry_created;  // dry run: objects it would create
  Staging m_staging;                              // new objects being copied
};

std::unique_ptr<Prepared>
HardlinkStrategy::prepare(std::size_t begin, std::size_t end, std::vector<char>& buffer)
{
  auto p = std::make_unique<Prepared>();
  p->begin = begin;
  p->end = end;
  const Candidate& c = m_ctx.candidates[begin];
  if (const auto known = m_ctx.known_object(c); known != Context::Known::no) {
    p->outcome = known == Context::Known::linked ? Outcome::already : Outcome::fix_protection;
    return p;
  }
  if (c.immutable) {
    p->skip("immutable");  // protected by someone else (chattr +i in the guest): leave it
    return p;
  }
  sys::Fd fd = open_candidate(m_ctx, *p);
  if (!fd) {
    return p;
  }
  // Adopting makes the guest's inode the object (and protects it): only
  // when every name of that inode is one this scan links. A hard link to a
  // file outside the roots, or to an excluded one, is copied instead.
  p->adopt = m_ctx.opt.policy.create == CreateMode::adopt && p->st.st_nlink <= p->count();
  if (!read_and_hash(*p, fd.get(), buffer)) {
    return p;
  }
  p->fd = std::move(fd);
  if (!m_ctx.opt.dry_run && !stage_new_object(*p, buffer)) {
    return p;
  }
  p->outcome = Outcome::ready;
  return p;
}

// Reads the file once, hashing it; a file of up to k_buffer_max bytes that
// may become a copy stays in `buffer`. False with p's outcome set.
bool
HardlinkStrategy::read_and_hash(Prepared& p, int fd, std::vector<char>& buffer)
{
  const std::string disp = m_ctx.display(m_ctx.candidates[p.begin]);
  const auto size = static_cast<std::uint64_t>(p.st.st_size);
  const bool buffered = !p.adopt && !m_ctx.opt.dry_run && size <= k_buffer_max;
  IdentityHasher hasher;
  hasher.start(p.meta, m_ctx.kind);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  sys::Result<std::uint64_t> total = 0;
  if (buffered) {
    buffer.resize(std::max<std::size_t>(buffer.size(), size + 1));
    total = sys::read_full(fd, buffer.data(), size + 1, disp);
    if (total) {
      hasher.update(buffer.data(), *total);
    }
  } else {
    total = sys::read_chunks(
      fd, buffer,
      [&](const char* data, std::size_t n) -> sys::Result<void> {
        hasher.update(data, n);
        return {};
      },
      disp, size + 1);
  }
  if (!total) {
    p.reason = total.error().message;
    return false;
  }
  p.bytes_read = *total;
  auto st2 = sys::fstat_fd(fd, disp);
  if (!st2) {
    p.reason = st2.error().message;
    return false;
  }
  if (*total != size || !sys::same_file_state(p.st, *st2)) {
    p.skip("changed");
    return false;
  }
  p.id = hasher.finish();
  return true;
}

// Looks the object up. A new object, unless another work item makes it
// (p.follows), gets its copy: content (from `buffer`, or read again and
// checked) and metadata, unpublished, in p.tmp.
bool
HardlinkStrategy::stage_new_object(Prepared& p, std::vector<char>& buffer)
{
  const Store& store = m_ctx.store;
  auto existing = store.stat_object(p.id, 0);
  if (!existing) {
    p.reason = existing.error().message;
    return false;
  }
  p.publishes = !existing->has_value();
  if (p.adopt || !p.publishes) {
    return true;
  }
  auto claim = m_staging.claim(p.id);
  if (!claim) {
    p.follows = true;
    return true;
  }
  const std::string disp = m_ctx.display(m_ctx.candidates[p.begin]);
  if (p.bytes_read > k_buffer_max) {
    auto copy = copy_checked(store, p.fd.get(), p.meta, m_ctx.kind, p.id, disp, buffer);
    if (!copy) {
      p.reason = copy.error().message;
      return false;
    }
    if (!*copy) {
      p.skip("changed");
      return false;
    }
    p.tmp = std::move(**copy);
  } else {
    auto tmp = store.make_temp();
    if (!tmp) {
      p.reason = tmp.error().message;
      return false;
    }
    auto w = sys::write_sparse(tmp->get(), buffer.data(), p.bytes_read, 0, store.path() + "/tmp");
    if (w && ::ftruncate(tmp->get(), static_cast<off_t>(p.bytes_read)) != 0) {
      w = std::unexpected(sys::sys_error("write", store.path() + "/tmp"));
    }
    if (w) {
      w = apply_metadata(tmp->get(), p.meta, store.path() + "/tmp (new object for " + disp + ")");
    }
    if (!w) {
      p.reason = w.error().message;
      return false;
    }
    p.tmp = std::move(*tmp);
  }
  p.bytes_copied = p.bytes_read;
  p.claim = std::move(*claim);
  return true;
}

// What commit() would count, without changing anything: a new object made
// from the group's file (adopt: the file itself, whose every name then
// counts as linked and frees nothing), then each name linked; the replaced
// inode is freed once its last name is linked, when all its names are in
// the group.
void
HardlinkStrategy::commit_dry_run(Prepared& p)
{
  auto ost = m_ctx.store.stat_object(p.id, 0);
  const bool stored = ost && ost->has_value();
  const Candidate& first = m_ctx.candidates[p.begin];
  if (!stored && !m_dry_created.contains(p.id.hex())) {
    m_dry_created.insert(p.id.hex());
    ++m_ctx.stats.objects_created;
    if (p.adopt) {
      m_ctx.stats.linked += p.count();
      return;
    }
    m_ctx.stats.bytes_saved -= static_cast<std::int64_t>(first.size);
  }
  std::size_t linked = 0;
  for (std::size_t i = p.begin; i < p.end; ++i) {
    if (stored && (*ost)->st_ino == m_ctx.candidates[i].ino) {
      ++m_ctx.stats.already_linked;
    } else {
      ++m_ctx.stats.linked;
      ++linked;
    }
  }
  if (linked > 0 && first.nlink <= linked) {
    m_ctx.stats.bytes_saved += static_cast<std::int64_t>(first.size);
  }
}

void
HardlinkStrategy::commit_locked(Prepared& p)
{
  link_group(p);
}

// The object (id, successor) does not exist: publish the new copy, adopt
// the guest's inode, or make the successor. `again`: look it up again.
HardlinkStrategy::Made
HardlinkStrategy::make_object(Prepared& p, unsigned successor, std::size_t i, bool& adopted)
{
  const Store& store = m_ctx.store;
  sys::Result<bool> pub = false;
  if (p.tmp) {
    pub = store.publish(p.tmp.get(), p.id, successor);
    if (pub && *pub) {
      ++m_ctx.stats.objects_created;
      m_ctx.stats.bytes_saved -= static_cast<std::int64_t>(sys::counted_size(p.st));
      p.tmp.close();
    }
  } else if (p.adopt && successor == 0 && p.publishes) {
    return adopt(p, i, adopted);
  } else if (successor > 0) {
    if (auto s = create_successor(p.id, successor); !s) {
      m_ctx.fail(s.error().message, p.end - i);
      return Made::stop;
    }
  } else if (p.follows) {
    // The work item that made this object did not publish it (the file
    // changed, or it comes later): a copy of this file's own.
    return copy_instead(p, i);
  } else {
    // The object existed when the file was hashed and gc removed it since;
    // the next run will link this file.
    m_ctx.skip("store-busy", p.end - i);
    return Made::stop;
  }
  if (!pub) {
    m_ctx.fail(pub.error().message, p.end - i);
    return Made::stop;
  }
  return Made::again;
}

// Makes the guest's inode the object only under a read lease (nobody held
// it open for writing until it was protected); else a checked copy.
HardlinkStrategy::Made
HardlinkStrategy::adopt(Prepared& p, std::size_t i, bool& adopted)
{
  const Store& store = m_ctx.store;
  const std::string disp = m_ctx.display(m_ctx.candidates[p.begin]);
  sys::ReadLease lease;
  if (m_ctx.protector.wanted() != Protection::none) {
    auto l = sys::ReadLease::take(p.fd.get(), disp);
    if (!l) {
      m_ctx.reporter.warning(l.error().message + ": its object is a copy, not the file itself");
      return copy_instead(p, i);
    }
    lease = std::move(*l);
  }
  // p.publishes: a syncfs made this inode durable before commit; the same
  // ctime proves that its content is what was hashed.
  struct stat now;
  if (::fstat(p.fd.get(), &now) != 0 || !sys::same_file_state(now, p.st)) {
    m_ctx.skip("changed", p.end - i);
    return Made::stop;
  }
  auto pub = store.publish(p.fd.get(), p.id, 0);
  if (!pub) {
    m_ctx.fail(pub.error().message, p.end - i);
    return Made::stop;
  }
  if (!*pub) {
    return Made::again;
  }
  if (lease.held()) {
    auto proven = m_ctx.protector.protect_leased(p.fd.get(), lease, store.object_path(p.id, 0));
    if (!proven || !*proven) {
      (void)store.remove_object(p.id, 0);
      if (!proven) {
        m_ctx.fail(proven.error().message, p.end - i);
        return Made::stop;
      }
      m_ctx.reporter.warning(disp + ": opened for writing while it was being adopted: its object is a copy");
      return copy_instead(p, i);
    }
  }
  ++m_ctx.stats.objects_created;
  adopted = true;
  return Made::again;
}

// A checked copy made at commit: of a file someone writes to (adopt), or
// of one whose object another work item did not publish (p.follows). It
// is linked at once, not after the pipeline's syncfs, so it is made durable
// on its own first.
HardlinkStrategy::Made
HardlinkStrategy::copy_instead(Prepared& p, std::size_t i)
{
  const std::string disp = m_ctx.display(m_ctx.candidates[p.begin]);
  std::vector<char> buffer;
  auto copy = copy_checked(m_ctx.store, p.fd.get(), p.meta, m_ctx.kind, p.id, disp, buffer);
  if (!copy) {
    m_ctx.fail(copy.error().message, p.end - i);
    return Made::stop;
  }
  if (!*copy) {
    m_ctx.skip("changed", p.end - i);
    return Made::stop;
  }
  if (::fdatasync((*copy)->get()) != 0) {
    m_ctx.fail(sys::sys_error("write", m_ctx.store.path() + "/tmp (new object for " + disp + ")").message, p.end - i);
    return Made::stop;
  }
  m_ctx.stats.bytes_copied += p.meta.size;
  p.adopt = false;
  p.follows = false;
  p.tmp = std::move(**copy);
  return Made::again;
}

// Links every path of the group to the object, moving on to a successor
// when the object reaches the link limit.
void
HardlinkStrategy::link_group(Prepared& p)
{
  const Store& store = m_ctx.store;
  unsigned successor = 0;
  bool adopted = false;
  for (std::size_t i = p.begin; i < p.end;) {
    const Candidate& c = m_ctx.candidates[i];
    auto ost = store.stat_object(p.id, successor);
    if (!ost) {
      m_ctx.fail(ost.error().message + " (for " + m_ctx.display(c) + ")");
      ++i;
      continue;
    }
    if (!ost->has_value()) {
      if (make_object(p, successor, i, adopted) == Made::stop) {
        return;
      }
      continue;  // look the (now existing) object up again
    }
    const struct stat& objst = **ost;
    if (!object_matches(objst, p.meta)) {
      m_ctx.fail(store.object_path(p.id, successor)
                   + ": object does not match its name (metadata changed); run 'pkgunify store fsck' (needed for "
                   + m_ctx.display(c) + ")",
                 p.end - i);
      return;
    }
    switch (link_protected(c, p, successor, objst)) {
    case LinkResult::linked:
      count_link(c, p);
      ++i;
      break;
    case LinkResult::already:
      ++(adopted && c.ino == objst.st_ino ? m_ctx.stats.linked : m_ctx.stats.already_linked);
      ++i;
      break;
    case LinkResult::emlink:
      ++successor;
      break;
    case LinkResult::changed:
      m_ctx.skip("changed");
      ++i;
      break;
    case LinkResult::failed:
    case LinkResult::eperm:
      ++m_ctx.stats.errors;
      ++i;
      break;
    case LinkResult::tampered:
      m_ctx.stats.errors += p.end - i;
      return;
    }
  }
  // An adopted object is protected already: adopt() did it under its lease.
}

// Runs link_path with the object's protection lifted where the mode needs
// it (immutable: always; others: when the kernel says EPERM); the guard
// restores the mode's protection afterwards.
LinkResult
HardlinkStrategy::link_protected(const Candidate& c, Prepared& p, unsigned successor, const struct stat& ost)
{
  const Store& store = m_ctx.store;
  const std::string opath = store.object_path(p.id, successor);
  sys::Fd objfd;
  std::optional<ProtectionGuard> guard;
  auto open_and_lift = [&]() -> bool {
    auto o = store.open_object(p.id, successor);
    if (!o) {
      m_ctx.reporter.error(o.error().message);
      return false;
    }
    objfd = std::move(*o);
    auto g = m_ctx.protector.lift(objfd.get(), opath);
    if (!g) {
      m_ctx.reporter.error(g.error().message);
      return false;
    }
    guard.emplace(std::move(*g));
    if (auto w = guard->restore_as(m_ctx.protector.wanted()); !w) {
      if (guard->lifted() == Protection::none) {
        guard->leave_lifted();  // nothing was lifted: the inode carried no protection
      }
      guard.reset();
      m_ctx.reporter.error(w.error().message);
      return false;
    }
    return true;
  };
  if (m_ctx.protector.mode() == LinkMode::immutable && !m_ctx.opt.dry_run && !open_and_lift()) {
    return LinkResult::failed;
  }
  LinkResult r = link_path(c, p, successor, ost);
  if (r == LinkResult::eperm && !guard) {
    if (!open_and_lift()) {
      return LinkResult::failed;
    }
    r = link_path(c, p, successor, ost);
  }
  if (r == LinkResult::eperm) {
    m_ctx.reporter.error(m_ctx.display(c) + ": operation not permitted while linking it to " + opath
                         + " (is the file or its directory immutable or append-only?)");
    r = LinkResult::failed;
  }
  if (guard) {
    if (restore_checked(m_ctx, *guard, c, p, successor) == Restored::tainted) {
      return LinkResult::tampered;
    }
  } else if (r == LinkResult::linked && m_ctx.protector.wanted() != Protection::none && !m_ctx.opt.dry_run) {
    // Modes whose protection allows linkage (iunlink) still protect every
    // object they link to.
    auto o = store.open_object(p.id, successor);
    auto protect = o ? m_ctx.protector.protect_locked(o->get(), opath) : sys::Result<void>(std::unexpected(o.error()));
    if (!protect) {
      m_ctx.reporter.error(protect.error().message);
    }
  }
  return r;
}

// Replaces the candidate's path by a link to object (p.id, successor).
LinkResult
HardlinkStrategy::link_path(const Candidate& c, Prepared& p, unsigned successor, const struct stat& ost)
{
  const std::string disp = m_ctx.display(c);
  auto dfd = m_ctx.dir_fd(c.root, c.dir);
  if (!dfd) {
    const int err = dfd.error().code;
    if (err == ENOENT || err == ELOOP || err == ENOTDIR || err == EXDEV) {
      return LinkResult::changed;
    }
    m_ctx.reporter.error(dfd.error().message);
    return LinkResult::failed;
  }
  const int dirfd = *dfd;
  struct stat cur;
  if (::fstatat(dirfd, c.name.c_str(), &cur, AT_SYMLINK_NOFOLLOW) != 0) {
    return LinkResult::changed;
  }
  if (cur.st_ino == ost.st_ino) {
    return LinkResult::already;
  }
  struct stat now;
  if (::fstat(p.fd.get(), &now) != 0 || cur.st_ino != c.ino || !sys::same_file_state(now, p.st)) {
    return LinkResult::changed;
  }
  if (m_ctx.opt.dry_run) {
    return LinkResult::linked;
  }
  const std::string tmpname = guest_temp_name(c.name);
  if (const LinkResult r = link_object_as(dirfd, tmpname, p.id, successor, disp); r != LinkResult::linked) {
    return r;
  }
  const int guest_fd = p.fd.get();
  const struct stat hashed = p.st;
  const ExchangeRequest request{dirfd, c.name, tmpname, disp, m_ctx.display(c.root, c.dir, tmpname),
                                // The file swapped out must be the inode that was hashed, its content
                                // unchanged since.
                                [&](const struct stat& old) {
                                  struct stat st;
                                  return old.st_ino == c.ino && ::fstat(guest_fd, &st) == 0
                                         && same_content_state(st, hashed);
                                },
                                [&] {
                                  struct stat again;
                                  struct stat st;
                                  return ::fstatat(dirfd, c.name.c_str(), &again, AT_SYMLINK_NOFOLLOW) == 0
                                         && again.st_ino == c.ino && ::fstat(guest_fd, &st) == 0
                                         && sys::same_file_state(st, hashed);
                                }};
  const ExchangeResult r = exchange_verified(request, m_ctx.reporter);
  if (r == ExchangeResult::exchanged && ::fstat(guest_fd, &now) == 0) {
    p.st.st_ctim = now.st_ctim;  // our own link count change
  }
  return link_result(r);
}

// Links object (id, successor) as `tmpname` in `dirfd`, next to the file.
LinkResult
HardlinkStrategy::link_object_as(int dirfd, const std::string& tmpname, const ObjectId& id, unsigned successor,
                                 const std::string& display)
{
  const std::string objname = Store::object_name(id, successor);
  if (::linkat(m_ctx.store.fanout_fd(id.fanout()), objname.c_str(), dirfd, tmpname.c_str(), 0) == 0) {
    return LinkResult::linked;
  }
  if (errno == EMLINK || errno == EPERM) {
    return errno == EMLINK ? LinkResult::emlink : LinkResult::eperm;
  }
  m_ctx.reporter.error(sys::sys_error("link " + m_ctx.store.object_path(id, successor) + " to", display).message);
  return LinkResult::failed;
}

// Makes successor `successor` of an object that reached the link limit, as
// a verified copy of its predecessor.
sys::Result<void>
HardlinkStrategy::create_successor(const ObjectId& id, unsigned successor)
{
  const Store& store = m_ctx.store;
  auto src = store.open_object(id, successor - 1);
  if (!src) {
    return std::unexpected(src.error());
  }
  const std::string sdisp = store.object_path(id, successor - 1);
  auto meta = read_metadata(src->get(), sdisp);
  if (!meta) {
    return std::unexpected(meta.error());
  }
  auto tmp = store.make_temp();
  if (!tmp) {
    return std::unexpected(tmp.error());
  }
  IdentityHasher hasher;
  hasher.start(*meta, m_ctx.kind);
  std::vector<char> buffer;
  std::uint64_t offset = 0;
  auto copied = sys::read_chunks(
    src->get(), buffer,
    [&](const char* data, std::size_t n) {
      hasher.update(data, n);
      auto w = sys::write_sparse(tmp->get(), data, n, offset, store.path() + "/tmp");
      offset += n;
      return w;
    },
    sdisp);
  if (!copied) {
    return std::unexpected(copied.error());
  }
  if (::ftruncate(tmp->get(), static_cast<off_t>(*copied)) != 0) {
    return sys::fail_sys("write", store.path() + "/tmp");
  }
  if (!(hasher.finish() == id)) {
    return sys::fail(sdisp + ": content does not match its name; run 'pkgunify store fsck'");
  }
  const std::string ndisp = store.object_path(id, successor);
  if (auto m = apply_metadata(tmp->get(), *meta, ndisp); !m) {
    return m;
  }
  if (::fdatasync(tmp->get()) != 0) {
    return sys::fail_sys("sync", ndisp);
  }
  auto pub = store.publish(tmp->get(), id, successor);
  if (!pub) {
    return std::unexpected(pub.error());
  }
  if (*pub) {
    ++m_ctx.stats.objects_created;
    m_ctx.stats.bytes_saved -= static_cast<std::int64_t>(meta->size);
  }
  return {};
}

bool
HardlinkStrategy::object_matches(const struct stat& ost, const FileMeta& meta) const
{
  return static_cast<std::uint64_t>(ost.st_size) == meta.size && (ost.st_mode & 07777) == meta.mode
         && ost.st_uid == meta.uid && ost.st_gid == meta.gid
         && (m_ctx.kind != IdentityKind::full
             || (ost.st_mtim.tv_sec == meta.mtime_sec
                 && static_cast<std::uint32_t>(ost.st_mtim.tv_nsec) == meta.mtime_nsec));
}

void
HardlinkStrategy::count_link(const Candidate& c, const Prepared& p)
{
  ++m_ctx.stats.linked;
  // The replaced inode is freed when this was its last name.
  struct stat now;
  if (::fstat(p.fd.get(), &now) == 0 && now.st_nlink == 0) {
    m_ctx.stats.bytes_saved += static_cast<std::int64_t>(c.size);
  }
}

// A linked file whose protection does not match the mode (a run that was
// interrupted while the flag was lifted, or a change of link mode).
void
HardlinkStrategy::fix_protection(Prepared& p)
{
  const Candidate& c = m_ctx.candidates[p.begin];
  const std::string disp = m_ctx.display(c);
  auto fd = sys::open_regular_beneath(m_ctx.roots[c.root].fd.get(), m_ctx.relative(c), O_RDONLY, disp);
  if (!fd) {
    return;  // gone meanwhile
  }
  auto st = sys::fstat_fd(fd->get(), disp);
  if (!st || st->st_ino != c.ino) {
    return;
  }
  if (m_ctx.protector.wanted() == Protection::none) {
    auto guard = m_ctx.protector.lift(fd->get(), disp);
    if (!guard) {
      m_ctx.fail(guard.error().message);
      return;
    }
    guard->leave_lifted();
  } else {
    if (auto r = m_ctx.protector.protect_locked(fd->get(), disp); !r) {
      m_ctx.fail(r.error().message);
      return;
    }
  }
  ++m_ctx.stats.protection_fixed;
}

}  // namespace

std::unique_ptr<LinkStrategy>
make_hardlink_strategy(Context& ctx)
{
  return std::make_unique<HardlinkStrategy>(ctx);
}

}  // namespace pkgunify::scan
