/* PolicyMapper: Legion's DefaultMapper, overridden where the policy has a statement.
 * One instance per local processor; the decisions themselves live in policy_hooks.cc, the
 * mapper calls (one file per concern) only apply them. */
#pragma once

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "evaluator.h"
#include "legion.h"
#include "mappers/default_mapper.h"
#include "policy.h"
#include "shared_state.h"

namespace hpcmap {

class PolicyMapper : public Legion::Mapping::DefaultMapper {
public:
  PolicyMapper(Legion::Mapping::MapperRuntime *rt, Legion::Machine machine, Legion::Processor local,
               std::shared_ptr<SharedState> state);

  // Task mapping calls
  void select_task_options(Legion::Mapping::MapperContext ctx, const Legion::Task &task,
                           TaskOptions &output) override;
  void slice_task(Legion::Mapping::MapperContext ctx, const Legion::Task &task, const SliceTaskInput &input,
                  SliceTaskOutput &output) override;
  void map_task(Legion::Mapping::MapperContext ctx, const Legion::Task &task, const MapTaskInput &input,
                MapTaskOutput &output) override;
  void replicate_task(Legion::Mapping::MapperContext ctx, const Legion::Task &task,
                      const ReplicateTaskInput &input, ReplicateTaskOutput &output) override;
  void select_sharding_functor(Legion::Mapping::MapperContext ctx, const Legion::Task &task,
                               const SelectShardingFunctorInput &input,
                               SelectShardingFunctorOutput &output) override;
  void report_profiling(Legion::Mapping::MapperContext ctx, const Legion::Task &task,
                        const TaskProfilingInfo &input) override;
  // Memoization (traces)
  void memoize_operation(Legion::Mapping::MapperContext ctx, const Legion::Mappable &mappable,
                         const MemoizeInput &input, MemoizeOutput &output) override;
  // Scheduling and stealing
  void select_tasks_to_map(Legion::Mapping::MapperContext ctx, const SelectMappingInput &input,
                           SelectMappingOutput &output) override;
  void select_steal_targets(Legion::Mapping::MapperContext ctx, const SelectStealingInput &input,
                            SelectStealingOutput &output) override;
  void permit_steal_request(Legion::Mapping::MapperContext ctx, const StealRequestInput &input,
                            StealRequestOutput &output) override;
  void handle_message(Legion::Mapping::MapperContext ctx, const MapperMessage &message) override;

private:
  /* What the policy says about one task, looked up once per task id (map_task and
   * select_task_options run for every point task). */
  struct TaskFacts {
    std::string name;
    bool region_rules = false;  // some Region or Layout statement may cover its regions
    const TaskListRule *replicate = nullptr, *steal = nullptr;
    const LimitRule *limit = nullptr;
    // The IndexTaskMap and SingleTaskMap for its launches, found on the first map_rule call (a
    // statement may name the kind the task runs on, which takes a mapper context to learn).
    bool maps_known = false;
    const TaskListRule *index_map = nullptr, *single_map = nullptr;
  };
  /* How one region argument was mapped, for the decision log: the lines of the Region statement
   * whose memory holds it and of the Layout statement that shaped it (0: none), and whether
   * DefaultMapper chose the memory because no memory of the Region chain exists or fits. */
  struct RegionChoice {
    int line = 0, layout_line = 0;
    bool fallback = false;
  };
  /* A policy mapping kept for reuse, as DefaultMapper keeps its own (keyed by task id and target
   * processor; the region requirements' hash and the variant must match too). */
  struct CachedMapping {
    unsigned long long hash = 0;
    Legion::VariantID variant = 0;
    std::vector<std::vector<Legion::Mapping::PhysicalInstance>> instances;
    std::vector<RegionChoice> choices;
  };

