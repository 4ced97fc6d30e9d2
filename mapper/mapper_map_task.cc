/* map_task: variant, target processors and an instance per region argument, following the
 * Region and Layout statements; what no statement covers is mapped as DefaultMapper maps it.
 * Mappings are cached and reused while their instances live, as DefaultMapper does. */
#include <algorithm>

#include "decision_log.h"
#include "kinds.h"
#include "layout.h"
#include "policy_mapper.h"
#include "task_view.h"

namespace hpcmap {

using namespace Legion;
using namespace Legion::Mapping;

void PolicyMapper::map_task(MapperContext ctx, const Task &task, const MapTaskInput &input, MapTaskOutput &output)
{
  const TaskFacts &f = facts(task);
  std::vector<RegionChoice> choices(task.regions.size());
  bool cached = false;
  if (f.region_rules) cached = map_task_by_policy(ctx, task, input, output, choices);
  else DefaultMapper::map_task(ctx, task, input, output);
  // A mapping function pins the task to its processor; a set lets the runtime pick any of it.
  if (const TaskListRule *map = map_rule(ctx, task)) {
    bool is_set = false;
    std::vector<Processor> procs = placement(ctx, task, *map, task.index_point, &is_set);
    if (is_set && std::find(procs.begin(), procs.end(), task.target_proc) != procs.end()) output.target_procs = procs;
    else output.target_procs.assign(1, task.target_proc);
  }
  // CollectMemory: read-only arguments stay untracked once the task ends.
  if (!policy_.ir().collect.empty())
    for (unsigned idx = 0; idx < task.regions.size(); idx++)
      if (task.regions[idx].privilege == LEGION_READ_ONLY &&
          policy_.collect_rule(f.name, region_arg(ctx, task.regions[idx], idx)))
        output.untracked_valid_regions.insert(idx);
  // InstanceLimit: the completion report frees the task's slot.
  if (f.limit) output.task_prof_requests.add_measurement<Realm::ProfilingMeasurements::OperationStatus>();
  if (state_->log.enabled()) log_map_task(ctx, task, output, choices, cached);
}

bool PolicyMapper::map_task_by_policy(MapperContext ctx, const Task &task, const MapTaskInput &input,
                                      MapTaskOutput &output, std::vector<RegionChoice> &choices)
{
  Processor::Kind kind = task.target_proc.kind();
  if (!has_variant(ctx, task.task_id, kind)) {
    const TaskRule *rule = policy_.task_rule(facts(task).name);
    fail(rule ? rule->line : 0, "task '" + facts(task).name + "' has no " + proc_word(kind) + " variant");
  }
  VariantInfo variant;
  if (input.shard_processor.exists()) {  // a shard of a replicated task: its processor and variant are given
    variant.variant = input.shard_variant;
    variant.is_inner = runtime->is_inner_variant(ctx, task.task_id, input.shard_variant);
    variant.is_leaf = runtime->is_leaf_variant(ctx, task.task_id, input.shard_variant);
    output.target_procs.assign(1, input.shard_processor);
  } else {
    variant = default_find_preferred_variant(task, ctx, true /*needs tight bound*/, true, kind);
    default_policy_select_target_processors(ctx, task, output.target_procs);
  }
  output.chosen_variant = variant.variant;
  output.task_priority = default_policy_select_task_priority(ctx, task);
  output.output_targets.resize(task.output_regions.size());
  output.output_constraints.resize(task.output_regions.size());
  for (unsigned i = 0; i < task.output_regions.size(); i++) {
    output.output_targets[i] = default_policy_select_output_target(ctx, task.target_proc);
    default_policy_select_output_constraints(task, output.output_constraints[i], task.output_regions[i]);
  }

  const std::pair<TaskID, Processor> key(task.task_id, task.target_proc);
  const unsigned long long hash = compute_task_hash(task);
  std::vector<CachedMapping> &cached = mapping_cache_[key];
  for (size_t k = 0; k < cached.size(); k++) {
    if (cached[k].hash != hash || cached[k].variant != variant.variant) continue;
    output.chosen_instances = cached[k].instances;
    choices = cached[k].choices;
    // Still usable when every instance can be acquired; otherwise map afresh.
    if (runtime->acquire_and_filter_instances(ctx, output.chosen_instances)) return true;
    std::vector<CachedMapping> &again = mapping_cache_[key];  // the runtime call may have run other mapper calls
    again.erase(std::remove_if(again.begin(), again.end(),
                               [&](const CachedMapping &m) { return m.hash == hash && m.variant == variant.variant; }),
                again.end());
    output.chosen_instances.clear();
    choices.assign(task.regions.size(), RegionChoice());
    break;
  }
  map_regions(ctx, task, input, output, variant, choices);
  for (const auto &list : output.chosen_instances)
    for (const PhysicalInstance &inst : list)
      if (inst.is_virtual_instance()) return false;  // DefaultMapper does not cache those either
  mapping_cache_[key].push_back({hash, variant.variant, output.chosen_instances, choices});
  return false;
}

void PolicyMapper::map_regions(MapperContext ctx, const Task &task, const MapTaskInput &input,
                               MapTaskOutput &output, const VariantInfo &variant, std::vector<RegionChoice> &choices)
{
  const std::string &name = facts(task).name;
  const char *kind = proc_word(task.target_proc.kind());
  if (output.chosen_instances.size() < task.regions.size()) output.chosen_instances.resize(task.regions.size());
  // DefaultMapper maps every region of an inner variant virtually unless a coherence is relaxed.
  bool inner_virtual = variant.is_inner;
  for (const RegionRequirement &req : task.regions) inner_virtual = inner_virtual && req.prop == LEGION_EXCLUSIVE;
  for (unsigned idx = 0; idx < task.regions.size(); idx++) {
    const RegionRequirement &req = task.regions[idx];
    std::vector<PhysicalInstance> &chosen = output.chosen_instances[idx];
    if (std::find(input.premapped_regions.begin(), input.premapped_regions.end(), idx) !=
        input.premapped_regions.end())
      continue;
    if (req.privilege == LEGION_NO_ACCESS || req.privilege_fields.empty()) continue;
    if (req.is_restricted()) {
      chosen = input.valid_instances[idx];
      continue;
    }
    RegionArg arg = region_arg(ctx, req, idx);
    std::vector<ChainLink> chain = policy_.region_chain(name, arg, kind);
    if (!chain.empty() && map_region_by_chain(ctx, task, idx, arg, chain, variant, chosen, choices[idx])) continue;
    // No statement covers this region, or no memory of its chain exists or fits: DefaultMapper's
    // memory (a Layout statement for that memory still applies).
    chosen.clear();
    choices[idx].fallback = !chain.empty();
    if (inner_virtual || (req.privilege == LEGION_REDUCE && !variant.is_leaf)) {
      chosen.push_back(PhysicalInstance::get_virtual_instance());  // as DefaultMapper does
      continue;
    }
    Memory memory = default_policy_select_target_memory(ctx, task.target_proc, req,
                                                        find_memory_constraint(ctx, task, variant.variant, idx));
    if (!make_instance(ctx, task, idx, arg, memory, variant, chosen, choices[idx]))
      default_report_failed_instance_creation(task, idx, task.target_proc, memory);
  }
}

bool PolicyMapper::map_region_by_chain(MapperContext ctx, const Task &task, unsigned index, const RegionArg &arg,
                                       const std::vector<ChainLink> &chain, const VariantInfo &variant,
                                       std::vector<PhysicalInstance> &out, RegionChoice &choice)
{
  for (const ChainLink &link : chain) {
    if (link.memory == "VIRTUAL") {
      if (variant.is_leaf) continue;  // a leaf variant needs a real instance
      out.assign(1, PhysicalInstance::get_virtual_instance());
      choice.line = link.line;
      return true;
    }
    Memory memory = state_->machine.best_memory(task.target_proc, mem_kind(link.memory));
    if (!memory.exists()) continue;
    out.clear();
    if (make_instance(ctx, task, index, arg, memory, variant, out, choice)) {
      choice.line = link.line;
      return true;
    }
    choice.layout_line = 0;
  }
  out.clear();
  return false;
}

bool PolicyMapper::make_instance(MapperContext ctx, const Task &task, unsigned index, const RegionArg &arg,
                                 Memory memory, const VariantInfo &variant, std::vector<PhysicalInstance> &out,
                                 RegionChoice &choice)
{
  const RegionRequirement &req = task.regions[index];
  const LayoutRule *rule =
      policy_.layout_rule(facts(task).name, arg, proc_word(task.target_proc.kind()), mem_word(memory.kind()));
  const int dims = req.region.get_index_space().get_dim();
  LayoutConstraintSet cs;
  if (rule) {
    choice.layout_line = rule->line;
    default_policy_select_constraints(ctx, cs, memory, req);
    if (restates_default(*rule, dims, cs)) rule = nullptr;  // then make what DefaultMapper makes
  }
  if (!rule) {  // DefaultMapper's own making, in this memory (its reuse of instances included)
    std::set<FieldID> fields(req.privilege_fields.begin(), req.privilege_fields.end());
    const TaskLayoutConstraintSet &layouts = runtime->find_task_layout_constraints(ctx, task.task_id, variant.variant);
    return default_create_custom_instances(ctx, task.target_proc, memory, req, index, fields, layouts,
                                           true /*check fields*/, out);
  }
  if (cs.field_constraint.field_set.empty()) cs.field_constraint = FieldConstraint(req.privilege_fields, false, false);
  apply_layout(*rule, dims, cs);
  const bool reduction = req.privilege == LEGION_REDUCE;  // a fresh instance per reduction, as DefaultMapper makes
  PhysicalInstance instance;
  if (!default_make_instance(ctx, memory, cs, instance, TASK_MAPPING, reduction /*force new*/, true /*meets*/, req))
    return false;
  out.push_back(instance);
  return true;
}

void PolicyMapper::log_map_task(MapperContext ctx, const Task &task, const MapTaskOutput &output,
                                const std::vector<RegionChoice> &choices, bool cached)
{
  auto [node, index] = state_->machine.coords(task.target_proc);
  Tuple p = task.is_index_space ? point_tuple(task.index_point) : Tuple{0};
  std::string line = "{\"call\": \"map_task\", \"task\": " + json_string(task.get_task_name()) +
                     ", \"point\": " + json_ints(std::vector<long long>(p.begin(), p.end())) +
                     ", \"node\": " + std::to_string(node) + ", \"proc\": " + std::to_string(index) +
                     ", \"kind\": \"" + proc_word(task.target_proc.kind()) + "\", \"procs\": [";
  for (size_t k = 0; k < output.target_procs.size(); k++) {
    auto c = state_->machine.coords(output.target_procs[k]);
    line += (k ? ", [" : "[") + std::to_string(c.first) + ", " + std::to_string(c.second) + "]";
  }
  line += "], \"variant\": " + json_string(runtime->find_task_variant_name(ctx, task.task_id, output.chosen_variant));
  line += ", \"uid\": " + std::to_string(task.get_unique_id()) + ", \"cached\": " + (cached ? "true" : "false");
  line += ", \"regions\": [";
  for (unsigned idx = 0; idx < task.regions.size(); idx++) {
    RegionArg arg = region_arg(ctx, task.regions[idx], idx);
    std::string names;
    for (const std::string &n : arg.names) names += (names.empty() ? "" : ", ") + json_string(n);
    line += std::string(idx ? ", " : "") + "{\"index\": " + std::to_string(idx) + ", \"names\": [" + names + "]";
    const std::vector<PhysicalInstance> *chosen =
        idx < output.chosen_instances.size() ? &output.chosen_instances[idx] : nullptr;
    if (chosen && !chosen->empty()) {
      const PhysicalInstance &inst = chosen->front();
      if (inst.is_virtual_instance()) {
        line += ", \"memory\": \"VIRTUAL\"";
      } else {
        Memory m = inst.get_location();
        const LayoutConstraintSet &cs = runtime->find_layout_constraints(ctx, inst.get_layout_id());
        line += ", \"memory\": \"" + std::string(mem_word(m.kind())) + "\", \"mem_node\": " +
                std::to_string(m.address_space()) + ", \"layout\": \"" + describe_layout(cs) + "\"";
      }
      line += ", \"instances\": " + std::to_string(chosen->size());
    } else {
      line += ", \"memory\": null";
    }
    line += ", \"untracked\": " + std::string(output.untracked_valid_regions.count(idx) ? "true" : "false");
    line += ", \"rule\": " + std::to_string(choices[idx].line);
    line += ", \"layout_rule\": " + std::to_string(choices[idx].layout_line);
    line += ", \"fallback\": " + std::string(choices[idx].fallback ? "true" : "false") + "}";
  }
  state_->log.write(line + "]}");
}

}  // namespace hpcmap
