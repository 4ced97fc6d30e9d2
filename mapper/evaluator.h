/* Interpreter of the policy language's functions and globals (IR.md sections 3-5).
 * One instance per mapper: it caches globals and is not thread-safe. */
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ir.h"
#include "value.h"

namespace hpcmap {

/* What evaluation needs of the machine: nodes, processors of each kind per node, and the memory
 * kinds that processors of each kind have affinity to (`.has(MEM)`). */
struct MachineShape {
  int64_t nodes = 1;
  std::map<std::string, int64_t> procs;               // "CPU" -> per-node count
  std::map<std::string, std::set<std::string>> sees;  // "GPU" -> {"FBMEM", "ZCMEM"}
  int64_t count(const std::string &kind) const
  {
    auto it = procs.find(kind);
    return it == procs.end() ? 0 : it->second;
  }
};

class Evaluator {
public:
  Evaluator(const Ir &ir, MachineShape machine) : ir_(ir), machine_(std::move(machine)), globals_(ir.globals.size()) {}

  /* Runs the top-level print statements, in order. Throws MappingError. */
  void run_prints();
  /* Calls mapping function `fname` on `task`; the result is a PROC or PROCSET value. Throws MappingError. */
  Value map(const std::string &fname, std::shared_ptr<const TaskView> task);

private:
  const Ir &ir_;
  MachineShape machine_;
  std::vector<std::optional<Value>> globals_;

  Value call(const std::string &name, std::vector<Value> args, int line);
  const Value &global(int index);
  Value eval(const Node &n, std::vector<Value> &frame);
  [[gnu::noinline]] Value binary(const Node &n, std::vector<Value> &frame);
  [[gnu::noinline]] Value compound(const Node &n, std::vector<Value> &frame);
  [[gnu::noinline, noreturn]] void too_deep(const Node &n);
  [[gnu::noinline]] void combine(const Node &n, Value &a, const Value &b);
  Value combined(const Node &n, Value a, Value b);
  std::vector<Value> values(const std::vector<Node> &items, size_t from, std::vector<Value> &frame);
  bool has(const Node &n, std::vector<Value> &frame);
  int depth_ = 0;
  int64_t arith(const Node &n, const std::string &op, int64_t a, int64_t b);
  Value attr(const Node &n, const Value &v);
  Value method(const Node &n, const Value &obj, const std::vector<Value> &args);
  Value index(const Node &n, const Value &obj, std::vector<Value> &frame);
  Value slice(const Node &n, const Value &obj, std::vector<Value> &frame);
  std::string print_text(const std::string &format, const std::vector<Node> &args, std::vector<Value> &frame);

  [[noreturn]] void fail(const Node &n, const std::string &message);
  int64_t want_int(const Node &n, const Value &v, const std::string &what);
  bool truth(const Node &n, const Value &v);
};

}  // namespace hpcmap