  // ---- policy hooks (policy_hooks.cc): what the policy decides
  const TaskFacts &facts(const Legion::Task &task);
  /* The kind a Task statement picks for this task, or NO_KIND when none applies. */
  Legion::Processor::Kind rule_kind(Legion::Mapping::MapperContext ctx, const Legion::Task &task);
  bool has_variant(Legion::Mapping::MapperContext ctx, Legion::TaskID id, Legion::Processor::Kind kind);
  /* The kind the task runs on: its Task statement's, else the kind DefaultMapper picks. */
  Legion::Processor::Kind run_kind(Legion::Mapping::MapperContext ctx, const Legion::Task &task);
  /* The mapping function for this launch (IndexTaskMap or SingleTaskMap), or null. */
  const TaskListRule *map_rule(Legion::Mapping::MapperContext ctx, const Legion::Task &task);
  /* The processors the mapping function gives `point`: the first is where it goes; `is_set`
   * tells a set (`m[i, *]`) from a single processor. */
  std::vector<Legion::Processor> placement(Legion::Mapping::MapperContext ctx, const Legion::Task &task,
                                           const TaskListRule &rule, const Legion::DomainPoint &point,
                                           bool *is_set = nullptr);
  /* The region argument as statements match it: index and semantic names. */
  RegionArg region_arg(Legion::Mapping::MapperContext ctx, const Legion::RegionRequirement &req, unsigned index);
  /* A local processor of `kind` for a task to start on. */
  Legion::Processor local_proc_of(Legion::Processor::Kind kind);
  [[noreturn]] void fail(int line, const std::string &message) const;
  /* Whether every variant of the kind the task runs on is a leaf (InstanceLimit applies). */
  bool leaf_only(Legion::Mapping::MapperContext ctx, const Legion::Task &task);

  // ---- mechanics (mapper_map_task.cc)
  /* map_task for a task that Region or Layout statements may cover: a cached mapping when one
   * is still valid (then true), else map_regions, whose answer is cached. */
  bool map_task_by_policy(Legion::Mapping::MapperContext ctx, const Legion::Task &task, const MapTaskInput &input,
                          MapTaskOutput &output, std::vector<RegionChoice> &choices);
  void map_regions(Legion::Mapping::MapperContext ctx, const Legion::Task &task, const MapTaskInput &input,
                   MapTaskOutput &output, const VariantInfo &variant, std::vector<RegionChoice> &choices);
  /* The first memory of the Region chain that exists and can hold the region; false when none. */
  bool map_region_by_chain(Legion::Mapping::MapperContext ctx, const Legion::Task &task, unsigned index,
                           const RegionArg &arg, const std::vector<ChainLink> &chain, const VariantInfo &variant,
                           std::vector<Legion::Mapping::PhysicalInstance> &out, RegionChoice &choice);
  /* An instance of the region in `memory`: with the Layout statement's constraints when one applies,
   * else exactly as DefaultMapper makes it (the variant's own layout constraints included). */
  bool make_instance(Legion::Mapping::MapperContext ctx, const Legion::Task &task, unsigned index,
                     const RegionArg &arg, Legion::Memory memory, const VariantInfo &variant,
                     std::vector<Legion::Mapping::PhysicalInstance> &out, RegionChoice &choice);
  void log_map_task(Legion::Mapping::MapperContext ctx, const Legion::Task &task, const MapTaskOutput &output,
                    const std::vector<RegionChoice> &choices, bool cached);

  std::shared_ptr<SharedState> state_;
  const Policy &policy_;
  Evaluator evaluator_;
  std::map<Legion::TaskID, TaskFacts> facts_;
  std::map<Legion::TaskID, Legion::Processor::Kind> kind_cache_;
  std::map<std::pair<Legion::TaskID, Legion::Processor::Kind>, bool> variant_cache_;
  std::map<std::vector<long long>, std::pair<std::vector<Legion::Processor>, bool>> placement_cache_;
  std::map<Legion::LogicalRegion, std::vector<std::string>> name_cache_;
  std::map<Legion::Processor::Kind, std::map<Legion::Domain, std::vector<TaskSlice>>> slice_cache_;
  std::map<std::pair<Legion::TaskID, Legion::Processor>, std::vector<CachedMapping>> mapping_cache_;
  Legion::Mapping::MapperEvent limit_event_;  // triggered when an InstanceLimit slot frees
  bool waiting_for_slot_ = false;
};

}  // namespace hpcmap
