/* PolicyMapper: construction, task options, replication, sharding and memoization. */
#include "policy_mapper.h"

#include "kinds.h"

namespace hpcmap {

using namespace Legion;
using namespace Legion::Mapping;

PolicyMapper::PolicyMapper(MapperRuntime *rt, Machine machine, Processor local, std::shared_ptr<SharedState> state)
    : DefaultMapper(rt, machine, local, "hpcmap_policy_mapper"), state_(std::move(state)), policy_(state_->policy),
      evaluator_(policy_.ir(), state_->machine.shape(local.address_space()))
{
}

void PolicyMapper::select_task_options(MapperContext ctx, const Task &task, TaskOptions &output)
{
  DefaultMapper::select_task_options(ctx, task, output);
  const TaskFacts &f = facts(task);
  const TaskListRule *map = map_rule(ctx, task);
  if (map && !task.is_index_space) {
    // SingleTaskMap: the task starts on (and is mapped by) the processor the function returns.
    output.initial_proc = placement(ctx, task, *map, task.index_point)[0];
  } else if (map) {
    output.initial_proc = local_proc;  // slice_task places the points
  } else {
    Processor::Kind kind = rule_kind(ctx, task);
    if (kind != Processor::NO_KIND && output.initial_proc.kind() != kind) output.initial_proc = local_proc_of(kind);
  }
  if (f.replicate) output.replicate = true;
  if (f.steal) output.stealable = true;
  if (f.limit) {
    output.map_locally = false;  // select_tasks_to_map must see it
    // Points checked for collective regions wait for each other before they map: a limit below the
    // launch's points would keep the admitted ones waiting for those held back, forever.
    output.check_collective_regions.clear();
  }
}

void PolicyMapper::replicate_task(MapperContext ctx, const Task &task, const ReplicateTaskInput &input,
                                  ReplicateTaskOutput &output)
{
  DefaultMapper::replicate_task(ctx, task, input, output);
}

void PolicyMapper::select_sharding_functor(MapperContext ctx, const Task &task,
                                           const SelectShardingFunctorInput &input,
                                           SelectShardingFunctorOutput &output)
{
  const TaskListRule *map = task.is_index_space ? map_rule(ctx, task) : nullptr;
  auto it = map ? state_->sharding.find(map->function) : state_->sharding.end();
  if (it == state_->sharding.end()) {
    DefaultMapper::select_sharding_functor(ctx, task, input, output);
    return;
  }
  output.chosen_functor = it->second;
  output.slice_recurse = false;
}

void PolicyMapper::memoize_operation(MapperContext ctx, const Mappable &mappable, const MemoizeInput &input,
                                     MemoizeOutput &output)
{
  DefaultMapper::memoize_operation(ctx, mappable, input, output);
  // A replayed trace skips select_tasks_to_map, so InstanceLimit could not hold: no memoization.
  if (const Task *task = mappable.as_task())
    if (facts(*task).limit) output.memoize = false;
}

}  // namespace hpcmap
