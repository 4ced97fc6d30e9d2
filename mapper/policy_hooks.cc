/* Policy hooks: what the policy decides for a task (kind, placement, region names). */
#include <cstring>

#include "kinds.h"
#include "mapping_error.h"
#include "policy_mapper.h"
#include "task_view.h"

namespace hpcmap {

using namespace Legion;
using namespace Legion::Mapping;

void PolicyMapper::fail(int line, const std::string &message) const { die(policy_.source(), line, message); }

const PolicyMapper::TaskFacts &PolicyMapper::facts(const Task &task)
{
  auto hit = facts_.find(task.task_id);
  if (hit != facts_.end()) return hit->second;
  TaskFacts f;
  f.name = task.get_task_name();
  f.region_rules = policy_.has_region_rules(f.name);
  f.replicate = policy_.replicate(f.name);
  f.steal = policy_.steal(f.name);
  f.limit = policy_.instance_limit(f.name);
  return facts_[task.task_id] = f;
}

bool PolicyMapper::has_variant(MapperContext ctx, TaskID id, Processor::Kind kind)
{
  auto key = std::make_pair(id, kind);
  auto hit = variant_cache_.find(key);
  if (hit != variant_cache_.end()) return hit->second;
  std::vector<VariantID> variants;
  runtime->find_valid_variants(ctx, id, variants, kind);
  return variant_cache_[key] = !variants.empty();
}

Processor::Kind PolicyMapper::rule_kind(MapperContext ctx, const Task &task)
{
  auto hit = kind_cache_.find(task.task_id);
  if (hit != kind_cache_.end()) return hit->second;
  Processor::Kind chosen = Processor::NO_KIND;
  if (const TaskRule *rule = policy_.task_rule(task.get_task_name()))
    for (const std::string &word : rule->kinds) {
      Processor::Kind kind = proc_kind(word);
      if (!state_->machine.procs(kind, node_id).empty() && has_variant(ctx, task.task_id, kind)) {
        chosen = kind;
        break;
      }
    }
  // No listed kind works here: DefaultMapper decides, as for a task no statement covers.
  return kind_cache_[task.task_id] = chosen;
}

Processor::Kind PolicyMapper::run_kind(MapperContext ctx, const Task &task)
{
  Processor::Kind kind = rule_kind(ctx, task);
  if (kind != Processor::NO_KIND) return kind;
  return default_find_preferred_variant(task, ctx, false /*needs tight bound*/, true /*cache*/, Processor::NO_KIND)
      .proc_kind;
}

const TaskListRule *PolicyMapper::map_rule(MapperContext ctx, const Task &task)
{
  facts(task);
  TaskFacts &f = facts_.at(task.task_id);
  if (!f.maps_known) {
    const std::string kind = proc_word(run_kind(ctx, task));
    f.index_map = policy_.index_map(f.name, kind);
    f.single_map = policy_.single_map(f.name, kind);
    f.maps_known = true;
  }
  return task.is_index_space ? f.index_map : f.single_map;
}

std::vector<Processor> PolicyMapper::placement(MapperContext ctx, const Task &task, const TaskListRule &rule,
                                               const DomainPoint &point, bool *is_set)
{
  const Tuple ipoint = task.is_index_space ? point_tuple(point) : Tuple{0};
  const Tuple ispace = task.is_index_space ? extents_tuple(task.index_domain) : Tuple{1};
  std::vector<long long> key{(long long)task.task_id};
  key.insert(key.end(), ispace.begin(), ispace.end());
  key.push_back(-1);
  key.insert(key.end(), ipoint.begin(), ipoint.end());
  if (const Task *parent = task.parent_task) {  // the function may read task.parent and its processor
    Tuple p = point_tuple(parent->index_point);
    Tuple extents = parent->is_index_space ? extents_tuple(parent->index_domain) : Tuple{1};
    key.push_back(-2);
    key.insert(key.end(), p.begin(), p.end());
    key.push_back(-3);
    key.insert(key.end(), extents.begin(), extents.end());
    key.push_back((long long)parent->current_proc.id);
  }
  auto hit = placement_cache_.find(key);
  if (hit != placement_cache_.end()) {
    if (is_set) *is_set = hit->second.second;
    return hit->second.first;
  }

  auto view = std::make_shared<TaskView>();
  view->ipoint = ipoint;
  view->ispace = ispace;
  std::tie(view->node, view->proc) = state_->machine.coords(local_proc);
  if (const Task *parent = task.parent_task) {
    auto p = std::make_shared<TaskView>();
    if (parent->is_index_space) {
      p->ipoint = point_tuple(parent->index_point);
      p->ispace = extents_tuple(parent->index_domain);
    }
    std::tie(p->node, p->proc) = state_->machine.coords(parent->current_proc);
    view->parent = p;
  }
  Value v;
  try {
    v = evaluator_.map(rule.function, view);
  } catch (const MappingError &e) {
    fail(e.line, e.what());
  }
  std::vector<Processor> procs;
  for (const Proc &p : v.procs) {
    if (p.node != v.procs[0].node) continue;  // a set runs on the node of its first element
    Processor proc = state_->machine.proc(proc_kind(p.kind), p.node, p.index);
    if (!proc.exists())
      fail(rule.line, rule.function + " returned processor (" + std::to_string(p.node) + ", " +
                          std::to_string(p.index) + ") of kind " + p.kind + ", which this machine lacks");
    procs.push_back(proc);
  }
  Processor::Kind kind = procs[0].kind();
  if (!has_variant(ctx, task.task_id, kind))
    fail(rule.line, std::string("task '") + task.get_task_name() + "' has no " + proc_word(kind) + " variant, but " +
                        rule.function + " maps it to a " + proc_word(kind) + " processor");
  if (is_set) *is_set = v.kind == Value::PROCSET;
  placement_cache_[key] = {procs, v.kind == Value::PROCSET};
  return procs;
}

RegionArg PolicyMapper::region_arg(MapperContext ctx, const RegionRequirement &req, unsigned index)
{
  RegionArg arg;
  arg.index = index;
  LogicalRegion region = req.region;
  auto hit = name_cache_.find(region);
  if (hit != name_cache_.end()) {
    arg.names = hit->second;
    return arg;
  }
  const void *name = nullptr;
  size_t size = 0;
  if (runtime->retrieve_semantic_information(ctx, region, LEGION_NAME_SEMANTIC_TAG, name, size, true, false) && name)
    arg.names.push_back((const char *)name);
  if (runtime->has_parent_logical_partition(ctx, region)) {
    LogicalPartition part = runtime->get_parent_logical_partition(ctx, region);
    if (runtime->retrieve_semantic_information(ctx, part, LEGION_NAME_SEMANTIC_TAG, name, size, true, false) && name)
      arg.names.push_back((const char *)name);
  }
  name_cache_[region] = arg.names;
  return arg;
}

Processor PolicyMapper::local_proc_of(Processor::Kind kind)
{
  if (kind == local_kind) return local_proc;
  switch (kind) {
    case Processor::LOC_PROC: return default_get_next_local_cpu();
    case Processor::TOC_PROC: return default_get_next_local_gpu();
    case Processor::IO_PROC: return default_get_next_local_io();
    case Processor::OMP_PROC: return default_get_next_local_omp();
    case Processor::PY_PROC: return default_get_next_local_py();
    case Processor::PROC_SET: return default_get_next_local_procset();
    default: return local_proc;
  }
}

}  // namespace hpcmap
