// SPDX-License-Identifier: GPL-2.0-or-later
// The unification engine behind `pkgunify scan` (and, later, `pkg` and the
// package-manager hooks): finds candidate files in guest roots, hashes each
// once, and replaces it atomically by a hard link to its store object.
//
// Per file (docs/design.md has the full story; ARCHITECTURE.md says which
// file and function does each step):
//   1. walk: lstat only; a file whose inode already is a store object is
//      recognised here and never read;
//   2. worker threads (--jobs), in inode order: open beneath the root, read
//      the content once while hashing it with the metadata (and, for a new
//      object, copying it into an unnamed temporary file in the store), check
//      the file did not change while it was read;
//   3. one committer: syncfs before publishing new objects, publish them,
//      then link the object to a temporary name next to the guest file,
//      exchange it with the file (renameat2 RENAME_EXCHANGE), verify the file
//      that was swapped out is the one that was hashed and still unchanged,
//      and remove it -- or swap back. The guest path never disappears.
#pragma once

#include "engine/candidate.hpp"
#include "engine/packages.hpp"
#include "engine/policy.hpp"
#include "guest/protection.hpp"
#include "store/store.hpp"
#include "sys/reporter.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pkgunify {

struct ScanStats
{
  std::uint64_t files_seen = 0;                  // regular files found (outside pruned trees)
  std::uint64_t candidates = 0;                  // files the policy admits
  std::uint64_t linked = 0;                      // replaced by a link to their object
  std::uint64_t already_linked = 0;              // were links to their object already
  std::uint64_t objects_created = 0;             // new store objects
  std::uint64_t bytes_read = 0;                  // content bytes read and hashed
  std::uint64_t bytes_copied = 0;                // content bytes copied into the store as new
                                                 // objects (not adopted inodes)
  std::int64_t bytes_saved = 0;                  // disk bytes freed, less new objects
  std::uint64_t leftovers_cleaned = 0;           // temporary names of an interrupted run
  std::uint64_t protection_fixed = 0;            // linked files whose protection was set
                                                 // (or lifted) to match the link mode
  std::uint64_t errors = 0;                      // files that failed (each reported)
  std::map<std::string, std::uint64_t> skipped;  // reason -> count
  // How the run kept its memory bounded: the batches of candidates it ran
  // through the pipeline and the largest of them (ScanOptions::batch_size
  // bounds it: at most twice that).
  std::uint64_t batches = 0;
  std::uint64_t largest_batch = 0;
  // The store's index (every object's inode) as far as the run read it:
  // the entries read, 0 when it never needed them (see
  // ScanOptions::eager_index_bytes).
  std::uint64_t store_index_entries = 0;
};

// Candidates a scan collects before it hashes and links them: what bounds
// its memory (about 100 bytes a candidate), not the size of the trees.
inline constexpr std::size_t k_default_batch_size = 65536;

// A store index (the entries of its fan-out directories) up to this size is
// read the first time a file of several links is met: about 100,000
// objects on ext4, about a second cold (measured: 250,000 objects, 2.6 s;
// docs/benchmarks.md).
inline constexpr std::uint64_t k_eager_index_bytes = 8u << 20;

// Hashing threads by default: one per core, and at least 4, since a cold
// disk (or a loop device) serves a few reads in flight much faster than one
// (measured: 6 guests of 10,000 files, 2 cores, first scan 8.3-8.9 s with 2
// threads, 6.9-7.4 s with 4; docs/benchmarks.md).
unsigned default_scan_jobs();

struct ScanOptions
{
  Policy policy = default_policy();
  bool dry_run = false;
  unsigned jobs = 0;  // 0: default_scan_jobs()
  // The resolved link mode (resolve_link_mode); never auto_select.
  LinkMode link = LinkMode::hardlink;
  // The vserver kernel interface; null: the real syscall. Tests pass a fake.
  VserverKernel* vserver = nullptr;
  // Called now and then, from one thread at a time (the walk's); `total` is
  // what the walk has found so far.
  std::function<void(const ScanStats&, std::uint64_t done, std::uint64_t total)> progress;
  // Candidates collected before they are run: a batch of files of one link
  // runs once it holds this many at the end of a directory (at twice this
  // many within one). Files of several links wait in a batch of their own
  // until their other names are found, as long as it has room. 0: the
  // default.
  std::size_t batch_size = 0;
  // A file of several links is known to be a link to its object already,
  // and is then neither read nor kept, by its inode among those of the
  // store's objects: an index read from every fan-out directory's entries
  // (Store::index_bytes()). A larger index than this is read only once the
  // run's files of several links would have cost as much to read: until
  // then each is read and hashed, and its link step finds it linked. So a
  // hook's run of a few files against a store of millions of objects reads
  // none of its hundreds of MB. A file already protected (immutable) makes
  // the index be read at once: it is no file to read and hash but either a
  // store object or someone else's. Tests set this lower.
  std::uint64_t eager_index_bytes = k_eager_index_bytes;
};

class Unifier
{
public:
  Unifier(const Store& store, ScanOptions options, Reporter& reporter);
  ~Unifier();
  Unifier(const Unifier&) = delete;
  Unifier& operator=(const Unifier&) = delete;

  // Adds a guest root. Throws ConfigError when it is no directory or not on
  // the store's filesystem. `filter`: what the root's package database says
  // (config files are never candidates); null when the root has none.
  std::size_t add_root(const std::string& path, std::shared_ptr<const PackageFilter> filter = {});

  // Walks the root and queues every candidate; runs the batches that fill
  // up meanwhile (hashes and links their files).
  void add_tree(std::size_t root);

  // The same for several roots, walked together by k_walk_threads
  // threads (a batch runs while no other thread hands the scan anything).
  void add_trees(const std::vector<std::size_t>& roots);

  // Queues one file; `path` is absolute within the root. The policy applies.
  // Runs a batch that fills up.
  void add_file(std::size_t root, const std::string& path);

  // Processes everything still queued, then cleans the leftovers of
  // interrupted runs. Call once.
  ScanStats run();

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace pkgunify
