/* `-hpcmap:log FILE`: one JSON object per line for every mapping decision, so C++ decisions can
 * be compared with hpcmap.dsl.evaluate point by point. A '%' in FILE becomes the node number.
 * Lines by "call":
 *   "skip":         a mapping statement that does not apply here: statement, line, function, reason.
 *   "slice_task":   a point of an index launch placed by its mapping function: task, point, node,
 *                   proc, kind, and "set" when the function returned a set of processors.
 *   "map_task":     task, point, node, proc, kind, procs (the target processors), variant, uid,
 *                   cached (a cached mapping was reused), and per region: index, names, memory,
 *                   mem_node, layout ("SOA,F" style), instances, untracked, rule (line of the
 *                   Region statement whose memory holds it, 0: none), layout_rule (line of the
 *                   Layout statement, 0: none), fallback (no memory of the Region chain existed or
 *                   fitted, so DefaultMapper chose).
 *   "limit_start", "limit_finish": an InstanceLimit slot taken or freed: task, uid, launch (the
 *                   operation's index in its parent task: the points of one index launch share
 *                   it), in_flight (the count of that task's slots held after it). */
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

namespace hpcmap {

class DecisionLog {
public:
  /* Opens the log (truncating it); a null or empty path means no log. */
  void open(const char *path, int node);
  bool enabled() const { return file_ != nullptr; }
  void write(const std::string &line);

private:
  FILE *file_ = nullptr;
  std::mutex mutex_;
};

/* Helpers that build the JSON text of a line. */
std::string json_string(const std::string &s);
std::string json_ints(const std::vector<long long> &v);

}  // namespace hpcmap
