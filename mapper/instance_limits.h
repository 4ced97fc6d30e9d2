/* InstanceLimit bookkeeping shared by the mappers of one process (one node): how many tasks of
 * each name are mapped and not finished, which launches they belong to, and which processors wait
 * for a slot.
 *
 * Legion maps the points of one index launch together (they meet before map_task when they share
 * a region), so a limit below a launch's point count on a node would hold some points back while
 * the admitted ones wait for them: a deadlock. Slots are therefore granted per launch: once a point
 * of a launch holds a slot, the other points of that launch are admitted too. A launch earlier in
 * its parent's program order than one already admitted is admitted as well, so a launch only ever
 * waits for earlier ones and the waits cannot form a cycle, across nodes either. */
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "legion.h"

namespace hpcmap {

/* A launch as every node sees it: the operation's index in its parent's context, then the
 * parent task's unique id. */
using LaunchKey = std::pair<size_t, Legion::UniqueID>;

class InstanceLimits {
public:
  /* Takes a slot for task `id` (of `launch`) of `name` when fewer than `limit` are in flight, when
   * its launch already holds a slot, or when a later launch does; otherwise `self` is woken by the
   * next finish(). `*in_flight` gets the count after a slot is newly taken (0 when the task already
   * held one or none was given). */
  bool try_start(const std::string &name, const LaunchKey &launch, Legion::UniqueID id, int64_t limit,
                 Legion::Processor self, int64_t *in_flight);
  /* Frees the slot of task `id` (no-op when it holds none, then `*in_flight` is -1; else the count
   * left); returns the processors to wake. */
  std::vector<Legion::Processor> finish(Legion::UniqueID id, int64_t *in_flight);

private:
  struct Slots {
    int64_t in_flight = 0;
    std::map<LaunchKey, int64_t> launches;  // launches with slots held, and how many each
  };
  struct Holder {
    std::string name;
    LaunchKey launch;
  };
  std::mutex mutex_;
  std::map<std::string, Slots> slots_;
  std::map<Legion::UniqueID, Holder> holders_;
  std::set<Legion::Processor> waiting_;
};

}  // namespace hpcmap
