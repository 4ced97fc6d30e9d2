/* map_task: variant, target processors and an instance per region argument, following the
 * Region and Layout statements; regions no statement covers are mapped as DefaultMapper maps them. */
#include <algorithm>

#include "decision_log.h"
#include "kinds.h"
#include "layout.h"
#include "policy_mapper.h"
#include "task_view.h"

namespace hpcmap {

using namespace Legion;
using namespace Legion::Mapping;

bool PolicyMapper::task_has_region_rules(const std::string &name) const
{
  for (const RegionRule &r : policy_.ir().regions)
    if (task_matches(r.task, name)) return true;
  for (const LayoutRule &r : policy_.ir().layouts)
    if (task_matches(r.task, name)) return true;
  return false;
}

void PolicyMapper::map_task(MapperContext ctx, const Task &task, const MapTaskInput &input, MapTaskOutput &output)
{
  const std::string name = task.get_task_name();
  std::vector<int> rule_lines(task.regions.size(), 0);
  if (!task_has_region_rules(name)) {
    DefaultMapper::map_task(ctx, task, input, output);
  } else {
    Processor::Kind kind = task.target_proc.kind();
    if (!has_variant(ctx, task.task_id, kind)) {
      const TaskRule *rule = policy_.task_rule(name);
      fail(rule ? rule->line : 0, "task '" + name + "' has no " + proc_word(kind) + " variant");
    }
    VariantInfo info = default_find_preferred_variant(task, ctx, true /*needs tight bound*/, true, kind);
    output.chosen_variant = info.variant;
    output.task_priority = default_policy_select_task_priority(ctx, task);
    default_policy_select_target_processors(ctx, task, output.target_procs);
    map_regions(ctx, task, input, output, info, rule_lines);
    output.output_targets.resize(task.output_regions.size());
    output.output_constraints.resize(task.output_regions.size());
    for (unsigned i = 0; i < task.output_regions.size(); i++) {
      output.output_targets[i] = default_policy_select_output_target(ctx, task.target_proc);
      default_policy_select_output_constraints(task, output.output_constraints[i], task.output_regions[i]);
    }
  }
  // A mapping function pins the task to its processor; a set lets the runtime pick any of it.
  if (const TaskListRule *map = map_rule(task)) {
    bool is_set = false;
    std::vector<Processor> procs = placement(ctx, task, *map, task.index_point, &is_set);
    if (is_set && std::find(procs.begin(), procs.end(), task.target_proc) != procs.end()) output.target_procs = procs;
    else output.target_procs.assign(1, task.target_proc);
  }
  // CollectMemory: read-only arguments stay untracked once the task ends.
  if (!policy_.ir().collect.empty())
    for (unsigned idx = 0; idx < task.regions.size(); idx++)
      if (task.regions[idx].privilege == LEGION_READ_ONLY &&
          policy_.collect_rule(name, region_arg(ctx, task.regions[idx], idx)))
        output.untracked_valid_regions.insert(idx);
  // InstanceLimit: the completion report frees the task's slot.
  if (policy_.instance_limit(name))
    output.task_prof_requests.add_measurement<Realm::ProfilingMeasurements::OperationStatus>();
  if (state_->log.enabled()) log_map_task(ctx, task, output, rule_lines);
}

void PolicyMapper::map_regions(MapperContext ctx, const Task &task, const MapTaskInput &input,
                               MapTaskOutput &output, const VariantInfo &variant, std::vector<int> &rule_lines)
{
  const std::string name = task.get_task_name();
  const char *kind = proc_word(task.target_proc.kind());
  if (output.chosen_instances.size() < task.regions.size()) output.chosen_instances.resize(task.regions.size());
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
    if (const RegionRule *rule = policy_.region_rule(name, arg, kind)) {
      rule_lines[idx] = rule->line;
      if (!map_region_by_rule(ctx, task, idx, arg, rule, !variant.is_leaf, chosen)) {
        std::string kinds;
        for (const std::string &m : rule->memories) kinds += (kinds.empty() ? "" : ",") + m;
        auto [node, index] = state_->machine.coords(task.target_proc);
        fail(rule->line, "no memory of kind " + kinds + " can hold region " + std::to_string(idx) + " of task '" +
                             name + "' on " + kind + " processor (" + std::to_string(node) + ", " +
                             std::to_string(index) + ")");
      }
      continue;
    }
    Memory memory = default_policy_select_target_memory(ctx, task.target_proc, req,
                                                        find_memory_constraint(ctx, task, variant.variant, idx));
    if (req.privilege != LEGION_REDUCE) {
      if (const LayoutRule *layout = policy_.layout_rule(name, arg, kind, mem_word(memory.kind()))) {
        rule_lines[idx] = layout->line;
        if (!make_instance(ctx, task, idx, arg, memory, chosen))
          fail(layout->line, "cannot make an instance of region " + std::to_string(idx) + " of task '" + name +
                                 "' with this layout in " + mem_word(memory.kind()));
        continue;
      }
    }
    // No statement covers this region: DefaultMapper's own way.
    std::set<FieldID> fields(req.privilege_fields.begin(), req.privilege_fields.end());
    const TaskLayoutConstraintSet &layouts = runtime->find_task_layout_constraints(ctx, task.task_id, variant.variant);
    if (!default_create_custom_instances(ctx, task.target_proc, memory, req, idx, fields, layouts, true, chosen))
      default_report_failed_instance_creation(task, idx, task.target_proc, memory);
  }
}

