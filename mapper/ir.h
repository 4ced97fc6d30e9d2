/* The policy IR (hpcmap/dsl/IR.md, version 1) as C++ structures: statements, functions, expressions. */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "json.h"

namespace hpcmap {

/* An expression node. Operands live in `kids`:
 * UNARY: operand; BINARY: left, right; COND: cond, then, else; ATTR: obj; METHOD: obj, args...;
 * CALL: args...; INDEX: obj, items... (item kinds in `items`); SLICE: obj, lo, hi (present per has_lo/has_hi);
 * TUPLE: items...; TUPLE_FOR: iter, body; UNPACK (`*t`, an item of TUPLE or CALL): the tuple;
 * KIND: the word in `name`; HAS: obj, index (present per has_lo). */
struct Node {
  enum Op { INT, BOOL, LOCAL, GLOBAL, TUPLE, UNARY, BINARY, COND, ATTR, METHOD, CALL, MACHINE, INDEX, SLICE, TUPLE_FOR,
            KIND, UNPACK, HAS };
  enum Item { EXPR, SPLAT, ALL };
  Op op = INT;
  int line = 0;
  int64_t value = 0;  // INT, BOOL
  int slot = 0;       // LOCAL, GLOBAL (index), TUPLE_FOR
  std::string name;   // operator, attribute, method, function, kind; HAS: the memory kind
  std::vector<Node> kids;
  std::vector<Item> items;
  bool has_lo = false, has_hi = false;
};

struct Stmt {
  enum Op { ASSIGN, RETURN, PRINT } op = ASSIGN;
  int line = 0;
  int slot = 0;
  Node expr;
  std::string format;
  std::vector<Node> args;
};

struct Function {
  std::string name;
  int line = 0;
  size_t nparams = 0, nslots = 0;
  std::vector<Stmt> body;
};

struct Global {
  std::string name;
  Node expr;
  size_t nslots = 0;
  int line = 0;
};

struct TopPrint {
  std::string format;
  std::vector<Node> args;
  size_t nslots = 0;
  int line = 0;
};

/* A region field: `*`, a semantic name, or a 0-based index. */
struct RegionKey {
  enum Kind { ANY, NAME, INDEX } kind = ANY;
  std::string name;
  int64_t index = 0;
};

struct Rule {  // what every statement entry carries
  int line = 0, order = 0, rank = 0;
};

struct TaskRule : Rule {
  std::string task;
  std::vector<std::string> kinds;
};

struct RegionRule : Rule {
  std::string task, processor;
  RegionKey region;
  std::vector<std::string> memories;
};

struct Alignment {
  std::string op;
  int64_t bytes = 0;
};

struct LayoutRule : Rule {
  std::string task, target, target_class;
  RegionKey region;
  std::string field_order, dim_order;  // "" when unset; "SOA"/"AOS", "C"/"F"
  std::vector<Alignment> align;
  bool compact = false, exact = false;
};

struct LimitRule : Rule {
  std::string task;
  int64_t limit = 0;
};

struct CollectRule : Rule {
  std::string task;
  RegionKey region;
};

struct TaskListRule : Rule {  // IndexTaskMap, SingleTaskMap, ControlReplicate, TaskSteal
  std::vector<std::string> tasks;
  std::string function, scope;
};

struct Ir {
  std::string source;
  std::vector<TaskRule> tasks;
  std::vector<RegionRule> regions;
  std::vector<LayoutRule> layouts;
  std::vector<LimitRule> instance_limits;
  std::vector<CollectRule> collect;
  std::vector<TaskListRule> index_maps, single_maps, control_replicate, task_steal;
  std::vector<Global> globals;
  std::vector<Function> functions;
  std::vector<TopPrint> prints;

  const Function *function(const std::string &name) const;
};

/* Reads a policy document; throws std::runtime_error with one sentence. */
Ir read_ir(const Json &doc);

}  // namespace hpcmap
