// SPDX-License-Identifier: GPL-2.0-or-later
#include "pkgdb/rpmdb.hpp"

#include "pkgdb/internal/db_files.hpp"
#include "pkgdb/internal/file_stamp.hpp"
#include "pkgdb/internal/rpm_copy.hpp"
#include "pkgdb/internal/rpm_handles.hpp"
#include "sys/fs.hpp"

#include <rpm/rpmdb.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmmacro.h>
#include <rpm/rpmtag.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <mutex>

namespace pkgunify {

namespace rpm {

LogCapture::LogCapture()
{
  m_previous = rpmlogSetCallback(&LogCapture::callback, this);
}

LogCapture::~LogCapture()
{
  rpmlogSetCallback(m_previous, m_previous_data);
}

int
LogCapture::callback(rpmlogRec rec, rpmlogCallbackData data)
{
  auto* self = static_cast<LogCapture*>(data);
  if (rpmlogRecPriority(rec) <= RPMLOG_ERR) {
    std::string msg = rpmlogRecMessage(rec);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) {
      msg.pop_back();
    }
    self->m_errors.push_back(std::move(msg));
  }
  return 0;  // handled: librpm prints nothing
}

std::string
LogCapture::errors() const
{
  std::string out;
  for (const auto& e : m_errors) {
    if (!out.empty()) {
      out += "; ";
    }
    out += e;
  }
  return out;
}

void
init()
{
  static std::once_flag once;
  std::call_once(once, [] { rpmReadConfigFiles(nullptr, nullptr); });
}

}  // namespace rpm

namespace {

DigestAlgo
digest_algo(int algo)
{
  switch (algo) {
  case 1:
    return DigestAlgo::md5;
  case 2:
    return DigestAlgo::sha1;
  case 8:
    return DigestAlgo::sha256;
  case 9:
    return DigestAlgo::sha384;
  case 10:
    return DigestAlgo::sha512;
  case 11:
    return DigestAlgo::sha224;
  default:
    return DigestAlgo::none;
  }
}

std::string
header_string(Header h, rpmTagVal tag)
{
  const char* s = headerGetString(h, tag);
  return s ? s : "";
}

// "VERSION-RELEASE".
std::string
version_release(Header h)
{
  return header_string(h, RPMTAG_VERSION) + "-" + header_string(h, RPMTAG_RELEASE);
}

// Calls `fn(fi)` for every file of the header's file list, in order.
template<typename Fn>
void
for_each_file(Header h, Fn&& fn)
{
  rpm::Files files(rpmfilesNew(nullptr, h, RPMTAG_BASENAMES, RPMFI_FLAGS_QUERY));
  if (!files) {
    return;
  }
  rpm::Fi fi(rpmfilesIter(files.get(), RPMFI_ITER_FWD));
  while (fi && rpmfiNext(fi.get()) >= 0) {
    fn(fi.get());
  }
}

bool
is_config(rpmfi fi)
{
  return (rpmfiFFlags(fi) & RPMFILE_CONFIG) != 0;
}

// The file's digest as lowercase hex, and its algorithm; empty (and none)
// where the database has none: directories, symlinks, %ghost files, for
// which rpmfiFDigestHex encodes the empty digest as zeros.
std::string
file_digest(rpmfi fi, DigestAlgo& algo_out)
{
  algo_out = DigestAlgo::none;
  int algo = 0;
  std::size_t len = 0;
  const unsigned char* raw = rpmfiFDigest(fi, &algo, &len);
  if (!S_ISREG(rpmfiFMode(fi)) || raw == nullptr || len == 0
      || std::all_of(raw, raw + len, [](unsigned char b) { return b == 0; })) {
    return {};
  }
  char* hex = rpmfiFDigestHex(fi, &algo);
  if (hex == nullptr) {
    return {};
  }
  std::string out(hex);
  std::free(hex);
  algo_out = digest_algo(algo);
  return out;
}

// An installed package's header: its files with %config flags and digests.
PackageInfo
package_from_header(Header h)
{
  PackageInfo p;
  p.name = header_string(h, RPMTAG_NAME);
  p.version = version_release(h);
  const std::uint64_t epoch = headerGetNumber(h, RPMTAG_EPOCH);
  if (epoch) {
    p.version = std::to_string(epoch) + ":" + p.version;
  }
  p.arch = header_string(h, RPMTAG_ARCH);
  for_each_file(h, [&p](rpmfi fi) {
    PackageFile f;
    f.path = rpmfiFN(fi);
    f.config = is_config(fi);
    f.digest = file_digest(fi, f.digest_algo);
    p.files.push_back(std::move(f));
  });
  return p;
}

// Name, version and install transaction: a reinstall changes it.
PackageStamp
stamp_from_header(Header h)
{
  return {header_string(h, RPMTAG_NAME), version_release(h) + "." + header_string(h, RPMTAG_ARCH) + " "
                                           + std::to_string(headerGetNumber(h, RPMTAG_INSTALLTID)) + " "
                                           + std::to_string(headerGetInstance(h))};
}

// The root's rpm database, whose directory is opened beneath the root for
// each read and copied (rpm_copy.hpp) for librpm.
class RpmDb : public PackageDb
{
public:
  // `root_fd` is the root open, `root` its host path, `dbdir` the
  // database's directory relative to it.
  RpmDb(sys::Fd root_fd, const std::string& root, std::string dbdir)
    : m_root_fd(std::move(root_fd))
    , m_dbdir(std::move(dbdir))
    , m_location(root + (root.ends_with('/') ? "" : "/") + m_dbdir)
  {}

