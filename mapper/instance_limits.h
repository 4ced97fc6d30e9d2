/* InstanceLimit bookkeeping shared by the mappers of one process (one node): how many tasks of
 * each name are mapped and not finished, and which processors wait for a slot. */
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "legion.h"

namespace hpcmap {

class InstanceLimits {
public:
  /* Takes a slot for task `id` of `name` when fewer than `limit` are in flight; otherwise
   * `self` is woken by the next finish(). `*in_flight` gets the count after a slot is newly taken
   * (0 when the task already held one or none was free). */
  bool try_start(const std::string &name, Legion::UniqueID id, int64_t limit, Legion::Processor self,
                 int64_t *in_flight);
  /* Frees the slot of task `id` (no-op when it holds none, then `*in_flight` is -1; else the count
   * left); returns the processors to wake. */
  std::vector<Legion::Processor> finish(Legion::UniqueID id, int64_t *in_flight);

private:
  std::mutex mutex_;
  std::map<std::string, int64_t> in_flight_;
  std::map<Legion::UniqueID, std::string> holders_;
  std::set<Legion::Processor> waiting_;
};

}  // namespace hpcmap
