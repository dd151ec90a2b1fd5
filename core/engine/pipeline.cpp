// SPDX-License-Identifier: GPL-2.0-or-later
// The scan pipeline: worker threads prepare candidate groups in inode order
// (LinkStrategy::prepare: read and hash), a bounded queue carries them to
// this thread, which commits them (LinkStrategy::commit: publish and link)
// and hands them to a thread that closes their files (Reaper). New objects
// become durable (one syncfs for many) before anything links to them.
#include "engine/internal/scan_context.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

namespace pkgunify {

unsigned
default_scan_jobs()
{
  return std::max(4u, std::thread::hardware_concurrency());
}

}  // namespace pkgunify

namespace pkgunify::scan {

namespace {

using Group = std::pair<std::size_t, std::size_t>;  // candidate range of one inode

// How many prepared files may hold descriptors at once. Each holds up to
// two (the guest file and the unpublished object): the ones in the queue,
// the batch the committer took, and those waiting for one syncfs. The
// reserve keeps room for the store (its 256 fan-out directories and a few
// more), the roots (a thousand guests hold a thousand), the directory
// cache, the workers' own files and standard streams.
struct Budget
{
  std::size_t queue = 1;    // capacity of the queue between workers and committer
  std::size_t batch = 1;    // what the committer takes at once
  std::size_t durable = 1;  // new objects waiting for one syncfs
  std::size_t reap = 1;     // committed files waiting to be closed (Reaper)
};

Budget
descriptor_budget(unsigned jobs, std::size_t roots)
{
  constexpr std::size_t k_max_items = 8192;
  const std::size_t reserve = 320 + 4 * static_cast<std::size_t>(jobs) + roots;
  std::size_t items = k_max_items;
  struct rlimit rl = {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    const auto limit = static_cast<std::size_t>(rl.rlim_cur);
    items = std::clamp<std::size_t>(limit > reserve ? (limit - reserve) / 2 : 0, 3, k_max_items);
  }
  Budget b;
  b.durable = std::max<std::size_t>(1, std::min<std::size_t>(2048, items / 2));
  b.batch = std::max<std::size_t>(1, std::min<std::size_t>(256, items / 8));
  b.reap = b.batch;
  b.queue = std::max<std::size_t>(1, items > b.durable + b.batch + b.reap ? items - b.durable - b.batch - b.reap : 0);
  return b;
}

// Inode order: reads follow the disk layout, and the paths of one inode
// come together so it is read once.
std::vector<Group>
group_by_inode(std::vector<Candidate>& candidates)
{
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.ino < b.ino; });
  std::vector<Group> groups;
  for (std::size_t i = 0; i < candidates.size();) {
    std::size_t j = i + 1;
    while (j < candidates.size() && candidates[j].ino == candidates[i].ino) {
      ++j;
    }
    groups.emplace_back(i, j);
    i = j;
  }
  return groups;
}

// The queue between the workers and the committer.
class WorkQueue
{
public:
  WorkQueue(std::size_t capacity, std::size_t producers) : m_capacity(capacity), m_producers(producers) {}

  void
  push(std::unique_ptr<Prepared> p)
  {
    std::unique_lock lock(m_mu);
    m_put.wait(lock, [this] { return m_queue.size() < m_capacity; });
    m_queue.push_back(std::move(p));
    m_get.notify_one();
  }

  void
  producer_done()
  {
    std::lock_guard lock(m_mu);
    --m_producers;
    m_get.notify_one();
  }

  // Up to `most` items; empty once every producer is done and all is taken.
  std::vector<std::unique_ptr<Prepared>>
  take(std::size_t most)
  {
    std::vector<std::unique_ptr<Prepared>> out;
    std::unique_lock lock(m_mu);
    m_get.wait(lock, [this] { return !m_queue.empty() || m_producers == 0; });
    while (!m_queue.empty() && out.size() < most) {
      out.push_back(std::move(m_queue.front()));
      m_queue.pop_front();
    }
    m_put.notify_all();
    return out;
  }

private:
  std::mutex m_mu;
  std::condition_variable m_put;
  std::condition_variable m_get;
  std::deque<std::unique_ptr<Prepared>> m_queue;
  std::size_t m_capacity;
  std::size_t m_producers;
};

void
worker(LinkStrategy& strategy, const std::vector<Group>& groups, std::atomic<std::size_t>& next, WorkQueue& queue)
{
  std::vector<char> buffer;
  for (std::size_t i; (i = next.fetch_add(1)) < groups.size();) {
    std::unique_ptr<Prepared> p;
    try {
      p = strategy.prepare(groups[i].first, groups[i].second, buffer);
    } catch (const std::exception& e) {
      p = std::make_unique<Prepared>();
      p->begin = groups[i].first;
      p->end = groups[i].second;
      p->reason = e.what();
    }
    queue.push(std::move(p));
  }
  queue.producer_done();
}

// Closes, on a thread of its own, what the committer is done with. The last
// close of a replaced guest file frees its inode, its blocks and its page
// cache: that took the committer a third of its time (6 guests, first scan:
// 1.5 of its 5 s), while the workers waited for room in the queue.
class Reaper
{
public:
  explicit Reaper(std::size_t capacity) : m_queue(capacity, 1), m_thread([this] { run(); }) {}
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;
  ~Reaper()
  {
    m_queue.producer_done();
    m_thread.join();
  }

  // Waits while `capacity` items are waiting already (each holds
  // descriptors).
  void
  put(std::unique_ptr<Prepared> p)
  {
    m_queue.push(std::move(p));
  }

private:
  void
  run()
  {
    constexpr std::size_t k_all = SIZE_MAX;
    for (auto done = m_queue.take(k_all); !done.empty(); done = m_queue.take(k_all)) {
      done.clear();
    }
  }

