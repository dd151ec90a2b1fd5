// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/sync.hpp"

#include "store/sha256.hpp"
#include "sys/exceptions.hpp"
#include "sys/fs.hpp"

#include <fcntl.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace pkgunify {

namespace {

constexpr const char* k_header = "pkgunify-sync 1";

}  // namespace

std::string
SyncState::path_for(const std::string& state_dir, const std::string& real_root)
{
  Sha256 sha;
  sha.update(real_root.data(), real_root.size());
  return state_dir + "/" + to_hex(sha.finish()).substr(0, 32) + ".state";
}

SyncState
SyncState::load(const std::string& path)
{
  SyncState s;
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line != k_header) {
    return {};
  }
  while (std::getline(in, line)) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) {
      return {};
    }
    const std::string key = line.substr(0, tab);
    const std::string value = line.substr(tab + 1);
    if (key == "root") {
      s.root = value;
    } else if (key == "marker") {
      s.marker = value;
    } else if (key.starts_with("pkg ")) {
      s.stamps[key.substr(4)] = value;
    } else {
      return {};
    }
  }
  return s;
}

void
SyncState::save(const std::string& path) const
{
  const std::filesystem::path p(path);
  std::error_code ec;
  std::filesystem::create_directories(p.parent_path(), ec);
  std::ostringstream out;
  out << k_header << '\n' << "root\t" << root << '\n' << "marker\t" << marker << '\n';
  for (const auto& [name, fp] : stamps) {
    out << "pkg " << name << '\t' << fp << '\n';
  }
  auto dir = sys::open_host_dir(p.parent_path().string());
  if (!dir) {
    throw Error(dir.error().message);
  }
  if (auto r = sys::write_file_atomic(dir->get(), p.filename().string(), out.str(), 0644, path); !r) {
    throw Error(r.error().message);
  }
}

std::vector<std::string>
SyncState::changed(const std::vector<PackageStamp>& now) const
{
  std::vector<std::string> out;
  for (const auto& s : now) {
    const auto it = stamps.find(s.name);
    if (it == stamps.end() || it->second != s.fingerprint) {
      out.push_back(s.name);
    }
  }
  return out;
}

}  // namespace pkgunify
