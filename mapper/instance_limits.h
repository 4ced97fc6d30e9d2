/* InstanceLimit bookkeeping shared by the mappers of one process (one node): how many tasks of
 * each name are mapped and not finished, and which processors wait for a slot. */
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "legion.h"

namespace hpcmap {

class InstanceLimits {
public:
  /* Called with the count in flight after a slot is taken or freed, under the lock, so the
   * decision log records slots in the order they changed. */
  using Note = std::function<void(int64_t in_flight)>;

  /* Takes a slot for task `id` of `name` when fewer than `limit` are in flight (then `note` runs,
   * unless the task already held one); otherwise `self` is woken by the next finish(). */
  bool try_start(const std::string &name, Legion::UniqueID id, int64_t limit, Legion::Processor self,
                 const Note &note);
  /* Frees the slot of task `id` (no-op when it holds none; else `note` runs); returns the
   * processors to wake. */
  std::vector<Legion::Processor> finish(Legion::UniqueID id, const Note &note);
  /* How many slots have been freed so far: a mapper that saw a slot full compares it after making
   * its deferral event, since a wake-up sent in between (its calls are reentrant) found no event. */
  uint64_t frees();

private:
  std::mutex mutex_;
  std::map<std::string, int64_t> in_flight_;
  std::map<Legion::UniqueID, std::string> holders_;
  std::set<Legion::Processor> waiting_;
  uint64_t frees_ = 0;
};

}  // namespace hpcmap
