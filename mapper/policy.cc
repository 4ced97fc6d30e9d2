/* Rule selection: the matching entry with the greatest rank, then the smallest order. */
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

bool more_specific(const Rule &a, const Rule &b) { return a.rank > b.rank || (a.rank == b.rank && a.order < b.order); }

template <typename R, typename Match>
const R *best(const std::vector<R> &rules, Match match)
{
  const R *winner = nullptr;
  for (const R &r : rules)
    if (match(r) && (!winner || more_specific(r, *winner))) winner = &r;
  return winner;
}

bool region_rule_matches(const RegionRule &r, const std::string &task, const RegionArg &region,
                         const std::string &proc_kind)
{
  return task_matches(r.task, task) && region_matches(r.region, region) &&
         (r.processor == "*" || r.processor == proc_kind);
}

}  // namespace

const TaskRule *Policy::task_rule(const std::string &task) const
{
  return best(ir_.tasks, [&](const TaskRule &r) { return task_matches(r.task, task); });
}

std::vector<ChainLink> Policy::region_chain(const std::string &task, const RegionArg &region,
                                            const std::string &proc_kind) const
{
  std::vector<const RegionRule *> matching;
  for (const RegionRule &r : ir_.regions)
    if (region_rule_matches(r, task, region, proc_kind)) matching.push_back(&r);
  std::sort(matching.begin(), matching.end(),
            [](const RegionRule *a, const RegionRule *b) { return more_specific(*a, *b); });
  std::vector<ChainLink> chain;
  for (const RegionRule *r : matching)
    for (const std::string &m : r->memories)
      if (std::none_of(chain.begin(), chain.end(), [&](const ChainLink &l) { return l.memory == m; }))
        chain.push_back({m, r->line});
  return chain;
}

bool Policy::has_region_rules(const std::string &task) const
{
  for (const RegionRule &r : ir_.regions)
    if (task_matches(r.task, task)) return true;
  for (const LayoutRule &r : ir_.layouts)
    if (task_matches(r.task, task)) return true;
  return false;
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
    if (r.task == task && (!winner || r.order < winner->order)) winner = &r;
  return winner;
}

const CollectRule *Policy::collect_rule(const std::string &task, const RegionArg &region) const
{
  return best(ir_.collect, [&](const CollectRule &r) {
    return task_matches(r.task, task) && region_matches(r.region, region);
  });
}

const TaskListRule *Policy::first(const std::vector<TaskListRule> &rules, const std::string &task,
                                  const std::string &kind) const
{
  // Rank of a list entry: the task's own name (2) beats its processor kind (1), which beats `*` (0).
  auto rank = [&](const std::string &t) { return t == task ? 2 : !kind.empty() && t == kind ? 1 : t == "*" ? 0 : -1; };
  const TaskListRule *winner = nullptr;
  int winner_rank = -1;
  for (const TaskListRule &r : rules) {
    if (!applies(r)) continue;
    for (const std::string &t : r.tasks) {
      int k = rank(t);
      if (k > winner_rank || (k == winner_rank && k >= 0 && r.order < winner->order)) {
        winner = &r;
        winner_rank = k;
      }
    }
  }
  return winner;
}

}  // namespace hpcmap
