#include "cli/pkg_commands.hpp"

#include "pkgdb/debfile.hpp"
#include "sys/exceptions.hpp"
#include "engine/packages.hpp"
#include "pkgdb/pkgdb.hpp"
#include "pkgdb/rpmdb.hpp"
#include "sys/fs.hpp"
#include "maintenance/verify.hpp"
#include "engine/walker.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <iostream>
#include <unordered_set>

namespace pkgunify::cli {

namespace {

std::string
db_source(const PackageDb& db)
{
  return std::string(db.kind()) + " database " + db.location();
}

// lstat of a canonical path inside the root, through openat2 beneath it.
std::optional<struct stat>
stat_in_root(int root_fd, const std::string& path)
{
  const auto slash = path.rfind('/');
  const std::string dir = slash == 0 ? "." : path.substr(1, slash - 1);
  auto dfd = sys::open_beneath(root_fd, dir, O_PATH | O_DIRECTORY, path);
  if (!dfd) {
    return std::nullopt;
  }
  struct stat st;
  std::uint64_t attributes = 0;
  if (sys::stat_entry(dfd->get(), path.substr(slash + 1).c_str(), st, attributes) != 0) {
    return std::nullopt;
  }
  return st;
}

}  // namespace

int
cmd_pkg(const CommonOptions& o, const std::string& root, const std::vector<std::string>& names, const ScanFlags& flags)
{
  auto db = open_db(o, root, true);
  std::vector<std::string> missing;
  const auto pkgs = db->packages(names, missing);
  ScanSetup setup = prepare_scan(o, flags, {root});
  CliReporter reporter(!o.json);
  for (const auto& m : missing) {
    reporter.warning(root + ": package " + m + " is not installed (" + db_source(*db) + ")");
  }
  auto filter = make_package_filter(pkgs, db_source(*db), root, setup.opt.policy.only_packaged);
  setup.opt.progress = [&reporter](const ScanStats& s, std::uint64_t done, std::uint64_t total) {
    reporter.progress(s, done, total);
  };
  Unifier unifier(setup.store, setup.opt, reporter);
  const std::size_t id = unifier.add_root(root, filter);
  RootPaths paths(root);
  std::unordered_set<std::string> seen;
  for (const auto& p : pkgs) {
    for (const auto& f : p.files) {
      const auto canon = paths.canonical(f.path);
      if (canon && seen.insert(*canon).second) {
        unifier.add_file(id, *canon);
      }
    }
  }
  const ScanStats s = unifier.run();
  reporter.done();
  json extra;
  extra["root"] = root;
  extra["package_db"] = db->kind();
  extra["packages"] = json::array();
  for (const auto& p : pkgs) {
    extra["packages"].push_back(p.name);
  }
  extra["missing"] = missing;
  const int rc = report_scan(o, "pkg", setup, s, extra);
  return rc == k_exit_ok && !missing.empty() ? k_exit_failures : rc;
}

int
cmd_list(const CommonOptions& o, const std::string& root, const std::vector<std::string>& names)
{
  const Policy policy = load_effective_policy(o);
  auto db = open_db(o, root, true);
  std::vector<std::string> missing;
  const auto pkgs = names.empty() ? db->packages() : db->packages(names, missing);
  CliReporter reporter(false);
  for (const auto& m : missing) {
    reporter.warning(root + ": package " + m + " is not installed (" + db_source(*db) + ")");
  }
  auto filter = make_package_filter(pkgs, db_source(*db), root, false);
  auto root_fd = sys::open_host_dir(root);
  if (!root_fd) {
    throw ConfigError("root " + root_fd.error().message);
  }
  RootPaths paths(root);
  json files = json::array();
  std::uint64_t candidates = 0;
  std::uint64_t configs = 0;
  for (const auto& p : pkgs) {
    for (const auto& f : p.files) {
      const auto canon = paths.canonical(f.path);
      const auto st = canon ? stat_in_root(root_fd->get(), *canon) : std::nullopt;
      if (st && S_ISDIR(st->st_mode)) {
        continue;  // directories are no files to unify
      }
      std::string reason;
      bool candidate = false;
      if (!st) {
        reason = "missing";
      } else if (auto verdict = candidate_verdict(policy, filter.get(), *canon, *st)) {
        reason = verdict->detail;
      } else {
        reason = "candidate";
        candidate = true;
        ++candidates;
      }
      configs += f.config ? 1 : 0;
      if (o.json) {
        json e = {
          {"package", p.name}, {"path", f.path}, {"config", f.config}, {"candidate", candidate}, {"reason", reason}};
        if (canon && *canon != f.path) {
          e["resolved"] = *canon;
        }
        files.push_back(std::move(e));
      } else {
        std::cout << p.name << '\t' << (f.config ? "config" : "-") << '\t' << (candidate ? "candidate" : "-") << '\t'
                  << f.path << '\t' << reason << '\n';
      }
    }
  }
  if (o.json) {
    json j;
    j["command"] = "list";
    j["root"] = root;
    j["package_db"] = db->kind();
    j["database"] = db->location();
    j["packages"] = pkgs.size();
    j["missing"] = missing;
    j["candidates"] = candidates;
    j["config_files"] = configs;
    j["files"] = std::move(files);
    std::cout << json_text(j) << '\n';
  }
  return missing.empty() ? k_exit_ok : k_exit_failures;
}

int
cmd_inspect(const CommonOptions& o, const std::vector<std::string>& files)
{
  const Policy policy = load_effective_policy(o);
  json out = json::array();
  for (const auto& file : files) {
    const bool rpm = file.ends_with(".rpm");
    if (!rpm && !file.ends_with(".deb")) {
      throw ConfigError(file + ": not a package file (expected .rpm or .deb)");
    }
    const ArchiveInfo info = rpm ? read_rpm_file(file) : read_deb(file);
    const std::string& name = info.name;
    const std::string& version = info.version;
    const std::string& arch = info.arch;
    const std::string format = rpm ? "rpm" : "deb";
    const auto& entries = info.entries;
    PackageFilter filter;
    filter.source = "package " + name;
    for (const auto& e : entries) {
      if (e.config) {
        filter.config.insert(e.path);
      }
    }
    json jfiles = json::array();
    std::uint64_t unified = 0;
    std::uint64_t unified_bytes = 0;
    if (!o.json) {
      std::cout << file << ": " << name << ' ' << version << ' ' << arch << '\n';
    }
    for (const auto& e : entries) {
      struct stat st = {};
      st.st_mode = e.regular ? (S_IFREG | (e.mode & 07777)) : (e.mode ? e.mode : S_IFDIR);
      st.st_size = static_cast<off_t>(e.size);
      const auto verdict = candidate_verdict(policy, &filter, e.path, st);
      if (!verdict) {
        ++unified;
        unified_bytes += e.size;
      }
      if (verdict && verdict->key == "not-regular" && S_ISDIR(st.st_mode)) {
        continue;
      }
      const std::string what = verdict ? verdict->detail : "would be unified";
      if (o.json) {
        jfiles.push_back(
          {{"path", e.path}, {"size", e.size}, {"config", e.config}, {"unified", !verdict}, {"reason", what}});
      } else {
        std::cout << "  " << (verdict ? (e.config ? "config " : "keep   ") : "unify  ") << e.path << "  (" << what
                  << ")\n";
      }
    }
    if (o.json) {
      out.push_back({{"file", file},
                     {"format", format},
                     {"name", name},
                     {"version", version},
                     {"arch", arch},
                     {"unified_files", unified},
                     {"unified_bytes", unified_bytes},
                     {"files", std::move(jfiles)}});
    } else {
      std::cout << "  " << unified << " files (" << human_bytes(static_cast<double>(unified_bytes))
                << ") would be unified\n";
    }
  }
  if (o.json) {
    json j;
    j["command"] = "inspect";
    j["packages"] = std::move(out);
    std::cout << json_text(j) << '\n';
  }
  return k_exit_ok;
}

int
cmd_verify(const CommonOptions& o, const std::vector<std::string>& roots)
{
  const Policy policy = load_effective_policy(o);
  const Store store = open_store(o, policy, roots, false);
  CliReporter reporter(false);
  // Every database is opened before anything is hashed.
  std::vector<std::unique_ptr<PackageDb>> dbs;
  for (const auto& r : roots) {
    dbs.push_back(open_db(o, r, true));
  }
  json jroots = json::array();
  bool failed = false;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const VerifyResult r = verify_root(store, *dbs[i], roots[i], reporter);
    failed = failed || r.mismatches || r.errors;
    if (o.json) {
      jroots.push_back({{"root", roots[i]},
                        {"package_db", dbs[i]->kind()},
                        {"checked", r.checked},
                        {"mismatches", r.mismatches},
                        {"not_unified", r.not_unified},
                        {"config", r.config},
                        {"no_digest", r.no_digest},
                        {"missing", r.missing},
                        {"bytes_read", r.bytes_read},
                        {"errors", r.errors}});
    } else {
      std::cout << roots[i] << ": " << r.checked << " unified files checked against the " << dbs[i]->kind()
                << " database, " << r.mismatches << " mismatches (" << r.not_unified << " not unified, " << r.config
                << " config files, " << r.missing << " missing)\n";
    }
  }
  if (o.json) {
    json j;
    j["command"] = "verify";
    j["store"] = store.path();
    j["roots"] = std::move(jroots);
    std::cout << json_text(j) << '\n';
  }
  return failed ? k_exit_failures : k_exit_ok;
}

}  // namespace pkgunify::cli
