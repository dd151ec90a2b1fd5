// SPDX-License-Identifier: GPL-2.0-or-later
// The content-addressed hash store. Layout (docs/store-format.md):
//
//   STORE/format            "pkgunify-store 1\n"
//   STORE/objects/ab/cdef…  objects, named by their identity's hex digest
//                           (fan-out by the first byte); "….N" (N >= 1) are
//                           successors taking further links when an object
//                           reaches the filesystem's hard link limit
//   STORE/tmp/              O_TMPFILE objects being written (never named)
//   STORE/quarantine/       objects that fsck --repair moved aside
//
// Locking: operations that look up an object and link to it hold a shared
// flock on the object's fan-out directory; gc holds it exclusively while it
// removes objects from that directory. Publishing is linkat(), atomic by
// itself (EEXIST means another process published the same object).
#pragma once

#include "guest/root.hpp"
#include "store/identity.hpp"
#include "store/inode_set.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/lock.hpp"

#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

namespace pkgunify {

inline constexpr int k_store_format = 1;
inline constexpr const char* k_default_store_name = ".pkgunify-store";

class Store
{
public:
  // Whether open() makes a missing store (and its parent directory).
  enum class Create { no, if_missing };

  // Opens the store at `path`. Throws ConfigError: not a store, wrong format
  // version, cannot create.
  static Store open(const std::string& path, Create create);

  // A store that does not exist yet, for dry runs: it holds no objects and
  // creates nothing. Its filesystem is that of the nearest existing ancestor
  // of `path`.
  static Store absent(const std::string& path);

  // False for a store made by absent().
  [[nodiscard]] bool
  exists() const
  {
    return m_fd.valid();
  }

  // ".pkgunify-store" at the top of the filesystem holding `root`.
  static std::string default_location(const std::string& root);

  Store(Store&&) = default;
  Store& operator=(Store&&) = default;

  // Throws ConfigError naming both when `root_st` is on another filesystem.
  void check_same_filesystem(const struct stat& root_st, const std::string& root) const;

  // A guest root (guest/root.hpp: open_root) that lies on this store's
  // filesystem. Throws ConfigError otherwise.
  [[nodiscard]] GuestRoot open_root(const std::string& path) const;

  [[nodiscard]] const std::string&
  path() const
  {
    return m_path;
  }
  [[nodiscard]] int
  fd() const
  {
    return m_fd.get();
  }
  [[nodiscard]] dev_t
  dev() const
  {
    return m_st.st_dev;
  }
  [[nodiscard]] ino_t
  ino() const
  {
    return m_st.st_ino;
  }
  [[nodiscard]] int
  fanout_fd(unsigned index) const
  {
    return m_fanout[index].get();
  }

  // "cdef…" for successor 0, "cdef….N" for successor N.
  static std::string object_name(const ObjectId& id, unsigned successor);
  // The full path, for messages.
  [[nodiscard]] std::string object_path(const ObjectId& id, unsigned successor) const;
  [[nodiscard]] std::string object_path(unsigned fanout, const std::string& name) const;

  // Parses a file name found in a fan-out directory back into id and
  // successor; false for names that are not objects.
  static bool parse_object_name(unsigned fanout, std::string_view name, ObjectId& id, unsigned& successor);

  sys::Result<sys::FileLock> lock_fanout(unsigned index, sys::FileLock::Mode mode) const;

  // An unnamed O_TMPFILE file in STORE/tmp, mode 0600.
  sys::Result<sys::Fd> make_temp() const;

  // Gives the open file `fd` the object's name. Returns false (and no error)
  // when an object of that name exists already.
  sys::Result<bool> publish(int fd, const ObjectId& id, unsigned successor) const;

  // The object's stat, or nullopt when it does not exist.
  sys::Result<std::optional<struct stat>> stat_object(const ObjectId& id, unsigned successor) const;

  // Whether reading an object through open_object() leaves its access time
  // alone (O_NOATIME: only for the object's owner or with CAP_FOWNER) or may
  // update it.
  enum class Atime : std::uint8_t { keep, may_update };

  sys::Result<sys::Fd> open_object(const ObjectId& id, unsigned successor, Atime atime = Atime::keep) const;

  // A fan-out directory's name: "00" to "ff".
  static std::string fanout_name(unsigned fanout);

  using ObjectFn = std::function<void(const std::string& name, const ObjectId& id, unsigned successor)>;
  using StrayFn = std::function<void(const std::string& name)>;

  // Calls `object(name, id, successor)` for each object of fan-out directory
  // `fanout` and `stray(name)`, when given, for each entry that is no
  // object, in the order of their inode numbers (the stat of each follows
  // the inode table). The names of the one directory are read first: the
  // callbacks may remove entries. Memory: one fan-out directory's names.
  // Throws Error when the directory cannot be read.
  void for_each_object(unsigned fanout, const ObjectFn& object, const StrayFn& stray = {}) const;

  // Inode numbers of every entry of the fan-out directories, and the path
  // of the entry of each inode, from the directory entries alone (no stat):
  // objects and strays alike, names beginning with '.' aside. Unreadable
  // fan-out directories are passed over; a store that does not exist has
  // none.
  [[nodiscard]] InodeSet object_inodes() const;
  // What reading those entries costs, in bytes: the size (st_size) of each
  // fan-out directory, at least a block (4096) each, about 80 bytes an
  // object on ext4; 0 for a store that does not exist. One fstat of each
  // open directory.
  [[nodiscard]] std::uint64_t index_bytes() const;
  [[nodiscard]] std::unordered_map<ino_t, std::string> object_paths_by_inode() const;

  // Removes the object's name from the store (gc: no guest links to it).
  sys::Result<void> remove_object(const ObjectId& id, unsigned successor) const;

  // Moves the object to STORE/quarantine/<fanout><name>.<8 hex digits> and
  // returns its new path. Only the store's name moves: the guests linked to
  // it keep their files.
  sys::Result<std::string> quarantine(const ObjectId& id, unsigned successor) const;

  // syncfs(): makes every object written so far durable.
  sys::Result<void> sync() const;

private:
  Store() = default;

  // Whether open() makes the fan-out directories (a new store) or finds them.
  enum class Fanout : std::uint8_t { find, make };

  // The steps of open().
  bool check_format(bool create) const;
  void check_foreign() const;
  void open_layout(Fanout fanout);

  [[nodiscard]] std::string fanout_path(unsigned fanout) const;
  // Calls `fn(fanout, name, inode)` for each entry the index functions
  // take (see object_inodes()).
  void for_each_indexed(const std::function<void(unsigned, const char*, ino_t)>& fn) const;

  std::string m_path;
  sys::Fd m_fd;
  struct stat m_st = {};
  sys::Fd m_tmp;
  sys::Fd m_quarantine;
  std::array<sys::Fd, 256> m_fanout;
};

}  // namespace pkgunify
