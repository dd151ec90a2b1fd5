// SPDX-License-Identifier: GPL-2.0-or-later
#include "maintenance/guest_list.hpp"

#include "engine/session.hpp"
#include "maintenance/status.hpp"
#include "store/store.hpp"
#include "sys/exceptions.hpp"
#include "sys/socket.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

namespace pkgunify {

namespace {

GuestInfo*
info_of(std::vector<GuestInfo>& infos, const std::string& name)
{
  const auto it = std::find_if(infos.begin(), infos.end(), [&](const GuestInfo& i) { return i.entry.name == name; });
  return it == infos.end() ? nullptr : &*it;
}

// A process's name for a message: bytes a terminal would act on become '?'.
std::string
printable(std::string s)
{
  std::replace_if(
    s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }, '?');
  return s;
}

void
take_status(GuestInfo& info, const RootStatus& s)
{
  info.unified_files = s.unified_files;
  info.unified_bytes = s.unified_bytes;
  info.saved_bytes = s.saved_bytes;
}

// The unified counts of one group's guests; a guest whose tree cannot be
// read gets a warning, the others their counts.
void
group_status(const GuestGroup& group, std::vector<GuestInfo>& infos, Reporter& reporter)
{
  const bool exists = ::access(group.store.c_str(), F_OK) == 0;
  const std::vector<std::string> roots = guest_roots(group);
  for (const auto& g : group.guests) {
    GuestInfo* info = info_of(infos, g.name);
    info->store = group.store;
    info->store_exists = exists;
  }
  try {
    const Policy policy = load_run_policy(group.policy_file);
    const Store store = exists ? Store::open(group.store, Store::Create::no) : Store::absent(group.store);
    std::vector<RootStatus> all;
    try {
      all = root_status(store, policy, roots, reporter);
    } catch (const std::exception&) {
      // One root that cannot be read: each on its own, to name it.
      for (const auto& g : group.guests) {
        try {
          take_status(*info_of(infos, g.name), root_status(store, policy, {g.root}, reporter).front());
        } catch (const std::exception& e) {
          info_of(infos, g.name)->warnings.push_back(e.what());
        }
      }
      return;
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
      take_status(*info_of(infos, group.guests[i].name), all[i]);
    }
  } catch (const std::exception& e) {
    for (const auto& g : group.guests) {
      info_of(infos, g.name)->warnings.push_back(e.what());
    }
  }
}

}  // namespace

void
add_capability_warnings(std::vector<GuestInfo>& guests, const std::vector<sys::ProcessInfo>& processes)
{
  std::map<std::pair<dev_t, ino_t>, GuestInfo*> by_root;
  for (auto& g : guests) {
    struct stat st = {};
    if (::stat(g.entry.root.c_str(), &st) == 0) {
      by_root.emplace(std::pair{st.st_dev, st.st_ino}, &g);
    }
  }
  for (const auto& p : processes) {
    const auto it = by_root.find({p.root_dev, p.root_ino});
    if (it == by_root.end() || (p.cap_bnd & (std::uint64_t{1} << k_cap_linux_immutable)) == 0) {
      continue;
    }
    it->second->warnings.push_back("pid " + std::to_string(p.pid) + " (" + printable(p.comm) + ") in guest "
                                   + it->second->entry.name
                                   + " keeps CAP_LINUX_IMMUTABLE in its bounding set: it can lift the protection of "
                                     "shared files");
  }
}

std::vector<GuestInfo>
guest_infos(const std::vector<GuestEntry>& guests, const std::string& policy_file, Reporter& reporter)
{
  std::vector<GuestInfo> infos;
  std::vector<GuestEntry> present;
  for (const auto& g : guests) {
    GuestInfo& info = infos.emplace_back();
    info.entry = g;
    info.agent_served = sys::unix_socket_accepts(guest_agent_socket(g.name));
    struct stat st = {};
    if (::stat(g.root.c_str(), &st) != 0) {
      info.warnings.push_back("the root " + g.root + " is missing (" + std::strerror(errno) + ")");
    } else if (!S_ISDIR(st.st_mode)) {
      info.warnings.push_back("the root " + g.root + " is no directory");
    } else {
      info.root_exists = true;
      present.push_back(g);
    }
  }
  const GuestGroups grouped = group_guests(present, policy_file);
  for (const auto& problem : grouped.errors) {
    info_of(infos, problem.guest)->warnings.push_back(problem.message);
  }
  for (const auto& group : grouped.groups) {
    group_status(group, infos, reporter);
  }
  if (auto processes = sys::list_processes()) {
    add_capability_warnings(infos, *processes);
  } else {
    reporter.warning("cannot check the guests' processes: " + processes.error().message);
  }
  return infos;
}

}  // namespace pkgunify
