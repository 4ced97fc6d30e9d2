/* Which statement of the policy applies to a case: the most specific one, and among equally
 * specific ones the first in the file (the language's published meaning). */
#pragma once

#include <set>
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

/* One memory of a Region fallback chain and the line of the statement that listed it. */
struct ChainLink {
  std::string memory;
  int line = 0;
};

class Policy {
public:
  explicit Policy(Ir ir) : ir_(std::move(ir)) {}

  const Ir &ir() const { return ir_; }
  const std::string &source() const { return ir_.source; }

  const TaskRule *task_rule(const std::string &task) const;
  /* The memories of every Region statement that matches, most specific statement first (and among
   * equally specific ones, file order), each memory once: the fallback chain of the region. */
  std::vector<ChainLink> region_chain(const std::string &task, const RegionArg &region,
                                      const std::string &proc_kind) const;
  bool has_region_rules(const std::string &task) const;
  const LayoutRule *layout_rule(const std::string &task, const RegionArg &region, const std::string &proc_kind,
                                const std::string &mem_kind) const;
  const LimitRule *instance_limit(const std::string &task) const;
  const CollectRule *collect_rule(const std::string &task, const RegionArg &region) const;
  /* The mapping statement of a task that runs on processors of `kind` (a kind word): the first
   * naming the task, else the first naming the kind, else the first for `*`. */
  const TaskListRule *index_map(const std::string &task, const std::string &kind) const
  {
    return first(ir_.index_maps, task, kind);
  }
  const TaskListRule *single_map(const std::string &task, const std::string &kind) const
  {
    return first(ir_.single_maps, task, kind);
  }
  const TaskListRule *replicate(const std::string &task) const { return first(ir_.control_replicate, task, ""); }
  const TaskListRule *steal(const std::string &task) const { return first(ir_.task_steal, task, ""); }

  /* The processor kinds whose machine spaces `function` may build, through the globals it reads
   * and the functions it calls (policy_kinds.cc). */
  std::set<std::string> machine_kinds(const std::string &function) const;
  /* Leaves out a mapping statement that cannot apply on this machine (see hpcmap_mapper.cc). */
  void disable(const TaskListRule &rule) { disabled_.insert(rule.order); }
  bool applies(const TaskListRule &rule) const { return !disabled_.count(rule.order); }

private:
  Ir ir_;
  std::set<int> disabled_;  // `order` of statements left out

  const TaskListRule *first(const std::vector<TaskListRule> &rules, const std::string &task,
                            const std::string &kind) const;
};

bool task_matches(const std::string &field, const std::string &task);
bool region_matches(const RegionKey &key, const RegionArg &region);

}  // namespace hpcmap