  std::string_view
  kind() const override
  {
    return "rpm";
  }

  const std::string&
  location() const override
  {
    return m_location;
  }

  std::vector<PackageInfo>
  packages() override
  {
    std::vector<PackageInfo> out;
    with_db([&out](rpmts ts) { append_packages(ts, RPMDBI_PACKAGES, nullptr, out); });
    return out;
  }

  std::vector<PackageInfo>
  packages(const std::vector<std::string>& names, std::vector<std::string>& missing) override
  {
    std::vector<PackageInfo> out;
    with_db([&](rpmts ts) {
      for (const auto& n : names) {
        const std::size_t before = out.size();
        append_packages(ts, RPMDBI_LABEL, n.c_str(), out);
        if (out.size() == before) {
          missing.push_back(n);
        }
      }
    });
    return out;
  }

  std::vector<PackageStamp>
  stamps() override
  {
    std::vector<PackageStamp> out;
    with_db([&out](rpmts ts) {
      for_each_header(ts, RPMDBI_PACKAGES, nullptr, [&out](Header h) { out.push_back(stamp_from_header(h)); });
    });
    return out;
  }

  // The stat of the database files beneath the root: nothing copied, nothing
  // read (it runs on every hook invocation).
  std::string
  change_marker() override
  {
    std::string marker = "rpm";
    auto dir = pkgdb_files::open_dir_beneath(m_root_fd.get(), m_dbdir, m_location);
    if (!dir) {
      return marker;
    }
    for (const char* file : {"rpmdb.sqlite", "rpmdb.sqlite-wal", "Packages", "Packages.db"}) {
      struct stat st;
      if (::fstatat(dir->get(), file, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        marker += std::string(" ") + file + "=" + pkgdb_text::file_stamp(st);
      }
    }
    return marker;
  }

private:
  // Appends the packages the iterator over `tag` and `key` finds to `out`.
  static void
  append_packages(rpmts ts, rpmDbiTagVal tag, const char* key, std::vector<PackageInfo>& out)
  {
    for_each_header(ts, tag, key, [&out](Header h) { out.push_back(package_from_header(h)); });
  }

  // Runs one iterator over the open database and calls `fn(header)` for
  // each package it finds.
  template<typename Fn>
  static void
  for_each_header(rpmts ts, rpmDbiTagVal tag, const char* key, Fn&& fn)
  {
    rpm::Iterator mi(rpmtsInitIterator(ts, tag, key, 0));
    while (mi) {
      Header h = rpmdbNextIterator(mi.get());
      if (!h) {
        break;
      }
      fn(h);
    }
  }

  // Copies the database, opens the copy and calls `fn(ts)`; everything
  // librpm logs as an error makes the whole read fail, naming the database.
  template<typename Fn>
  void
  with_db(Fn&& fn)
  {
    rpm::init();
    rpm::LogCapture log;
    auto dir = pkgdb_files::open_dir_beneath(m_root_fd.get(), m_dbdir, m_location);
    if (!dir) {
      throw PackageDbError(m_location + ": cannot open rpm database: " + pkgdb_files::reason(dir.error(), m_location));
    }
    const rpm::DbCopy copy(dir->get(), m_location);
    if (!copy.has_database()) {
      throw PackageDbError(m_location + ": cannot open rpm database: it holds no database file");
    }
    rpmPushMacro(nullptr, "_dbpath", nullptr, copy.path().c_str(), RMIL_CMDLINE);
    struct PopMacro
    {
      ~PopMacro() { rpmPopMacro(nullptr, "_dbpath"); }
    } pop;
    rpm::Ts ts(rpmtsCreate());
    if (rpmtsSetRootDir(ts.get(), "/") != 0) {
      throw PackageDbError(m_location + ": cannot use / as rpm root");
    }
    if (rpmtsOpenDB(ts.get(), O_RDONLY) != 0) {
      throw PackageDbError(m_location + ": cannot open rpm database"
                           + (log.has_errors() ? ": " + logged(log, copy) : std::string()));
    }
    fn(ts.get());
    ts.reset();
    if (log.has_errors()) {
      throw PackageDbError(m_location + ": cannot read rpm database: " + logged(log, copy));
    }
  }

  // What librpm logged, with the copy's path replaced by the database's.
  [[nodiscard]] std::string
  logged(const rpm::LogCapture& log, const rpm::DbCopy& copy) const
  {
    std::string text = log.errors();
    for (auto pos = text.find(copy.path()); pos != std::string::npos; pos = text.find(copy.path(), pos)) {
      text.replace(pos, copy.path().size(), m_location);
      pos += m_location.size();
    }
    return text;
  }

  sys::Fd m_root_fd;
  std::string m_dbdir;
  std::string m_location;
};

// Where a root's rpm database is, looked up beneath the root.
struct RpmProbe
{
  sys::Fd root_fd;
  std::optional<std::string> dir;    // relative to the root
  std::vector<std::string> refused;  // why a directory was not looked into
};

RpmProbe
probe_rpm_db(const std::string& root)
{
  RpmProbe probe;
  auto root_fd = sys::open_host_dir(root);
  if (!root_fd) {
    return probe;
  }
  probe.root_fd = std::move(*root_fd);
  for (const char* dir : k_rpm_db_dirs) {
    auto fd = pkgdb_files::open_dir_beneath(probe.root_fd.get(), dir, root + "/" + dir);
    if (!fd) {
      if (fd.error().code == ELOOP || fd.error().code == EXDEV) {
        probe.refused.push_back(fd.error().message);
      }
      continue;
    }
    if (rpm::holds_database(fd->get())) {
      probe.dir = dir;
      return probe;
    }
  }
  return probe;
}

}  // namespace

std::optional<std::string>
find_rpm_db(const std::string& root)
{
  return probe_rpm_db(root).dir;
}

std::unique_ptr<PackageDb>
make_rpm_db(const std::string& root)
{
  RpmProbe probe = probe_rpm_db(root);
  if (!probe.dir) {
    std::string looked;
    for (const char* d : k_rpm_db_dirs) {
      looked += (looked.empty() ? "" : ", ") + root + "/" + d;
    }
    for (const std::string& why : probe.refused) {
      looked += "; " + why;
    }
    throw PackageDbError("no rpm database in " + root + " (looked in " + looked + ")");
  }
  return std::make_unique<RpmDb>(std::move(probe.root_fd), root, *probe.dir);
}

ArchiveInfo
read_rpm_file(const std::string& path)
{
  rpm::init();
  rpm::LogCapture log;
  rpm::Ts ts(rpmtsCreate());
  rpmtsSetVSFlags(ts.get(), RPMVSF_MASK_NOSIGNATURES | RPMVSF_MASK_NODIGESTS);
  rpm::Fd fd(Fopen(path.c_str(), "r.ufdio"));
  if (!fd || Ferror(fd.get())) {
    throw PackageDbError(path + ": cannot open package: " + (fd ? Fstrerror(fd.get()) : "failed"));
  }
  Header raw = nullptr;
  const rpmRC rc = rpmReadPackageFile(ts.get(), fd.get(), path.c_str(), &raw);
  rpm::HeaderPtr h(raw);
  if ((rc != RPMRC_OK && rc != RPMRC_NOKEY && rc != RPMRC_NOTTRUSTED) || !h) {
    throw PackageDbError(path + ": not a readable rpm package"
                         + (log.has_errors() ? ": " + log.errors() : std::string()));
  }
  ArchiveInfo info;
  info.name = header_string(h.get(), RPMTAG_NAME);
  info.version = version_release(h.get());
  info.arch = header_string(h.get(), RPMTAG_ARCH);
  for_each_file(h.get(), [&info](rpmfi fi) {
    ArchiveEntry e;
    e.path = rpmfiFN(fi);
    e.mode = rpmfiFMode(fi);
    e.regular = S_ISREG(e.mode);
    e.size = static_cast<std::uint64_t>(rpmfiFSize(fi));
    e.config = is_config(fi);
    info.entries.push_back(std::move(e));
  });
  return info;
}

}  // namespace pkgunify
