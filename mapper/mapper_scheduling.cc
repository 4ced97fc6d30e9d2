/* Scheduling: InstanceLimit backpressure (select_tasks_to_map, completion reports, wake-up
 * messages between the mappers of a node) and TaskSteal. */
#include "policy_mapper.h"

namespace hpcmap {

using namespace Legion;
using namespace Legion::Mapping;

namespace {

constexpr unsigned kWakeMessage = 0x4850434d;  // "HPCM": an InstanceLimit slot was freed

}  // namespace

void PolicyMapper::select_tasks_to_map(MapperContext ctx, const SelectMappingInput &input,
                                       SelectMappingOutput &output)
{
  if (policy_.ir().instance_limits.empty()) {
    DefaultMapper::select_tasks_to_map(ctx, input, output);
    return;
  }
  bool blocked = false;
  for (const Task *task : input.ready_tasks) {
    const LimitRule *limit = policy_.instance_limit(task->get_task_name());
    if (!limit) {
      output.map_tasks.insert(task);
    } else if (state_->limits.try_start(task->get_task_name(), task->get_unique_id(),
                                        std::max<int64_t>(limit->limit, 1), local_proc)) {
      output.map_tasks.insert(task);
    } else {
      blocked = true;
    }
  }
  if (output.map_tasks.empty() && blocked) {
    if (!waiting_for_slot_) {
      limit_event_ = runtime->create_mapper_event(ctx);
      waiting_for_slot_ = true;
    }
    output.deferral_event = limit_event_;
  }
}

void PolicyMapper::report_profiling(MapperContext ctx, const Task &task, const TaskProfilingInfo &input)
{
  if (!policy_.instance_limit(task.get_task_name())) {
    DefaultMapper::report_profiling(ctx, task, input);
    return;
  }
  for (Processor p : state_->limits.finish(task.get_unique_id())) {
    if (p == local_proc) {
      if (waiting_for_slot_) {
        waiting_for_slot_ = false;
        runtime->trigger_mapper_event(ctx, limit_event_);
      }
    } else {
      runtime->send_message(ctx, p, &kWakeMessage, sizeof(kWakeMessage), kWakeMessage);
    }
  }
}

void PolicyMapper::handle_message(MapperContext ctx, const MapperMessage &message)
{
  if (message.kind != kWakeMessage) {
    DefaultMapper::handle_message(ctx, message);
    return;
  }
  if (waiting_for_slot_) {
    waiting_for_slot_ = false;
    runtime->trigger_mapper_event(ctx, limit_event_);
  }
}

void PolicyMapper::select_steal_targets(MapperContext ctx, const SelectStealingInput &input,
                                        SelectStealingOutput &output)
{
  const auto &rules = policy_.ir().task_steal;
  if (rules.empty()) {
    DefaultMapper::select_steal_targets(ctx, input, output);
    return;
  }
  bool any_node = false;
  for (const TaskListRule &r : rules) any_node = any_node || r.scope == "ANY_NODE";
  for (int64_t node = 0; node < state_->machine.nodes(); node++) {
    if (!any_node && node != (int64_t)node_id) continue;
    for (Processor p : state_->machine.procs(local_kind, node))
      if (p != local_proc && !input.blacklist.count(p)) output.targets.insert(p);
  }
}

void PolicyMapper::permit_steal_request(MapperContext ctx, const StealRequestInput &input,
                                        StealRequestOutput &output)
{
  if (policy_.ir().task_steal.empty()) {
    DefaultMapper::permit_steal_request(ctx, input, output);
    return;
  }
  for (const Task *task : input.stealable_tasks) {
    if (output.stolen_tasks.size() >= max_steals_per_theft) break;
    const TaskListRule *rule = policy_.steal(task->get_task_name());
    if (!rule) continue;
    if (rule->scope == "ANY_NODE" || input.thief_proc.address_space() == node_id) output.stolen_tasks.insert(task);
  }
}

}  // namespace hpcmap