bool PolicyMapper::map_region_by_rule(MapperContext ctx, const Task &task, unsigned index, const RegionArg &arg,
                                      const RegionRule *rule, bool inner, std::vector<PhysicalInstance> &out)
{
  const RegionRequirement &req = task.regions[index];
  for (const std::string &word : rule->memories) {
    if (word == "VIRTUAL") {
      if (!inner) continue;  // a leaf variant needs a real instance
      out.push_back(PhysicalInstance::get_virtual_instance());
      return true;
    }
    Memory memory = state_->machine.best_memory(task.target_proc, mem_kind(word));
    if (!memory.exists()) continue;
    if (req.privilege == LEGION_REDUCE) {  // reduction instances: DefaultMapper's making, our memory
      std::set<FieldID> fields(req.privilege_fields.begin(), req.privilege_fields.end());
      VariantInfo info = default_find_preferred_variant(task, ctx, true, true, task.target_proc.kind());
      const TaskLayoutConstraintSet &layouts = runtime->find_task_layout_constraints(ctx, task.task_id, info.variant);
      if (default_create_custom_instances(ctx, task.target_proc, memory, req, index, fields, layouts, true, out))
        return true;
    } else if (make_instance(ctx, task, index, arg, memory, out)) {
      return true;
    }
    out.clear();
  }
  return false;
}

bool PolicyMapper::make_instance(MapperContext ctx, const Task &task, unsigned index, const RegionArg &arg,
                                 Memory memory, std::vector<PhysicalInstance> &out)
{
  const RegionRequirement &req = task.regions[index];
  LayoutConstraintSet cs;
  default_policy_select_constraints(ctx, cs, memory, req);
  if (cs.field_constraint.field_set.empty())
    cs.field_constraint = FieldConstraint(req.privilege_fields, false, false);
  bool exact = false;
  if (const LayoutRule *rule = policy_.layout_rule(task.get_task_name(), arg, proc_word(task.target_proc.kind()),
                                                   mem_word(memory.kind()))) {
    apply_layout(*rule, req.region.get_index_space().get_dim(), cs);
    exact = rule->exact;
  }
  LogicalRegion target =
      exact ? req.region : default_policy_select_instance_region(ctx, memory, req, cs, false /*force new*/, true);
  std::vector<LogicalRegion> regions(1, target);
  PhysicalInstance instance;
  bool created = false;
  if (!runtime->find_or_create_physical_instance(ctx, memory, cs, regions, instance, created, true /*acquire*/,
                                                 0 /*GC priority*/, exact /*tight bounds*/))
    return false;
  out.push_back(instance);
  return true;
}

void PolicyMapper::log_map_task(MapperContext ctx, const Task &task, const MapTaskOutput &output,
                                const std::vector<int> &rule_lines)
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
    } else {
      line += ", \"memory\": null";
    }
    line += ", \"untracked\": " + std::string(output.untracked_valid_regions.count(idx) ? "true" : "false");
    line += ", \"rule\": " + std::to_string(rule_lines[idx]) + "}";
  }
  state_->log.write(line + "]}");
}

}  // namespace hpcmap
