/* What all policy mappers of a process share: the policy, the machine view, the decision log,
 * InstanceLimit slots, and the sharding functor of each mapping function. */
#pragma once

#include <map>
#include <memory>
#include <string>

#include "decision_log.h"
#include "instance_limits.h"
#include "machine_view.h"
#include "policy.h"

namespace hpcmap {

struct SharedState {
  SharedState(Policy p, Legion::Machine machine) : policy(std::move(p)), machine(machine) {}

  Policy policy;
  MachineView machine;
  DecisionLog log;
  InstanceLimits limits;
  std::map<std::string, Legion::ShardingID> sharding;  // mapping function -> functor
};

}  // namespace hpcmap
