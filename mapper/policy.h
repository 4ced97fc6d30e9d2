/* Which statement of the policy applies to a case, with the precedence of IR.md section 1. */
#pragma once

#include <string>
#include <vector>

#include "ir.h"

namespace hpcmap {

/* A region argument as rules see it: its index and the semantic names it answers to
 * (the region's own name and its parent partition's name). */
struct RegionArg {
  unsigned index = 0;
  std::vector<std::string> names;
};

class Policy {
public:
  explicit Policy(Ir ir) : ir_(std::move(ir)) {}

  const Ir &ir() const { return ir_; }
  const std::string &source() const { return ir_.source; }

  const TaskRule *task_rule(const std::string &task) const;
  const RegionRule *region_rule(const std::string &task, const RegionArg &region, const std::string &proc_kind) const;
  const LayoutRule *layout_rule(const std::string &task, const RegionArg &region, const std::string &proc_kind,
                                const std::string &mem_kind) const;
  const LimitRule *instance_limit(const std::string &task) const;
  const CollectRule *collect_rule(const std::string &task, const RegionArg &region) const;
  const TaskListRule *index_map(const std::string &task) const { return latest(ir_.index_maps, task); }
  const TaskListRule *single_map(const std::string &task) const { return latest(ir_.single_maps, task); }
  const TaskListRule *replicate(const std::string &task) const { return latest(ir_.control_replicate, task); }
  const TaskListRule *steal(const std::string &task) const { return latest(ir_.task_steal, task); }

private:
  Ir ir_;

  static const TaskListRule *latest(const std::vector<TaskListRule> &rules, const std::string &task);
};

bool task_matches(const std::string &field, const std::string &task);
bool region_matches(const RegionKey &key, const RegionArg &region);

}  // namespace hpcmap
