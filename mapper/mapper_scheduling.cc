/* Scheduling: InstanceLimit backpressure (select_tasks_to_map, completion reports, wake-up
 * messages between the mappers of a node) and TaskSteal. */
#include "decision_log.h"
#include "policy_mapper.h"

namespace hpcmap {

using namespace Legion;
using namespace Legion::Mapping;

namespace {

constexpr unsigned kWakeMessage = 0x4850434d;  // "HPCM": an InstanceLimit slot was freed

/* Decision-log line of a slot taken or freed, with the count in flight after it. */
std::string limit_line(const char *call, const Task &task, int64_t in_flight)
{
  return std::string("{\"call\": \"") + call + "\", \"task\": " + json_string(task.get_task_name()) +
         ", \"uid\": " + std::to_string(task.get_unique_id()) + ", \"launch\": " +
         std::to_string(task.get_context_index()) + ", \"in_flight\": " + std::to_string(in_flight) + "}";
}

}  // namespace

/* InstanceLimit holds back only tasks that cannot launch subtasks (every variant of the kind they
 * run on is a leaf): an inner task holding a slot while its subtasks wait for slots could wait
 * forever, and the instances the limit is about are those of the leaves. */
bool PolicyMapper::leaf_only(MapperContext ctx, const Task &task)
{
  std::vector<VariantID> variants;
  runtime->find_valid_variants(ctx, task.task_id, variants, task.target_proc.kind());
  for (VariantID v : variants)
    if (!runtime->is_leaf_variant(ctx, task.task_id, v)) return false;
  return true;
}

void PolicyMapper::select_tasks_to_map(MapperContext ctx, const SelectMappingInput &input,
                                       SelectMappingOutput &output)
{
  if (policy_.ir().instance_limits.empty()) {
    DefaultMapper::select_tasks_to_map(ctx, input, output);
    return;
  }
  const uint64_t frees = state_->limits.frees();
  bool blocked = false;
  for (const Task *task : input.ready_tasks) {
    const LimitRule *limit = facts(*task).limit;
    auto note = [&](int64_t in_flight) {
      if (state_->log.enabled()) state_->log.write(limit_line("limit_start", *task, in_flight));
    };
    if (!limit || !leaf_only(ctx, *task)) {
      output.map_tasks.insert(task);
    } else if (state_->limits.try_start(facts(*task).name, task->get_unique_id(), std::max<int64_t>(limit->limit, 1),
                                        local_proc, note)) {
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
    // A slot freed since this call began may have sent its wake-up while runtime calls here let
    // other calls of this mapper run, before the event existed: then ask again at once.
    if (state_->limits.frees() != frees) {
      waiting_for_slot_ = false;
      runtime->trigger_mapper_event(ctx, limit_event_);
    }
  }
}

void PolicyMapper::report_profiling(MapperContext ctx, const Task &task, const TaskProfilingInfo &input)
{
  if (!facts(task).limit) {
    DefaultMapper::report_profiling(ctx, task, input);
    return;
  }
  std::vector<Processor> wake = state_->limits.finish(task.get_unique_id(), [&](int64_t in_flight) {
    if (state_->log.enabled()) state_->log.write(limit_line("limit_finish", task, in_flight));
  });
  for (Processor p : wake) {
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
    const TaskListRule *rule = facts(*task).steal;
    if (!rule) continue;
    if (rule->scope == "ANY_NODE" || input.thief_proc.address_space() == node_id) output.stolen_tasks.insert(task);
  }
}

}  // namespace hpcmap
