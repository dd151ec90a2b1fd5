// SPDX-License-Identifier: GPL-2.0-or-later
#include "reliability.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pkgunify::itest::reliability {

int
trials(int fast)
{
  if (const char* env = std::getenv("PKGUNIFY_RELIABILITY_TRIALS"); env && *env) {
    const int n = std::atoi(env);
    if (n > 0) {
      return n;
    }
  }
  return fast;
}

std::mt19937_64
make_rng(const std::string& test)
{
  std::uint64_t seed = 0;
  if (const char* env = std::getenv("PKGUNIFY_RELIABILITY_SEED"); env && *env) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
  }
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::cout << "reliability: " << test << " seed=" << seed << " (PKGUNIFY_RELIABILITY_SEED repeats it)\n";
  return std::mt19937_64(seed);
}

namespace {

std::size_t
pick(std::mt19937_64& rng, std::size_t lo, std::size_t hi)
{
  return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
}

// security.capability as setcap writes it (CAP_NET_RAW, effective).
const std::string k_cap("\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);

}  // namespace

GuestTree
write_guests(const std::vector<std::string>& roots, std::mt19937_64& rng, std::size_t shared, std::size_t unique)
{
  GuestTree tree;
  const bool root = ::geteuid() == 0;
  static const char* const dirs[] = {"usr/bin", "usr/lib/x86_64-linux-gnu", "usr/share/doc/pkg", "opt/app/lib"};
  static const std::string odd[] = {
    "new\nline", std::string("bad\xff\xfeutf8"), "-leading-dash", "--help", "sp ace*?[x]", "back\\slash"};
  for (std::size_t i = 0; i < shared; ++i) {
    // Mostly small files, a few above the 1 MiB in-memory limit.
    const std::size_t size = i % 13 == 5 ? pick(rng, (1u << 20) + 1, 3u << 20) : pick(rng, 20, 64u << 10);
    FileSpec spec = sized_spec(size, "shared" + std::to_string(i) + "-" + std::to_string(rng()));
    switch (i % 7) {
    case 1:
      spec.mode = 04755;
      break;
    case 2:
      spec.mode = 0600;
      break;
    case 3:
      spec.mode = 01777;
      break;
    case 4:
      spec.xattrs["user.pkgunify.test"] = "value " + std::to_string(i);
      break;
    case 5:
      if (root) {
        spec.uid = 1000;
        spec.gid = 100;
        spec.xattrs["security.capability"] = k_cap;
        spec.xattrs["trusted.pkgunify"] = "t";
      }
      break;
    default:
      break;
    }
    spec.mtime = {1600000000 + static_cast<time_t>(i), static_cast<long>(pick(rng, 0, 999999999))};
    std::string rel = std::string(dirs[i % 4]) + "/";
    rel += i < std::size(odd) ? odd[i] : "file" + std::to_string(i);
    for (const auto& r : roots) {
      write_file(r + "/" + rel, spec);
    }
    tree.files.push_back(rel);
  }
  for (std::size_t g = 0; g < roots.size(); ++g) {
    for (std::size_t i = 0; i < unique; ++i) {
      const std::string rel = "usr/lib/own/g" + std::to_string(g) + "-" + std::to_string(i);
      write_file(roots[g] + "/" + rel, sized_spec(pick(rng, 20, 32u << 10), rel + std::to_string(rng())));
    }
    make_symlink("../lib/x86_64-linux-gnu/file10", roots[g] + "/usr/bin/link-inside");
    make_symlink("/etc/passwd", roots[g] + "/usr/bin/link-absolute");
    make_symlink("../../../../../../..", roots[g] + "/usr/bin/link-up");
    ::mkfifo((roots[g] + "/usr/bin/fifo").c_str(), 0644);
    write_file(roots[g] + "/etc/config.conf", sized_spec(300, "config"));
  }
  return tree;
}

std::vector<std::string>
guest_problems(const Snapshot& before, const Snapshot& after, bool temps_allowed)
{
  Snapshot filtered;
  for (const auto& [rel, e] : after) {
    const auto slash = rel.rfind('/');
    const std::string base = slash == std::string::npos ? rel : rel.substr(slash + 1);
    if (temps_allowed && (base.starts_with(".#pku.") || base.starts_with(".#pkgunify.")) && !before.contains(rel)) {
      continue;
    }
    filtered.emplace(rel, e);
  }
  CompareOptions options;
  options.inodes = false;
  options.dir_mtime = false;
  options.protection = false;
  return diff_snapshots(before, filtered, options);
}

void
Tally::print() const
{
  std::ostringstream line;
  line << "reliability: " << kind << " trials=" << trials << " killed=" << killed << " mid_work=" << mid_work
       << " finished=" << finished << " lost=" << lost << " failed=" << failed;
  std::cout << line.str() << std::endl;
  ::testing::Test::RecordProperty(kind + "_trials", trials);
  if (const char* report = std::getenv("PKGUNIFY_RELIABILITY_REPORT"); report && *report) {
    std::ofstream(report, std::ios::app) << line.str() << '\n';
  }
}

// Starts `args` (stdout and stderr to `log`), sends SIGKILL after `delay`
// and reaps it. True when the process was still running at that moment.
bool
run_and_kill(const std::vector<std::string>& args, std::chrono::microseconds delay, const std::string& log)
{
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("open " + log + ": " + std::strerror(errno));
  }
  pid_t pid = 0;
  try {
    pid = spawn_command(args, fd, fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  std::this_thread::sleep_for(delay);
  int status = 0;
  const bool running = ::waitpid(pid, &status, WNOHANG) == 0;
  if (running) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  return running;
}

}  // namespace pkgunify::itest::reliability
