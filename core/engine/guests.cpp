// SPDX-License-Identifier: GPL-2.0-or-later
// PLACEHOLDER until the registry branch lands.
#include "engine/guests.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>

namespace pkgunify {

std::string
guests_dir()
{
  const char* env = std::getenv("PKGUNIFY_GUESTS_DIR");
  return env && *env ? env : "/etc/pkgunify/guests.d";
}

bool
valid_guest_name(std::string_view name)
{
  if (name.empty() || name.size() > 64 || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return std::isalnum(static_cast<unsigned char>(name[0]));
}

GuestRegistry
load_guests(const std::string& dir)
{
  GuestRegistry r;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string file = e.path().string();
    if (e.path().extension() != ".yaml") {
      continue;
    }
    try {
      YAML::Node n = YAML::LoadFile(file);
      GuestEntry g{e.path().stem().string(), n["root"].as<std::string>(), "", file};
      if (n["policy"]) {
        g.policy = n["policy"].as<std::string>();
      }
      if (valid_guest_name(g.name)) {
        r.guests.push_back(g);
      }
    } catch (const std::exception& ex) {
      r.errors.push_back(file + ": " + ex.what());
    }
  }
  return r;
}

}  // namespace pkgunify
