// SPDX-License-Identifier: GPL-2.0-or-later
// A filesystem mounted for one test: tmpfs or ramfs in memory, or btrfs, XFS
// or ext4 on a sparse image in /dev/shm, loop-mounted (the commands
// tests/integration/harness.cpp uses). Needs root; unmounted, with its
// mount point and image removed, when the object goes.
#pragma once

#include "procutil.hpp"

#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace pkgunify::test {

class ScratchMount
{
public:
  ScratchMount() = default;
  ScratchMount(const ScratchMount&) = delete;
  ScratchMount& operator=(const ScratchMount&) = delete;
  ~ScratchMount() { unmount(); }

  // Mounts a fresh `type` filesystem ("tmpfs", "ramfs", "btrfs", "xfs",
  // "ext4") on a new directory; an image is made with `mkfs_options` added
  // to mkfs's own. Returns why it could not, empty on success.
  std::string
  mount(const std::string& type, unsigned image_mib = 512, const std::vector<std::string>& mkfs_options = {})
  {
    if (::geteuid() != 0) {
      return "mounting a " + type + " filesystem needs root";
    }
    char tmpl[] = "/tmp/pkgunify-unit-mnt.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      return "cannot create a mount point in /tmp";
    }
    m_dir = tmpl;
    if (type == "tmpfs" || type == "ramfs") {
      if (::mount(type.c_str(), m_dir.c_str(), type.c_str(), 0, "") != 0) {
        return "cannot mount " + type;
      }
      m_mounted = true;
      return {};
    }
    return mount_image(type, image_mib, mkfs_options);
  }

  [[nodiscard]] const std::string&
  dir() const
  {
    return m_dir;
  }

  [[nodiscard]] std::string
  path(const std::string& rel) const
  {
    return m_dir + "/" + rel;
  }

  void
  unmount()
  {
    if (m_mounted && ::umount2(m_dir.c_str(), 0) != 0) {
      ::umount2(m_dir.c_str(), MNT_DETACH);
    }
    m_mounted = false;
    std::error_code ec;
    if (!m_dir.empty()) {
      std::filesystem::remove(m_dir, ec);
    }
    if (!m_image.empty()) {
      std::filesystem::remove(m_image, ec);
    }
    m_dir.clear();
    m_image.clear();
  }

private:
  std::string
  mount_image(const std::string& type, unsigned image_mib, const std::vector<std::string>& mkfs_options)
  {
    const std::string mkfs = "mkfs." + type;
    if (run({"sh", "-c", "command -v " + mkfs}).status != 0) {
      return mkfs + " is not installed";
    }
    char tmpl[] = "/dev/shm/pkgunify-unit-img.XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) {
      return "cannot create an image in /dev/shm";
    }
    m_image = tmpl;
    const bool sized = ::ftruncate(fd, static_cast<off_t>(image_mib) << 20) == 0;
    ::close(fd);
    if (!sized) {
      return "cannot size " + m_image;
    }
    std::vector<std::string> cmd{mkfs, "-q"};
    if (type == "xfs") {
      cmd.insert(cmd.end(), {"-f", "-m", "reflink=1"});
    } else if (type == "btrfs") {
      cmd.push_back("-f");
    } else {
      cmd.push_back("-F");
    }
    cmd.insert(cmd.end(), mkfs_options.begin(), mkfs_options.end());
    cmd.push_back(m_image);
    if (const RunResult r = run(cmd); r.status != 0) {
      return mkfs + " failed: " + r.output;
    }
    if (const RunResult r = run({"mount", "-o", "loop", m_image, m_dir}); r.status != 0) {
      return "cannot loop-mount a " + type + " image (no loop devices?): " + r.output;
    }
    m_mounted = true;
    return {};
  }

  std::string m_dir;
  std::string m_image;
  bool m_mounted = false;
};

}  // namespace pkgunify::test
