// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/internal/object_safety.hpp"

#include "sys/read.hpp"

#include <unistd.h>

#include <vector>

namespace pkgunify::scan {

sys::Result<std::optional<sys::Fd>>
copy_checked(const Store& store, int fd, const FileMeta& meta, IdentityKind kind, const ObjectId& id,
             const std::string& display, std::vector<char>& buffer)
{
  const std::string tmp_disp = store.path() + "/tmp (new object for " + display + ")";
  auto tmp = store.make_temp();
  if (!tmp) {
    return std::unexpected(tmp.error());
  }
  IdentityHasher hasher;
  hasher.start(meta, kind);
  std::uint64_t offset = 0;
  auto total = sys::read_chunks(
    fd, buffer,
    [&](const char* data, std::size_t n) -> sys::Result<void> {
      hasher.update(data, n);
      auto w = sys::write_sparse(tmp->get(), data, n, offset, tmp_disp);
      offset += n;
      return w;
    },
    display, meta.size + 1);
  if (!total) {
    return std::unexpected(total.error());
  }
  if (::ftruncate(tmp->get(), static_cast<off_t>(*total)) != 0) {
    return sys::fail_sys("write", tmp_disp);
  }
  if (auto m = apply_metadata(tmp->get(), meta, tmp_disp); !m) {
    return std::unexpected(m.error());
  }
  if (*total != meta.size || !(hasher.finish() == id)) {
    return std::optional<sys::Fd>();
  }
  return std::optional<sys::Fd>(std::move(*tmp));
}

std::string
quarantine_tampered(const Context& ctx, const Candidate& c, const Prepared& p, unsigned successor,
                    const std::string& detail)
{
  std::string names;
  const auto upto = static_cast<std::size_t>(&c - ctx.candidates.data());
  for (std::size_t k = p.begin; k <= upto && k < p.begin + 8; ++k) {
    names += (names.empty() ? "" : ", ") + ctx.display(ctx.candidates[k]);
  }
  const Store& store = ctx.store;
  const std::string opath = store.object_path(p.id, successor);
  auto st = store.stat_object(p.id, successor);
  const std::string count = st && st->has_value() ? std::to_string((*st)->st_nlink - 1) + " guest names" : "guests";
  auto moved = store.quarantine(p.id, successor);
  const std::string where =
    moved ? "quarantined as " + *moved : "could not be quarantined (" + moved.error().message + ")";
  return opath + ": " + detail + " by some process while its protection was lifted to link " + ctx.display(c) + "; "
         + where + ". Nothing more is linked to it. It still has " + count + " (among them " + names
         + "): check them with 'pkgunify store fsck', give them private copies with 'pkgunify split'";
}

Restored
restore_checked(const Context& ctx, ProtectionGuard& guard, const Candidate& c, const Prepared& p, unsigned successor)
{
  bool tainted = false;
  auto restored = guard.restore([&](const LiftCheck& check) {
    tainted = true;
    ctx.reporter.error(quarantine_tampered(ctx, c, p, successor, check.detail));
  });
  if (!restored) {
    ctx.reporter.error(restored.error().message);
  } else if (!restored->clean() && !tainted) {
    ctx.reporter.warning(ctx.store.object_path(p.id, successor)
                         + ": changed by another process while its protection was lifted to link " + ctx.display(c)
                         + " (" + restored->detail + "): put back");
  }
  return tainted ? Restored::tainted : Restored::clean;
}

}  // namespace pkgunify::scan
