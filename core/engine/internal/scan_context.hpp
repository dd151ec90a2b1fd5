// SPDX-License-Identifier: GPL-2.0-or-later
// What the parts of a scan share (private to the engine): the roots and
// candidates the walk found, the statistics, and the work item a worker
// hands to the committer. scanner.cpp fills it, pipeline.cpp runs it through
// a LinkStrategy (hardlink_strategy.cpp or reflink_strategy.cpp).
#pragma once

#include "engine/scanner.hpp"
#include "guest/exchange.hpp"
#include "sys/fd.hpp"
#include "sys/lock.hpp"

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace pkgunify::scan {

struct Root
{
  std::string path;
  sys::Fd fd;
  struct stat st = {};
  std::shared_ptr<const PackageFilter> filter;
};

// One path the walk found that the policy admits.
struct Candidate
{
  std::uint32_t root;
  std::uint32_t dir;  // in the directories of its batch
  std::string name;
  ino_t ino;
  std::uint64_t size;  // what it takes on disk (sys::counted_size): its size, less when sparse
  nlink_t nlink;
  bool immutable;  // STATX_ATTR_IMMUTABLE when walked
};

// A temporary name of an interrupted run (guest/temp_name.hpp).
struct Leftover
{
  std::uint32_t root;
  std::uint32_t dir;  // in the directories of its batch
  std::string name;
};

// What the walk collects until it is run (scanner.cpp: Collector): the
// candidates (or leftovers) and the directories they name, so that memory
// is bounded by the batch, not by the trees.
struct Batch
{
  std::vector<std::string> dirs;
  std::unordered_map<std::string, std::uint32_t> dir_index;
  std::vector<Candidate> candidates;
  std::vector<Leftover> leftovers;

  std::uint32_t intern_dir(const std::string& dir);
  void clear();
};

enum class Outcome { ready, already, fix_protection, skipped, failed };

// The new objects whose copy a worker is making (staged, not yet
// published), by id. A file of the same content prepared meanwhile waits
// for that object instead of making a second copy of it: the guests' copies
// of one file often come close together, in one batch. As large as the work
// in flight.
class Staging
{
public:
  // A hold on making one object, given back when it is destroyed (its work
  // item committed: published or not).
  class Claim
  {
  public:
    Claim() = default;
    Claim(Staging* owner, const Digest& id) : m_owner(owner), m_id(id) {}
    Claim(Claim&& o) noexcept : m_owner(std::exchange(o.m_owner, nullptr)), m_id(o.m_id) {}
    Claim&
    operator=(Claim&& o) noexcept
    {
      if (this != &o) {
        release();
        m_owner = std::exchange(o.m_owner, nullptr);
        m_id = o.m_id;
      }
      return *this;
    }
    Claim(const Claim&) = delete;
    Claim& operator=(const Claim&) = delete;
    ~Claim() { release(); }

  private:
    void release();

    Staging* m_owner = nullptr;
    Digest m_id{};
  };

  // The claim on making object `id`; empty when another work item holds it.
  std::optional<Claim> claim(const ObjectId& id);

private:
  struct DigestHash
  {
    std::size_t operator()(const Digest& d) const noexcept;
  };

  std::mutex m_mu;
  std::unordered_set<Digest, DigestHash> m_ids;
};

// What a worker hands to the committer for one inode (a group of paths).
struct Prepared
{
  std::size_t begin = 0;  // candidate range [begin, end), all the same inode
  std::size_t end = 0;
  Outcome outcome = Outcome::failed;
  std::string reason;   // skip reason or error message
  sys::Fd fd;           // the guest file, open
  struct stat st = {};  // its state when hashed
  FileMeta meta;
  ObjectId id;
  sys::Fd tmp;  // new object content with metadata, unpublished
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_copied = 0;  // written to the store as new object content
  bool was_shared = false;         // reflink: extents were shared before
  bool adopt = false;              // create: adopt may link this very inode into the store
  // Publishes a new object (tmp, or with create: adopt the guest's inode):
  // committed only after a syncfs. False when the object existed when the
  // file was hashed (published objects are durable).
  bool publishes = false;
  // Another work item is making this object (Staging): committed after it,
  // with nothing staged of its own; copied at commit only when that one
  // did not publish.
  bool follows = false;
  Staging::Claim claim;  // this item makes its object (tmp)

  [[nodiscard]] std::size_t
  count() const
  {
    return end - begin;
  }
  void
  skip(std::string why)
  {
    outcome = Outcome::skipped;
    reason = std::move(why);
  }
};

// The scan's shared state. Workers only read it (and the object inodes,
// loaded once); the committer alone changes the statistics and the
// directory cache.
struct Context
{
  Context(const Store& s, ScanOptions o, Reporter& r);

  const Store& store;
  ScanOptions opt;
  Reporter& reporter;
  IdentityKind kind;
  std::unique_ptr<VserverKernel> own_vserver;
  Protector protector;

  std::vector<Root> roots;
  std::unordered_set<ino_t> root_inodes;   // of every root (one filesystem)
  std::unordered_set<ino_t> walked_roots;  // root directories a walk has entered
  // The batch being run (Collector::run_batch moves it here): the pipeline,
  // the strategies and leftovers.cpp index these.
  std::vector<std::string> dirs;
  std::vector<Candidate> candidates;
  std::vector<Leftover> leftovers;
  ScanStats stats;
  std::uint64_t done = 0;  // candidates finished, in all batches

  // Inode numbers of every store object, read once on first use.
  const InodeSet& object_inodes();
  // How many entries object_inodes() read; 0 while it has not been used.
  [[nodiscard]] std::uint64_t index_entries_read() const;

  // Whether the walk's stat of a candidate shows a link to a store object
  // already (hard-link modes): `linked` when its protection matches the
  // mode too, `fix_protection` when it does not; `no` as well while the
  // store's index is not worth reading yet (ScanOptions::eager_index_bytes).
  // Safe from any thread.
  enum class Known : std::uint8_t { no, linked, fix_protection };
  Known known_object(const Candidate& c);
  [[nodiscard]] std::string display(std::uint32_t root, std::uint32_t dir, std::string_view name) const;
  [[nodiscard]] std::string display(const Candidate& c) const;
  // The candidate's path inside its root, without the leading '/'.
  [[nodiscard]] std::string relative(const Candidate& c) const;

  void
  skip(const std::string& reason, std::uint64_t n = 1)
  {
    stats.skipped[reason] += n;
  }
  // One failure: counted and reported.
  void fail(const std::string& message, std::uint64_t n = 1);

  // The committer's descriptor of a candidate's directory, kept open while
  // consecutive candidates share it. The directory's mtime is taken when it
  // is opened and set back when the committer moves on (guest/exchange.hpp:
  // DirTimes): the temporary names of the replacements are no change a
  // backup tool should see.
  sys::Result<int> dir_fd(std::uint32_t root, std::uint32_t dir);
  void close_dir_cache();

private:
  // Whether the index is worth reading for candidate `c` (of several
  // links), counting what reading `c` instead costs.
  bool index_worth_reading(const Candidate& c);

  std::once_flag m_inodes_once;
  InodeSet m_object_inodes;
  std::atomic<bool> m_index_read{false};
  std::once_flag m_index_cost_once;
  std::uint64_t m_index_cost = 0;                // bytes; 0: read it at once
  std::atomic<std::uint64_t> m_instead_cost{0};  // bytes read so far instead
  std::uint32_t m_cached_root = UINT32_MAX;
  std::uint32_t m_cached_dir = UINT32_MAX;
  sys::Fd m_cached_fd;
  std::unique_ptr<DirTimes> m_cached_times;
};

// Opens a candidate beneath its root for hashing (O_NOATIME where allowed)
// and checks it is still the regular file the walk saw and large enough.
// Fills p.meta from it; on any other outcome sets p's outcome and returns an
// invalid descriptor.
sys::Fd open_candidate(Context& ctx, Prepared& p);

// How one link mode turns a prepared group of paths into links (or shared
// extents) of its store object.
class LinkStrategy
{
public:
  virtual ~LinkStrategy() = default;
  // Worker threads: hash the candidate group [begin, end) and make a new
  // object's content ready.
  virtual std::unique_ptr<Prepared> prepare(std::size_t begin, std::size_t end, std::vector<char>& buffer) = 0;
  // The committer: publish and link a group the worker made ready (a dry
  // run counts what that would do), under a shared lock of the object's
  // fan-out directory, so that gc does not remove the object meanwhile.
  void commit(Prepared& p);
  // The committer: a group whose protection does not match the mode.
  virtual void fix_protection(Prepared& p) = 0;

protected:
  explicit LinkStrategy(Context& ctx) : m_ctx(ctx) {}
  virtual void commit_dry_run(Prepared& p) = 0;
  virtual void commit_locked(Prepared& p) = 0;

  Context& m_ctx;
};

std::unique_ptr<LinkStrategy> make_hardlink_strategy(Context& ctx);
std::unique_ptr<LinkStrategy> make_reflink_strategy(Context& ctx);

// Runs every candidate of the batch in ctx.candidates through `strategy`:
// worker threads prepare, this thread commits (pipeline.cpp). Progress is
// reported now and then, not at the end.
void run_pipeline(Context& ctx, LinkStrategy& strategy);

// The store's run lock, held shared while the run may create guest
// temporaries (leftovers.cpp): taken before the first batch is run.
class RunLock
{
public:
  // Takes it, when the store exists and this is no dry run.
  void hold(Context& ctx);
  // Removes the temporary names of interrupted runs in ctx.leftovers, when
  // no other run is active (the shared lock is given up first: this run
  // has no temporaries left at its end).
  void clean_leftovers(Context& ctx);

private:
  sys::Fd m_fd;
  sys::FileLock m_lock;
  bool m_held = false;
};

}  // namespace pkgunify::scan
