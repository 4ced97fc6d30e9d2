/* slice_task: each point of an index launch goes to the processor its mapping function returns;
 * with only a Task statement, DefaultMapper's blocking over the processors of the chosen kind. */
#include "decision_log.h"
#include "kinds.h"
#include "policy_mapper.h"
#include "task_view.h"

namespace hpcmap {

using namespace Legion;
using namespace Legion::Mapping;

namespace {

std::string placement_line(const Task &task, const DomainPoint &point, const std::vector<Processor> &procs,
                           const MachineView &machine, bool is_set)
{
  auto [node, index] = machine.coords(procs[0]);
  Tuple p = point_tuple(point);
  std::string line = "{\"call\": \"slice_task\", \"task\": " + json_string(task.get_task_name()) +
                     ", \"point\": " + json_ints(std::vector<long long>(p.begin(), p.end())) +
                     ", \"node\": " + std::to_string(node) + ", \"proc\": " + std::to_string(index) +
                     ", \"kind\": \"" + proc_word(procs[0].kind()) + "\"";
  if (is_set) {
    line += ", \"set\": [";
    for (size_t k = 0; k < procs.size(); k++) {
      auto c = machine.coords(procs[k]);
      line += (k ? ", [" : "[") + std::to_string(c.first) + ", " + std::to_string(c.second) + "]";
    }
    line += "]";
  }
  return line + "}";
}

}  // namespace

void PolicyMapper::slice_task(MapperContext ctx, const Task &task, const SliceTaskInput &input,
                              SliceTaskOutput &output)
{
  const TaskListRule *map = map_rule(ctx, task);
  if (!map) {
    Processor::Kind kind = rule_kind(ctx, task);
    if (kind == Processor::NO_KIND) {
      DefaultMapper::slice_task(ctx, task, input, output);
      return;
    }
    default_slice_task(task, local_procs_by_kind(kind), remote_procs_by_kind(kind), input, output,
                       slice_cache_[kind]);
    return;
  }
  // One slice per point, on the first processor of its placement (map_task widens it to a set).
  bool stealable = facts(task).steal != nullptr;
  for (Domain::DomainPointIterator it(input.domain); it; it++) {
    bool is_set = false;
    std::vector<Processor> procs = placement(ctx, task, *map, *it, &is_set);
    output.slices.push_back(TaskSlice(Domain(*it, *it), procs[0], false /*recurse*/, stealable));
    if (state_->log.enabled()) state_->log.write(placement_line(task, *it, procs, state_->machine, is_set));
  }
}

}  // namespace hpcmap
