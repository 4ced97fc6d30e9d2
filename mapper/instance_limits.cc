/* Slots of InstanceLimit. */
#include "instance_limits.h"

namespace hpcmap {

bool InstanceLimits::try_start(const std::string &name, const LaunchKey &launch, Legion::UniqueID id, int64_t limit,
                               Legion::Processor self, int64_t *in_flight)
{
  std::lock_guard<std::mutex> lock(mutex_);
  *in_flight = 0;
  if (holders_.count(id)) return true;
  Slots &slots = slots_[name];
  const bool admitted = slots.in_flight < limit || slots.launches.count(launch) ||
                        (!slots.launches.empty() && launch < slots.launches.rbegin()->first);
  if (!admitted) {
    waiting_.insert(self);  // under the lock, so a slot freed right now still wakes `self`
    return false;
  }
  *in_flight = ++slots.in_flight;
  slots.launches[launch]++;
  holders_[id] = Holder{name, launch};
  return true;
}

std::vector<Legion::Processor> InstanceLimits::finish(Legion::UniqueID id, int64_t *in_flight)
{
  std::lock_guard<std::mutex> lock(mutex_);
  *in_flight = -1;
  auto it = holders_.find(id);
  if (it == holders_.end()) return {};
  Slots &slots = slots_[it->second.name];
  *in_flight = --slots.in_flight;
  if (--slots.launches[it->second.launch] == 0) slots.launches.erase(it->second.launch);
  holders_.erase(it);
  std::vector<Legion::Processor> wake(waiting_.begin(), waiting_.end());
  waiting_.clear();
  return wake;
}

}  // namespace hpcmap