  WorkQueue m_queue;
  std::thread m_thread;  // last: started once the queue is ready
};

// This thread's side: commits what the workers prepared.
class Committer
{
public:
  Committer(Context& ctx, LinkStrategy& strategy, std::size_t budget, Reaper& reaper)
    : m_ctx(ctx)
    , m_strategy(strategy)
    , m_budget(budget)
    , m_reaper(reaper)
  {}

  // Files that publish wait in `m_durable` until the budget is reached or
  // the workers are done; files whose object exists (published, so
  // durable) are committed at once.
  void
  take(std::vector<std::unique_ptr<Prepared>>& batch)
  {
    for (auto& p : batch) {
      if (p->outcome == Outcome::ready && p->publishes) {
        m_durable.push_back(std::move(p));
      } else {
        commit(*p);
        m_reaper.put(std::move(p));
      }
    }
    if (m_durable.size() >= m_budget) {
      flush();
    }
    report_progress();
  }

  void
  flush()
  {
    if (m_durable.empty()) {
      return;
    }
    if (!m_ctx.opt.dry_run) {
      if (auto s = m_ctx.store.sync(); !s) {
        m_ctx.reporter.warning(s.error().message);
      }
    }
    // The files that wait for another's object (Prepared::follows) come
    // after the files that publish: in one syncfs's share, each finds its
    // object made.
    std::stable_partition(m_durable.begin(), m_durable.end(), [](const auto& p) { return !p->follows; });
    for (auto& p : m_durable) {
      commit(*p);
      m_reaper.put(std::move(p));
    }
    m_durable.clear();
  }

  // Now and then; the Unifier reports the end of the run.
  void
  report_progress()
  {
    const auto now = std::chrono::steady_clock::now();
    if (now - m_last_progress > std::chrono::milliseconds(200) && m_ctx.opt.progress) {
      m_last_progress = now;
      m_ctx.opt.progress(m_ctx.stats, m_ctx.done, m_ctx.stats.candidates);
    }
  }

private:
  void
  commit(Prepared& p)
  {
    try {
      commit_outcome(p);
    } catch (const std::exception& e) {
      m_ctx.fail(e.what());
    }
    m_ctx.done += p.count();
  }

  void
  commit_outcome(Prepared& p)
  {
    m_ctx.stats.bytes_read += p.bytes_read;
    m_ctx.stats.bytes_copied += p.bytes_copied;
    switch (p.outcome) {
    case Outcome::already:
      m_ctx.stats.already_linked += p.count();
      return;
    case Outcome::fix_protection:
      m_ctx.stats.already_linked += p.count();
      m_strategy.fix_protection(p);
      return;
    case Outcome::skipped:
      m_ctx.skip(p.reason, p.count());
      return;
    case Outcome::failed:
      m_ctx.fail(p.reason, p.count());
      return;
    case Outcome::ready:
      m_strategy.commit(p);
      return;
    }
  }

  Context& m_ctx;
  LinkStrategy& m_strategy;
  std::size_t m_budget;
  Reaper& m_reaper;
  std::vector<std::unique_ptr<Prepared>> m_durable;
  std::chrono::steady_clock::time_point m_last_progress = std::chrono::steady_clock::now();
};

}  // namespace

std::optional<Staging::Claim>
Staging::claim(const ObjectId& id)
{
  std::lock_guard lock(m_mu);
  if (!m_ids.insert(id.digest()).second) {
    return std::nullopt;
  }
  return Claim(this, id.digest());
}

void
Staging::Claim::release()
{
  if (m_owner != nullptr) {
    std::lock_guard lock(m_owner->m_mu);
    m_owner->m_ids.erase(m_id);
    m_owner = nullptr;
  }
}

std::size_t
Staging::DigestHash::operator()(const Digest& d) const noexcept
{
  std::size_t h;  // a digest's bytes are uniform already
  std::memcpy(&h, d.data(), sizeof(h));
  return h;
}

void
LinkStrategy::commit(Prepared& p)
{
  if (m_ctx.opt.dry_run) {
    commit_dry_run(p);
    return;
  }
  auto lock = m_ctx.store.lock_fanout(p.id.fanout(), sys::FileLock::Mode::shared);
  if (!lock) {
    m_ctx.fail(lock.error().message, p.count());
    return;
  }
  commit_locked(p);
}

void
run_pipeline(Context& ctx, LinkStrategy& strategy)
{
  const std::vector<Group> groups = group_by_inode(ctx.candidates);
  unsigned jobs = ctx.opt.jobs ? ctx.opt.jobs : default_scan_jobs();
  jobs = static_cast<unsigned>(std::min<std::size_t>(jobs, std::max<std::size_t>(1, groups.size())));
  // A deep queue lets the workers read on while the committer waits for a
  // syncfs or links a group of files, as deep as the descriptors allow.
  const Budget budget = descriptor_budget(jobs, ctx.roots.size());
  WorkQueue queue(budget.queue, jobs);
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < jobs; ++t) {
    threads.emplace_back([&] { worker(strategy, groups, next, queue); });
  }
  {
    Reaper reaper(budget.reap);
    Committer committer(ctx, strategy, budget.durable, reaper);
    for (auto batch = queue.take(budget.batch); !batch.empty(); batch = queue.take(budget.batch)) {
      committer.take(batch);
    }
    committer.flush();
  }  // every committed file closed
  for (auto& t : threads) {
    t.join();
  }
}

}  // namespace pkgunify::scan
