/* Rule selection: the matching entry with the greatest rank, then the greatest order. */
#include "policy.h"

#include <algorithm>

namespace hpcmap {

bool task_matches(const std::string &field, const std::string &task) { return field == "*" || field == task; }

bool region_matches(const RegionKey &key, const RegionArg &region)
{
  switch (key.kind) {
    case RegionKey::ANY: return true;
    case RegionKey::INDEX: return key.index == (int64_t)region.index;
    case RegionKey::NAME:
      return std::find(region.names.begin(), region.names.end(), key.name) != region.names.end();
  }
  return false;
}

namespace {

template <typename R, typename Match>
const R *best(const std::vector<R> &rules, Match match)
{
  const R *winner = nullptr;
  for (const R &r : rules)
    if (match(r) && (!winner || r.rank > winner->rank || (r.rank == winner->rank && r.order > winner->order)))
      winner = &r;
  return winner;
}

}  // namespace

const TaskRule *Policy::task_rule(const std::string &task) const
{
  return best(ir_.tasks, [&](const TaskRule &r) { return task_matches(r.task, task); });
}

const RegionRule *Policy::region_rule(const std::string &task, const RegionArg &region,
                                      const std::string &proc_kind) const
{
  return best(ir_.regions, [&](const RegionRule &r) {
    return task_matches(r.task, task) && region_matches(r.region, region) &&
           (r.processor == "*" || r.processor == proc_kind);
  });
}

const LayoutRule *Policy::layout_rule(const std::string &task, const RegionArg &region, const std::string &proc_kind,
                                      const std::string &mem_kind) const
{
  return best(ir_.layouts, [&](const LayoutRule &r) {
    if (!task_matches(r.task, task) || !region_matches(r.region, region)) return false;
    if (r.target == "*") return true;
    if (r.target_class == "memory") return r.target == mem_kind;
    if (r.target_class == "processor") return r.target == proc_kind;
    return r.target == proc_kind || r.target == mem_kind;
  });
}

const LimitRule *Policy::instance_limit(const std::string &task) const
{
  const LimitRule *winner = nullptr;
  for (const LimitRule &r : ir_.instance_limits)
    if (r.task == task && (!winner || r.order > winner->order)) winner = &r;
  return winner;
}

const CollectRule *Policy::collect_rule(const std::string &task, const RegionArg &region) const
{
  return best(ir_.collect, [&](const CollectRule &r) {
    return task_matches(r.task, task) && region_matches(r.region, region);
  });
}

const TaskListRule *Policy::latest(const std::vector<TaskListRule> &rules, const std::string &task)
{
  const TaskListRule *winner = nullptr;
  for (const TaskListRule &r : rules)
    if (std::find(r.tasks.begin(), r.tasks.end(), task) != r.tasks.end() && (!winner || r.order > winner->order))
      winner = &r;
  return winner;
}

}  // namespace hpcmap
